// objspy refs: who holds the objects of a type, from outside. The shortest chain of references
// from a module down to one instance (objgraph.find_backref_chain(obj, inspect.ismodule)),
// spelled as Python would reach it; the referrers of all instances grouped by the referrer's
// type and the step; a few instances with their attributes; a Graphviz graph.
#include <algorithm>
#include <cstdio>
#include <map>
#include <regex>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/cli/commands.hpp"
#include "objspy/cli/dump_parts.hpp"
#include "objspy/cli/image_target.hpp"
#include "objspy/cli/safe_file.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/graph/object_graph.hpp"
#include "objspy/python/gc_scan.hpp"
#include "objspy/python/gc_state.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/python/type_names.hpp"

namespace objspy::cli {
namespace {

using nlohmann::json;

// What refs knows of the image once the graph is built.
struct Analysis {
  std::unique_ptr<ImageTarget> img;
  ObjectGraph g;
  std::unique_ptr<ReferentReader> refs;
  std::unique_ptr<ObjectReader> objs;
  std::unique_ptr<CensusBudget> budget;  // the namer's bound on dict entries read
  std::unique_ptr<TypeNamer> namer;
  std::unordered_map<std::uint64_t, TypeName> names;  // by type
  std::uint64_t module_type = 0;                       // types named "module" (the roots)
  std::vector<std::string> warnings;

  const TypeName& name_of_type(std::uint64_t t) {
    auto it = names.find(t);
    if (it != names.end()) return it->second;
    TypeName n;
    if (auto r = namer->name(RemoteAddr(t)); r.ok()) n = *r;
    else n.name = n.qualified = fmt::format("<unreadable type {:#x}>", t);
    return names.emplace(t, std::move(n)).first->second;
  }
  const std::string& short_name(std::uint32_t node) { return name_of_type(g.type[node]).name; }

  // The step from node a to node b as Python spells it ("" when b is not among a's referents).
  std::string step(std::uint32_t a, std::uint32_t b) {
    std::vector<Referent> rs;
    auto is_node = [&](std::uint64_t x) { return g.find(x) != FlatMap::kNone; };
    if (!refs->referents(g.addr[a], g.type[a], is_node, rs).ok()) return "";
    for (const Referent& r : rs)
      if (r.addr == g.addr[b]) return refs->label(r);
    return "";
  }

  // A module's name (its __dict__['__name__']), for "sys.modules['app']".
  std::string module_name(std::uint32_t node) {
    auto d = objs->memory().ptr(RemoteAddr(g.addr[node] + img->target.layout.refs.md_dict));
    if (!d.ok() || d->null()) return "?";
    auto v = objs->dict_get(*d, "__name__");
    if (!v.ok() || !*v) return "?";
    bool cut = false;
    auto s = objs->str(**v, 200, &cut);
    return s.ok() ? *s : "?";
  }

  // The chain from its module as one expression: sys.modules['app'].__dict__['REGISTRY'][0].
  std::string expression(const std::vector<std::uint32_t>& chain) {
    if (chain.empty()) return "";
    std::string out = fmt::format("sys.modules['{}']", module_name(chain.front()));
    for (std::size_t i = 1; i < chain.size(); ++i) {
      std::string s = step(chain[i - 1], chain[i]);
      out += s.empty() ? "<?>" : s;
    }
    return out;
  }
};

Result<Analysis> analyse(const RefsOptions& o) {
  Analysis a;
  OBJSPY_ASSIGN(a.img, open_image(o.target, o.copy_budget));
  ImageTarget& img = *a.img;
  const Layout& l = img.target.layout;
  CensusLimits limits;
  limits.timeout_s = o.target.census_timeout_s;
  a.budget = std::make_unique<CensusBudget>(limits);
  CensusBudget& budget = *a.budget;
  a.warnings.insert(a.warnings.end(), img.warnings.begin(), img.warnings.end());
  OBJSPY_ASSIGN(auto objects, gc_objects(img, budget, a.warnings));
  a.refs = std::make_unique<ReferentReader>(*img.mem, l);
  OBJSPY_ASSIGN(a.g, build_graph(objects, *a.refs, GraphLimits{}, &budget));
  if (a.g.edges_cut) a.warnings.push_back("the graph's budget ran out: some references are missing");
  if (a.refs->containers_cut()) a.warnings.push_back(fmt::format("{} containers were read only in part (more items than objspy reads)", a.refs->containers_cut()));
  a.objs = std::make_unique<ObjectReader>(*img.mem, l);
  a.namer = std::make_unique<TypeNamer>(*a.objs, a.budget.get());
  return a;
}

std::string hex(std::uint64_t a) { return fmt::format("{:#x}", a); }

// "[12]" -> "[i]": the referrers of many instances grouped by where they hold them.
std::string general_step(const std::string& s) {
  static const std::regex index(R"(^\[[0-9]+\]$)");
  return std::regex_match(s, index) ? "[i]" : s;
}

// A short text of a value for --show: numbers, short strings, None, the length of containers.
std::string value_text(Analysis& a, std::uint64_t v) {
  auto t = a.objs->type_of(RemoteAddr(v));
  if (!t.ok()) return "?";
  const std::string tn = a.refs->static_type_name(t->value());
  if (tn == "NoneType") return "None";
  if (tn == "bool") {
    auto n = a.objs->small_int(RemoteAddr(v));
    return n.ok() ? (*n ? "True" : "False") : "bool";
  }
  if (tn == "int") {
    auto n = a.objs->small_int(RemoteAddr(v));
    return n.ok() ? std::to_string(*n) : "<int>";
  }
  if (tn == "float") {
    auto bits = a.objs->memory().u64(RemoteAddr(v + 16));
    if (!bits.ok()) return "<float>";
    double d;
    std::memcpy(&d, &*bits, 8);
    return fmt::format("{}", d);
  }
  if (tn == "str") {
    bool cut = false;
    auto s = a.objs->str(RemoteAddr(v), 40, &cut);
    return s.ok() ? fmt::format("'{}'{}", *s, cut ? "..." : "") : "<str>";
  }
  const Layout& l = a.img->target.layout;
  if (tn == "list" || tn == "tuple" || tn == "dict" || tn == "set") {
    auto n = a.objs->memory().u64(RemoteAddr(v + (tn == "dict" ? l.sizes.dict_used : tn == "set" ? 24 : l.ob_size)));
    return n.ok() ? fmt::format("<{} of {}>", tn, *n) : fmt::format("<{}>", tn);
  }
  return fmt::format("<{} at {:#x}>", tn.empty() ? "object" : tn, v);
}

std::string dot_quote(const std::string& s) {
  std::string out;
  for (char c : escape_for_terminal(s)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Status run_refs(const RefsOptions& o) {
  OBJSPY_ASSIGN(Analysis a, analyse(o));
  ObjectGraph& g = a.g;
  // The instances: by type name (short or module-qualified), or the object at an address.
  std::vector<std::uint32_t> targets;
  if (o.address) {
    const std::uint32_t n = g.find(*o.address);
    if (n == FlatMap::kNone) return make_error(Errc::usage, fmt::format("no GC-tracked object at {:#x} in process {}", *o.address, a.img->pid));
    targets.push_back(n);
  } else {
    for (std::uint32_t i = 0; i < g.size(); ++i) {
      const TypeName& tn = a.name_of_type(g.type[i]);
      if (tn.name == o.type || tn.qualified == o.type) targets.push_back(i);
    }
    if (targets.empty())
      return make_error(Errc::usage, fmt::format("process {} has no GC-tracked object of type {} among its {} objects (objspy dump lists the types)",
                                                 a.img->pid, escape_for_terminal(o.type), g.size()));
  }
  const std::string what = o.address ? hex(*o.address) : o.type;
  // The roots, as find_backref_chain(obj, inspect.ismodule) has them: module objects (the
  // builtin type; a class named "module" has a module-qualified name).
  std::unordered_map<std::uint64_t, bool> module_types;
  auto is_module = [&](std::uint32_t v) {
    auto [it, fresh] = module_types.try_emplace(g.type[v], false);
    if (fresh) {
      auto flags = a.objs->type_flags(RemoteAddr(g.type[v]));
      it->second = flags.ok() && !(*flags & kTpFlagsHeapType) && a.refs->static_type_name(g.type[v]) == "module";
    }
    return it->second;
  };
  const std::vector<std::uint32_t> chain = shortest_chain(g, targets, is_module, o.max_depth);

  // Referrers of every instance (the first max_instances), by referrer type and step.
  struct Group {
    std::string type, step;
    std::uint64_t instances = 0;
    std::uint32_t example = 0;  // one referrer node
    std::uint32_t last = 0;     // the last instance counted (one held twice the same way counts once)
  };
  std::map<std::pair<std::string, std::string>, Group> groups;
  std::unordered_map<std::uint32_t, std::unordered_map<std::uint64_t, std::string>> steps;  // referrer -> target addr -> step
  const std::size_t examined = std::min<std::size_t>(targets.size(), o.max_instances);
  std::uint64_t unheld = 0;
  for (std::size_t k = 0; k < examined; ++k) {
    const std::uint32_t t = targets[k];
    if (g.in_start[t] == g.in_start[t + 1]) ++unheld;
    for (std::uint64_t e = g.in_start[t]; e < g.in_start[t + 1]; ++e) {
      const std::uint32_t r = g.in[e];
      auto& by_target = steps[r];
      if (by_target.empty()) {
        std::vector<Referent> rs;
        auto is_node = [&](std::uint64_t x) { return g.find(x) != FlatMap::kNone; };
        if (a.refs->referents(g.addr[r], g.type[r], is_node, rs).ok())
          for (const Referent& ref : rs) by_target.emplace(ref.addr, a.refs->label(ref));
      }
      auto it = by_target.find(g.addr[t]);
      const std::string s = general_step(it == by_target.end() ? std::string("?") : it->second);
      Group& grp = groups[{a.short_name(r), s}];
      if (!grp.instances) grp = {a.short_name(r), s, 0, r, t};
      else if (grp.last == t) continue;
      grp.last = t;
      ++grp.instances;
    }
  }
  std::vector<Group> ranked;
  for (auto& [k, v] : groups) ranked.push_back(v);
  std::sort(ranked.begin(), ranked.end(), [](const Group& x, const Group& y) { return x.instances > y.instances; });
  if (o.limit && ranked.size() > o.limit) ranked.resize(o.limit);
  std::vector<std::string> where;  // each group's example referrer, reached from a module
  for (const Group& grp : ranked) where.push_back(a.expression(shortest_chain(g, {grp.example}, is_module, o.max_depth)));

  // --show: a few instances and their attributes.
  json shown = json::array();
  for (std::size_t k = 0; k < targets.size() && k < o.show; ++k) {
    const std::uint32_t t = targets[k];
    json attrs = json::object();
    std::vector<Referent> rs;
    auto is_any = [](std::uint64_t) { return false; };  // attributes of every kind, not only GC objects
    if (a.refs->referents(g.addr[t], g.type[t], is_any, rs).ok()) {
      for (const Referent& r : rs) {
        if (r.kind == EdgeKind::attr_value) attrs[sanitize_utf8(a.refs->label(r).substr(1))] = sanitize_utf8(value_text(a, r.addr));
        if (r.kind == EdgeKind::attr_dict) {
          std::vector<Referent> ds;
          auto dt = a.objs->type_of(RemoteAddr(r.addr));
          const std::uint64_t dict_type = dt.ok() ? dt->value() : 0;
          if (dict_type && a.refs->referents(r.addr, dict_type, is_any, ds).ok())
            for (const Referent& d : ds)
              if (d.kind == EdgeKind::dict_value) {
                std::string key = a.refs->label(d);
                if (key.size() > 4 && key.starts_with("['")) key = key.substr(2, key.size() - 4);
                attrs[sanitize_utf8(key)] = sanitize_utf8(value_text(a, d.addr));
              }
        }
      }
    }
    shown.push_back({{"address", hex(g.addr[t])}, {"attributes", attrs}});
  }

  // The chain, step by step.
  json steps_j = json::array();
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const std::string s = i == 0 ? fmt::format("sys.modules['{}']", a.module_name(chain[0])) : a.step(chain[i - 1], chain[i]);
    steps_j.push_back({{"address", hex(g.addr[chain[i]])}, {"type", sanitize_utf8(a.name_of_type(g.type[chain[i]]).qualified)}, {"step", sanitize_utf8(s)}});
  }

  if (!o.dot.empty()) {
    std::string dot = "digraph objspy_refs {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n";
    for (std::size_t i = 0; i < chain.size(); ++i)
      dot += fmt::format("  n{} [label=\"{}\\n{}\"];\n", g.addr[chain[i]], dot_quote(a.name_of_type(g.type[chain[i]]).qualified), hex(g.addr[chain[i]]));
    for (std::size_t i = 1; i < chain.size(); ++i)
      dot += fmt::format("  n{} -> n{} [label=\"{}\"];\n", g.addr[chain[i - 1]], g.addr[chain[i]], dot_quote(steps_j[i].at("step").get<std::string>()));
    // The other referrers of the chain's instance, as show_backrefs draws them (a few).
    if (!chain.empty()) {
      const std::uint32_t t = chain.back();
      std::size_t drawn = 0;
      for (std::uint64_t e = g.in_start[t]; e < g.in_start[t + 1] && drawn < 20; ++e) {
        const std::uint32_t r = g.in[e];
        if (chain.size() > 1 && r == chain[chain.size() - 2]) continue;
        dot += fmt::format("  n{} [label=\"{}\\n{}\"];\n  n{} -> n{} [label=\"{}\"];\n", g.addr[r], dot_quote(a.name_of_type(g.type[r]).qualified),
                           hex(g.addr[r]), g.addr[r], g.addr[t], dot_quote(a.step(r, t)));
        ++drawn;
      }
    }
    dot += "}\n";
    OBJSPY_ASSIGN(std::FILE* f, open_for_writing(o.dot));
    const bool ok = std::fwrite(dot.data(), 1, dot.size(), f) == dot.size();
    if (std::fclose(f) != 0 || !ok) return make_error(Errc::io, fmt::format("cannot write {}", o.dot));
  }

  std::string out;
  if (o.json) {
    json j;
    j["pid"] = a.img->pid;
    j["type"] = sanitize_utf8(what);
    j["instances"] = targets.size();
    j["objects"] = g.size();
    j["edges"] = g.out.size();
    j["held_ms"] = a.img->held_ms >= 0 ? json(a.img->held_ms) : json(nullptr);
    j["chain"] = steps_j;
    j["chain_expression"] = sanitize_utf8(a.expression(chain));
    json rj = json::array();
    for (std::size_t i = 0; i < ranked.size(); ++i)
      rj.push_back({{"referrer_type", sanitize_utf8(ranked[i].type)},
                    {"step", sanitize_utf8(ranked[i].step)},
                    {"instances", ranked[i].instances},
                    {"share", examined ? static_cast<double>(ranked[i].instances) / static_cast<double>(examined) : 0.0},
                    {"example_referrer", hex(g.addr[ranked[i].example])},
                    {"at", sanitize_utf8(where[i])}});
    j["referrers"] = rj;
    // Every referrer of the first instance (of the object, with --address), by address.
    json held = json::array();
    if (!targets.empty())
      for (std::uint64_t e = g.in_start[targets[0]]; e < g.in_start[targets[0] + 1]; ++e) held.push_back(hex(g.addr[g.in[e]]));
    j["held_by"] = held;
    j["first_instance"] = targets.empty() ? json(nullptr) : json(hex(g.addr[targets[0]]));
    j["instances_examined"] = examined;
    j["unreferenced"] = unheld;
    j["shown"] = shown;
    j["warnings"] = a.warnings;
    out = j.dump(2, ' ', true) + "\n";
  } else {
    out += fmt::format("{} instances of {} among {} objects ({} references)\n", targets.size(), escape_for_terminal(what), g.size(), g.out.size());
    if (chain.empty()) {
      out += fmt::format("\nno chain from a module within {} steps\n", o.max_depth);
    } else {
      out += fmt::format("\nshortest chain from a module ({} objects):\n  {}\n", chain.size(), escape_for_terminal(a.expression(chain)));
      for (const auto& s : steps_j)
        out += fmt::format("  {:>16}  {:<28} {}\n", s.at("address").get<std::string>(), escape_for_terminal(s.at("type").get<std::string>()),
                           escape_for_terminal(s.at("step").get<std::string>()));
    }
    out += fmt::format("\nheld by (of {} instances{}):\n", examined, examined < targets.size() ? ", the first ones" : "");
    for (std::size_t i = 0; i < ranked.size(); ++i)
      out += fmt::format("  {:5.1f}%  {:>8}  {}{}  at {}\n", examined ? 100.0 * static_cast<double>(ranked[i].instances) / static_cast<double>(examined) : 0.0,
                         ranked[i].instances, escape_for_terminal(ranked[i].type), escape_for_terminal(ranked[i].step),
                         where[i].empty() ? std::string("(no module reaches it)") : escape_for_terminal(where[i]));
    if (unheld) out += fmt::format("  {} held by no GC-tracked object (a frame's local, or C code)\n", unheld);
    for (const auto& s : shown) {
      out += fmt::format("\n{} at {}:\n", escape_for_terminal(what), s.at("address").get<std::string>());
      for (const auto& [k, v] : s.at("attributes").items()) out += fmt::format("  {} = {}\n", escape_for_terminal(k), escape_for_terminal(v.get<std::string>()));
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  for (const auto& w : a.warnings) note("warning: " + w);
  if (!o.quiet && a.img->held_ms >= 0) note(fmt::format("process {} held {:.1f} ms while {:.1f} MiB were copied", a.img->pid, a.img->held_ms,
                                                        static_cast<double>(a.img->copied) / (1 << 20)));
  return {};
}

}  // namespace objspy::cli
