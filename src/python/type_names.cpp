#include "objspy/python/type_names.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace objspy {
namespace {

bool fatal(const Error& e) { return e.code == Errc::target_exited || e.code == Errc::permission_denied || e.code == Errc::internal; }

}  // namespace

Result<TypeName> TypeNamer::name(RemoteAddr type) {
  auto n = read_name(type);
  if (n.ok()) return n;
  if (fatal(n.error())) return n.take_error();
  TypeName bad;
  bad.readable = false;
  bad.name = bad.qualified = fmt::format("<unreadable type {:#x}>", type.value());
  return bad;
}

Result<TypeName> TypeNamer::read_name(RemoteAddr type) {
  const Layout& l = objs_.layout();
  MemoryReader& mem = objs_.memory();
  OBJSPY_ASSIGN(std::uint64_t flags, objs_.type_flags(type));
  TypeName out;
  if (!(flags & kTpFlagsHeapType)) {
    // Static type: __name__ is tp_name after the last '.', __module__ what comes before it
    // ("builtins" when there is no dot).
    OBJSPY_ASSIGN(RemoteAddr tp_name, mem.ptr(type + l.tp_name));
    OBJSPY_ASSIGN(std::string full, mem.c_string(tp_name, kMaxNameChars * 4, &out.truncated));
    std::size_t dot = full.rfind('.');
    if (dot == std::string::npos) {
      out.name = full;
      out.qualified = "builtins." + full;
    } else {
      out.name = full.substr(dot + 1);
      out.qualified = full;
    }
    return out;
  }
  // Heap type: __name__ is the str at ht_name; __module__ the "__module__" entry of tp_dict.
  OBJSPY_ASSIGN(RemoteAddr ht_name, mem.ptr(type + l.ht_name));
  OBJSPY_ASSIGN(out.name, objs_.str(ht_name, kMaxNameChars, &out.truncated));
  out.qualified = out.name;
  OBJSPY_ASSIGN(RemoteAddr dict, mem.ptr(type + l.tp_dict));
  if (dict.null()) return out;
  DictScan scan;
  if (budget_) {
    const CensusLimits& lim = budget_->limits();
    if (budget_->dict_entries >= lim.max_dict_entries_total) {
      budget_->hit(CensusBudget::Kind::dict_entries,
                   fmt::format("more than {} dict entries examined for __module__: the rest of the types are named without their module",
                               lim.max_dict_entries_total));
      return out;
    }
    scan.max_entries = static_cast<std::size_t>(std::min<std::uint64_t>(lim.max_dict_entries, lim.max_dict_entries_total - budget_->dict_entries));
  }
  auto module = objs_.dict_get(dict, "__module__", &scan);
  if (budget_) budget_->dict_entries += scan.examined;
  if (!module.ok()) return module.take_error();
  if (!*module && scan.cut) ++modules_not_found_;
  if (!*module || (*module)->null()) return out;
  bool mod_truncated = false;
  auto text = objs_.str(**module, kMaxNameChars, &mod_truncated);
  if (!text.ok()) {
    if (fatal(text.error())) return text.take_error();
    return out;  // None or another non-str __module__: objgraph prints the name alone for None
  }
  if (!text->empty()) out.qualified = *text + "." + out.name;
  out.truncated = out.truncated || mod_truncated;
  return out;
}

}  // namespace objspy
