#include "objspy/output/pprof.hpp"

#include <zlib.h>

#include <map>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "objspy/core/escape.hpp"
#include "profile.pb.h"

namespace objspy {
namespace {

namespace pp = perftools::profiles;

// Strings go to terminals (go tool pprof -top) and web pages (Pyroscope, Grafana): escaped
// as for a terminal, which also makes them valid UTF-8 as proto3 strings must be.
class Strings {
 public:
  explicit Strings(pp::Profile& p) : p_(p) { index(""); }
  std::int64_t index(const std::string& s) {
    auto [it, added] = ids_.try_emplace(s, static_cast<std::int64_t>(ids_.size()));
    if (added) p_.add_string_table(s);
    return it->second;
  }
  std::int64_t escaped(std::string_view raw) { return index(escape_for_terminal(raw)); }

 private:
  pp::Profile& p_;
  std::map<std::string, std::int64_t> ids_;
};

// The one mapping: the interpreter. Its frames are already names (has_functions), so pprof
// does not try to symbolize addresses that are not there.
constexpr std::uint64_t kMapping = 1;

// A frame named `name` in file `file`: one function and one location each, made once.
class Frames {
 public:
  Frames(pp::Profile& p, Strings& s) : p_(p), s_(s) {}
  std::uint64_t location(std::int64_t name, std::int64_t file) {
    auto [it, added] = ids_.try_emplace({name, file}, ids_.size() + 1);
    if (added) {
      pp::Function* f = p_.add_function();
      f->set_id(it->second);
      f->set_name(name);
      f->set_system_name(name);
      f->set_filename(file);
      pp::Location* l = p_.add_location();
      l->set_id(it->second);
      l->set_mapping_id(kMapping);
      l->add_line()->set_function_id(it->second);
    }
    return it->second;
  }

 private:
  pp::Profile& p_;
  Strings& s_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::uint64_t> ids_;
};

// The module a type's qualified name puts it in ("builtins" for a static type without a
// dot, as type_names.cpp names it); empty when the type has no __module__.
std::string_view module_of(const TypeStat& t) {
  const std::string_view q = t.qualified, n = t.name;
  if (q.size() > n.size() + 1 && q.ends_with(n) && q[q.size() - n.size() - 1] == '.') return q.substr(0, q.size() - n.size() - 1);
  return {};
}

Result<std::string> gzip(const std::string& raw) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer, as pprof files are.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return make_error(Errc::internal, "cannot start gzip compression of the profile");
  std::string out(deflateBound(&z, static_cast<uLong>(raw.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return make_error(Errc::internal, "gzip compression of the profile failed");
  return out;
}

}  // namespace

Result<std::string> render_pprof(const std::vector<const Census*>& censuses, NameForm names) {
  if (censuses.empty()) return make_error(Errc::internal, "no census to write as a profile");
  pp::Profile p;
  Strings s(p);
  Frames frames(p, s);
  bool bytes = true;
  double earliest = censuses.front()->timestamp;
  for (const Census* c : censuses) {
    bytes = bytes && c->measured_bytes;
    earliest = std::min(earliest, c->timestamp);
  }
  auto* objects = p.add_sample_type();
  objects->set_type(s.index("objects"));
  objects->set_unit(s.index("count"));
  if (bytes) {
    auto* space = p.add_sample_type();
    space->set_type(s.index("space"));
    space->set_unit(s.index("bytes"));
  }
  // Counts first: what objgraph's table shows, and what `go tool pprof -top` lists by default.
  p.set_default_sample_type(s.index("objects"));
  p.set_time_nanos(static_cast<std::int64_t>(earliest * 1e9));
  pp::Mapping* m = p.add_mapping();
  m->set_id(kMapping);
  m->set_filename(s.escaped(censuses.front()->python_binary.empty() ? std::string("python") : censuses.front()->python_binary));
  m->set_has_functions(true);
  m->set_has_filenames(true);
  const std::int64_t pid_key = s.index("pid");
  for (const Census* c : censuses) {
    p.add_comment(s.escaped(fmt::format("objspy census of pid {}: Python {}{}, {} objects{}", c->pid, c->python_version,
                                        c->debug_build ? " (debug build)" : "", c->total, c->walk.complete ? "" : " (incomplete)")));
    // Types of the same displayed name in the same module are one sample, as the table sums
    // them (census.hpp: most_common).
    std::map<std::pair<std::int64_t, std::int64_t>, std::pair<std::uint64_t, std::uint64_t>> rows;
    for (const TypeStat& t : c->types) {
      if (t.count == 0) continue;
      const std::int64_t name = s.escaped(names == NameForm::qualified ? t.qualified : t.name);
      const std::string_view module = module_of(t);
      auto& r = rows[{name, module.empty() ? 0 : s.escaped(module)}];
      r.first += t.count;
      r.second += t.bytes;
    }
    for (const auto& [key, values] : rows) {
      pp::Sample* sample = p.add_sample();
      sample->add_location_id(frames.location(key.first, key.second));
      if (key.second != 0) sample->add_location_id(frames.location(key.second, key.second));
      sample->add_value(static_cast<std::int64_t>(values.first));
      if (bytes) sample->add_value(static_cast<std::int64_t>(values.second));
      pp::Label* l = sample->add_label();
      l->set_key(pid_key);
      // A string, so that `-tagfocus pid=N` and the profile stores' label filters match it.
      l->set_str(s.index(std::to_string(c->pid)));
    }
  }
  std::string raw;
  if (!p.SerializeToString(&raw)) return make_error(Errc::internal, "cannot serialize the profile");
  return gzip(raw);
}

}  // namespace objspy
