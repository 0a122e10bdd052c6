// The foundation: on an idle target, objspy's census equals the target's own
// Counter(type(o).__name__ for o in gc.get_objects()) exactly, type by type, in both name
// forms, on every interpreter this machine has.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "objspy/core/escape.hpp"
#include "support.hpp"

using nlohmann::json;

namespace {

using Counts = std::map<std::string, long long>;

Counts from_target(const json& j, const char* key) {
  Counts c;
  for (auto& [k, v] : j.at(key).items()) {
    std::string name = itest::hex_decode(k);
    // objspy cuts names past 1024 code points and marks them "..." (a hostile target could
    // make them megabytes long).
    std::size_t cps = 0, i = 0;
    for (; i < name.size(); ++i)
      if ((static_cast<unsigned char>(name[i]) & 0xC0) != 0x80 && cps++ == 1024) break;
    if (i < name.size()) name = name.substr(0, i) + "...";
    c[objspy::sanitize_utf8(name)] += v.get<long long>();
  }
  return c;
}

Counts from_objspy(const json& j) {
  Counts c;
  for (const auto& t : j.at("types")) c[t.at("name").get<std::string>()] += t.at("count").get<long long>();
  return c;
}

// "exact" or a short description of the differences.
std::string compare(const Counts& want, const Counts& got, std::string* detail) {
  int bad = 0;
  for (const auto& [name, n] : want) {
    auto it = got.find(name);
    long long g = it == got.end() ? 0 : it->second;
    if (g != n) { ++bad; *detail += fmt::format("  {}: target {} objspy {}\n", objspy::escape_for_terminal(name), n, g); }
  }
  for (const auto& [name, n] : got)
    if (!want.count(name)) { ++bad; *detail += fmt::format("  {}: target 0 objspy {}\n", objspy::escape_for_terminal(name), n); }
  return bad ? fmt::format("{} differ", bad) : "exact";
}

struct Outcome {
  bool ok = false;
  std::string version, short_res, qual_res, note;
};

Outcome check_interpreter(const itest::Interpreter& py, bool hostile) {
  Outcome o;
  std::map<std::string, std::string> env;
  if (hostile) env["OBJSPY_TARGET_HOSTILE"] = "1";
  itest::Target t(py, "known_heap.py", env);
  std::string err;
  auto line = t.ready_line(itest::kPatience, &err);
  if (!line) { o.note = "target did not start: " + objspy::escape_for_terminal(err.substr(0, 300)); return o; }
  json truth = json::parse(*line);
  o.version = truth.at("version").get<std::string>() + (truth.at("debug").get<bool>() ? " debug" : "");
  const std::string pid = std::to_string(t.pid());

  auto shortr = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json"}));
  auto qualr = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json", "--qualified"}));
  if (shortr.exit_code != 0 || qualr.exit_code != 0) {
    o.note = fmt::format("objspy exit {} / {}: {}", shortr.exit_code, qualr.exit_code, objspy::escape_for_terminal(shortr.err + qualr.err).substr(0, 400));
    return o;
  }
  json js = json::parse(shortr.out), jq = json::parse(qualr.out);
  std::string detail;
  o.short_res = compare(from_target(truth, "short"), from_objspy(js), &detail);
  o.qual_res = hostile ? "(not compared)" : compare(from_target(truth, "qualified"), from_objspy(jq), &detail);
  std::vector<std::string> problems;
  if (js.at("total_objects").get<long long>() != truth.at("total").get<long long>())
    problems.push_back(fmt::format("total {} vs target {}", js.at("total_objects").get<long long>(), truth.at("total").get<long long>()));
  if (js.at("frozen").get<long long>() != truth.at("frozen").get<long long>())
    problems.push_back(fmt::format("frozen {} vs target {}", js.at("frozen").get<long long>(), truth.at("frozen").get<long long>()));
  if (js.at("python").at("version").get<std::string>() != truth.at("version").get<std::string>())
    problems.push_back("version " + js.at("python").at("version").get<std::string>());
  if (js.at("python").at("debug_build").get<bool>() != truth.at("debug").get<bool>()) problems.push_back("debug flag wrong");
  if (!js.at("walk").at("complete").get<bool>()) problems.push_back("walk incomplete");
  if (hostile) {
    // The default table must carry no control character at all, one row per line.
    auto table = itest::run(itest::objspy({"dump", "--pid", pid, "--limit", "0"}));
    for (char ch : table.out)
      if ((static_cast<unsigned char>(ch) < 0x20 && ch != '\n') || ch == 0x7f) { problems.push_back("control character in table"); break; }
    if (table.out.find("\\x1b]0;pwned") == std::string::npos) problems.push_back("escaped hostile name not shown");
    if (table.out.find("\\u202e") == std::string::npos) problems.push_back("bidi override not escaped");
    if (table.out.find("dict\\u200e\\u200b\\u061c\\ufeff\\u2066") == std::string::npos) problems.push_back("invisible marks not escaped");
    // The 2 MB name is cut to the table's name width: no row is wider than the name column
    // and a count.
    std::size_t rows = 0, widest = 0;
    for (std::size_t at = 0, nl; (nl = table.out.find('\n', at)) != std::string::npos; at = nl + 1, ++rows)
      widest = std::max(widest, objspy::display_width(table.out.substr(at, nl - at)));
    if (widest > 60 + 1 + 20) problems.push_back(fmt::format("a table row {} columns wide", widest));
    if (table.out.find("LLLL\u2026LLLL") == std::string::npos) problems.push_back("long name not cut");
    if (rows < 10 || table.out.size() > rows * 120) problems.push_back(fmt::format("table of {} rows is {} bytes", rows, table.out.size()));
  }
  for (const auto& p : problems) o.note += (o.note.empty() ? "" : "; ") + p;
  if (!detail.empty()) MESSAGE(py.label << (hostile ? " (hostile)" : "") << " differences:\n" << detail);
  o.ok = o.short_res == "exact" && (hostile || o.qual_res == "exact") && problems.empty();
  return o;
}

}  // namespace

TEST_CASE("every interpreter the README promises is here, or explicitly allowed to be missing") {
  // The summary table lists each with why; a missing one fails CI unless OBJSPY_ALLOW_MISSING
  // names it (e.g. OBJSPY_ALLOW_MISSING="sid python3.15d,pyenv 3.8" or "sid *").
  for (const auto& k : itest::discover().skipped)
    CHECK_MESSAGE(itest::missing_allowed(k.what), k.what << " is missing: " << k.why << "; to run without it, list it in OBJSPY_ALLOW_MISSING");
}

TEST_CASE("dump equals the target's own census, both name forms, on every interpreter") {
  for (const auto& py : itest::interpreters()) {
    Outcome o = check_interpreter(py, false);
    itest::record({py.label, o.version, o.short_res, o.qual_res, o.ok ? "match" : "MISMATCH " + o.note});
    CHECK_MESSAGE(o.ok, py.label << ": " << o.note << " short=" << o.short_res << " qualified=" << o.qual_res);
  }
}

TEST_CASE("hostile type names are escaped and still counted exactly") {
  for (const auto& py : itest::interpreters()) {
    Outcome o = check_interpreter(py, true);
    CHECK_MESSAGE(o.ok, py.label << " (hostile names): " << o.note << " short=" << o.short_res);
  }
}
