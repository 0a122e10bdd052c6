// pymalloc's figures from outside: the pools, blocks in use and free blocks of every size
// class, the arenas and the bytes they hold equal what sys._debugmallocstats() printed in the
// target at the same moment (the target prints, then stops itself), on every release build;
// debug builds of 3.12+ and PYTHONMALLOC=malloc targets say why there are none.
#include <doctest/doctest.h>

#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "objspy/core/escape.hpp"
#include "support.hpp"

using nlohmann::json;

namespace {

struct Printed {
  std::map<long long, std::array<long long, 3>> classes;  // class -> pools, blocks, avail
  std::map<std::string, long long> lines;                  // "# arenas allocated current" -> value
};

Printed parse_stats(const std::string& text) {
  Printed p;
  std::istringstream in(text);
  static const std::regex row(R"(\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*)");
  static const std::regex named(R"((# [a-z ]+?|Total)\s+=\s+([\d,]+)\s*)");
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, row)) p.classes[std::stoll(m[1])] = {std::stoll(m[3]), std::stoll(m[4]), std::stoll(m[5])};
    else if (std::regex_match(l, m, named)) {
      std::string v = m[2];
      std::erase(v, ',');
      p.lines.emplace(m[1], std::stoll(v));  // the first of a name: the arena section's
    }
  }
  return p;
}

}  // namespace

TEST_CASE("pymalloc's arenas, pools and blocks equal sys._debugmallocstats() of the target, on every release build") {
  std::size_t compared = 0;
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "malloc_stats.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), objspy::escape_for_terminal(err.substr(0, 300)));
    std::string printed;
    REQUIRE_MESSAGE(t.stderr_line("Total", itest::kPatience, &printed), "no statistics printed");
    REQUIRE(t.wait_stopped(itest::kPatience));
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--format", "json", "-l", "1"}));
    REQUIRE_MESSAGE(r.exit_code == 0, objspy::escape_for_terminal(r.err.substr(0, 400)));
    const json a = json::parse(r.out).at("allocator");
    if (py.debug && !a.at("pymalloc").get<bool>()) {
      // 3.12+ debug builds: their interpreter layout is not in objspy's tables; said so.
      CHECK(a.at("note").get<std::string>().find("debug build") != std::string::npos);
      itest::record({py.label, "", "-", "-", "pymalloc: not read (debug build), said so"});
      continue;
    }
    REQUIRE_MESSAGE(a.at("pymalloc").get<bool>(), a.dump());
    const Printed want = parse_stats(printed);
    REQUIRE(want.classes.size() >= 8);
    std::string detail;
    std::map<long long, std::array<long long, 3>> got;
    for (const auto& c : a.at("classes"))
      got[c.at("class").get<long long>()] = {c.at("pools").get<long long>(), c.at("blocks").get<long long>(), c.at("available_blocks").get<long long>()};
    for (const auto& [k, v] : want.classes)
      if (got[k] != v) detail += fmt::format("  class {}: target {}/{}/{} objspy {}/{}/{}\n", k, v[0], v[1], v[2], got[k][0], got[k][1], got[k][2]);
    for (const auto& [k, v] : got)
      if (!want.classes.count(k)) detail += fmt::format("  class {}: not printed by the target, objspy {}\n", k, v[0]);
    const std::pair<const char*, const char*> lines[] = {
        {"# arenas allocated total", "arenas_allocated_total"}, {"# arenas highwater mark", "arenas_highwater"},
        {"# arenas allocated current", "arenas"},              {"# bytes in allocated blocks", "allocated_bytes"},
        {"# bytes in available blocks", "available_bytes"},    {"# bytes lost to pool headers", "pool_header_bytes"},
        {"# bytes lost to quantization", "quantization_bytes"}, {"# bytes lost to arena alignment", "alignment_bytes"}};
    for (const auto& [line, key] : lines) {
      auto it = want.lines.find(line);
      if (it == want.lines.end()) { detail += fmt::format("  the target printed no \"{}\"\n", line); continue; }
      if (it->second != a.at(key).get<long long>()) detail += fmt::format("  {}: target {} objspy {}\n", line, it->second, a.at(key).get<long long>());
    }
    // Total = the arena bytes accounted for, as the target adds them up.
    const long long total = a.at("allocated_bytes").get<long long>() + a.at("available_bytes").get<long long>() +
                            a.at("unused_pools").get<long long>() * a.at("pool_size").get<long long>() + a.at("pool_header_bytes").get<long long>() +
                            a.at("quantization_bytes").get<long long>() + a.at("alignment_bytes").get<long long>();
    if (want.lines.count("Total") && want.lines.at("Total") != total) detail += fmt::format("  Total: target {} objspy {}\n", want.lines.at("Total"), total);
    CHECK_MESSAGE(detail.empty(), "differences:\n" << detail);
    long long by_use = 0;
    for (const auto& n : a.at("arenas_by_use")) by_use += n.get<long long>();
    CHECK(by_use == a.at("arenas").get<long long>());
    ++compared;
    itest::record({py.label, "", "-", "-", fmt::format("pymalloc: {} classes, {} arenas as printed", want.classes.size(), a.at("arenas").get<long long>())});
  }
  CHECK(compared >= 1);
}

TEST_CASE("a target that allocates with malloc (PYTHONMALLOC=malloc) gets a note, not figures") {
  const itest::Interpreter* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "idle.py", {{"PYTHONMALLOC", "malloc"}});
  std::string err;
  REQUIRE(t.ready_line(itest::kPatience, &err));
  auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--format", "json", "-l", "1"}));
  REQUIRE(r.exit_code == 0);
  const json a = json::parse(r.out).at("allocator");
  CHECK_FALSE(a.at("pymalloc").get<bool>());
  CHECK(a.at("note").get<std::string>().find("malloc") != std::string::npos);
}
