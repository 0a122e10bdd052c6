// The collector's figures objspy reads equal what the gc module of the target says about
// itself, exactly, on every interpreter: an idle target with odd thresholds, collection
// disabled, gc.garbage filled, objects frozen (tests/targets/gc_state.py). Also the warnings
// dump gives for it, its gc line, the NDJSON of record, and the metrics of serve.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/core/escape.hpp"
#include "support.hpp"

using nlohmann::json;

namespace {

struct Started {
  std::unique_ptr<itest::Target> target;
  json truth;  // what the target's gc module said
};

Started start(const itest::Interpreter& py) {
  Started s;
  s.target = std::make_unique<itest::Target>(py, "gc_state.py");
  std::string err;
  auto line = s.target->ready_line(itest::kPatience, &err);
  REQUIRE_MESSAGE(line, py.label << ": target did not start: " << err);
  s.truth = json::parse(*line);
  return s;
}

std::map<std::string, long long> truth_garbage_types(const json& truth) {
  std::map<std::string, long long> m;
  for (auto& [k, v] : truth.at("garbage_types").items()) m[objspy::sanitize_utf8(itest::hex_decode(k))] += v.get<long long>();
  return m;
}

std::map<std::string, long long> objspy_garbage_types(const json& gc) {
  std::map<std::string, long long> m;
  for (const auto& t : gc.at("garbage_types")) m[t.at("name").get<std::string>()] += t.at("count").get<long long>();
  return m;
}

// Each figure of interpreters[0].gc against the target's own; the differences, if any.
std::vector<std::string> compare(const json& truth, const json& gc) {
  std::vector<std::string> bad;
  auto same = [&](const char* what, const json& want, const json& got) {
    if (want != got) bad.push_back(fmt::format("{}: target {} objspy {}", what, want.dump(), got.dump()));
  };
  same("enabled", truth.at("enabled"), gc.at("enabled"));
  same("debug", truth.at("debug"), gc.at("debug"));
  same("thresholds", truth.at("thresholds"), gc.at("thresholds"));
  same("counts", truth.at("counts"), gc.at("counts"));
  same("stats", truth.at("stats"), gc.at("stats"));  // every key gc.get_stats() has (3.15: candidates, duration), no other
  same("garbage", truth.at("garbage"), gc.at("garbage"));
  same("callbacks", truth.at("callbacks"), gc.at("callbacks"));
  same("frozen", truth.at("frozen"), gc.at("frozen"));
  same("garbage_types", json(truth_garbage_types(truth)), json(objspy_garbage_types(gc)));
  same("collecting", json(false), gc.at("collecting"));
  same("garbage_truncated", json(false), gc.at("garbage_truncated"));
  same("garbage_unreadable", json(0), gc.at("garbage_unreadable"));
  same("notes", json::array(), gc.at("notes"));
  return bad;
}

bool contains(const json& arr, const std::string& part) {
  for (const auto& w : arr)
    if (w.get<std::string>().find(part) != std::string::npos) return true;
  return false;
}

// Metric samples "name{labels}" -> value, from an exposition.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l.empty() || l[0] == '#') continue;
    auto sp = l.rfind(' ');
    out[l.substr(0, sp)] = l.substr(sp + 1);
  }
  return out;
}

}  // namespace

TEST_CASE("the collector's figures equal the target's own gc module, on every interpreter") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    auto s = start(py);
    const std::string pid = std::to_string(s.target->pid());
    CHECK(s.truth.at("garbage").get<long long>() > 0);  // the target did fill it
    auto r = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json"}));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);  // warnings are not failures
    json j = json::parse(r.out);
    REQUIRE(j.at("interpreters").size() == 1);
    const json& gc = j["interpreters"][0]["gc"];
    auto bad = compare(s.truth, gc);
    std::string all;
    for (const auto& b : bad) all += "\n  " + b;
    CHECK_MESSAGE(bad.empty(), py.label << ":" << all);
    CHECK(j.at("frozen") == s.truth.at("frozen"));
    // The same from a --pause copy of the target's memory, and with the lists walked.
    for (const char* how : {"--pause", "--method=walk"}) {
      auto other = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json", how}));
      REQUIRE_MESSAGE(other.exit_code == 0, how << ": " << other.err);
      auto diff = compare(s.truth, json::parse(other.out)["interpreters"][0]["gc"]);
      CHECK_MESSAGE(diff.empty(), how << ": " << (diff.empty() ? "" : diff[0]));
    }
    // The two findings: in the JSON warnings and as warning lines on stderr.
    const auto garbage = fmt::format("gc.garbage holds {} objects (", s.truth.at("garbage").get<long long>());
    CHECK(contains(j["walk"]["warnings"], "interpreter 0: the garbage collector is disabled"));
    CHECK(contains(j["walk"]["warnings"], "interpreter 0: " + garbage));
    CHECK(r.err.find("objspy: warning: interpreter 0: the garbage collector is disabled (gc.disable())") != std::string::npos);
    CHECK(r.err.find("objspy: warning: interpreter 0: " + garbage) != std::string::npos);
    // The table's gc line, next to the summary line.
    auto table = itest::run(itest::objspy({"dump", "--pid", pid}));
    REQUIRE_MESSAGE(table.exit_code == 0, table.err);
    const auto& c = s.truth.at("counts");
    CHECK_MESSAGE(table.err.find(fmt::format("\nobjspy: gc: DISABLED, thresholds 1234/17/9, counts {}/{}/{}, collections ", c[0].get<long>(),
                                             c[1].get<long>(), c[2].get<long>())) != std::string::npos,
                  table.err);
    CHECK(table.err.find(fmt::format(", gc.garbage {}, frozen {}\n", s.truth.at("garbage").get<long>(), s.truth.at("frozen").get<long>())) !=
          std::string::npos);
    // --qualified names the garbage's types by module too.
    auto qual = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json", "--qualified"}));
    REQUIRE(qual.exit_code == 0);
    auto q = objspy_garbage_types(json::parse(qual.out)["interpreters"][0]["gc"]);
    auto t = truth_garbage_types(s.truth);
    CHECK(q["__main__.Node"] == t["Node"]);
    CHECK(q["builtins.list"] == t["list"]);
  }
}

TEST_CASE("a collector in its default state: enabled, no warning, record carries the same figures") {
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "idle.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  const std::string pid = std::to_string(t.pid());
  auto r = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json"}));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  json gc = json::parse(r.out)["interpreters"][0]["gc"];
  CHECK(gc["enabled"] == true);
  CHECK(gc["garbage"] == 0);
  CHECK(r.err.find("warning") == std::string::npos);
  CHECK(r.err.find("\nobjspy: gc: enabled, thresholds ") != std::string::npos);
  // -q: no summary, no gc line.
  auto quiet = itest::run(itest::objspy({"dump", "--pid", pid, "-q"}));
  CHECK(quiet.err.empty());
  auto rec = itest::run(itest::objspy({"record", "--pid", pid, "--count", "1", "--interval", "100ms", "-q"}));
  REQUIRE_MESSAGE(rec.exit_code == 0, rec.err);
  json line = json::parse(rec.out.substr(0, rec.out.find('\n')));
  CHECK(line["interpreters"][0]["gc"] == gc);  // an idle target: the same snapshot
}

TEST_CASE("serve exports the collector's figures, and promtool accepts them, on every interpreter") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    auto s = start(py);
    itest::Target exporter(itest::objspy({"serve", "--pid", std::to_string(s.target->pid()), "--listen", "127.0.0.1:0", "--interval", "1h"}));
    std::string seen;
    auto line = exporter.stderr_line("serving metrics", itest::kPatience, &seen);
    REQUIRE_MESSAGE(line, seen);
    auto b = line->find("http://"), e = line->find("/metrics");
    const std::string body = itest::run({"curl", "-sS", "--max-time", "60", line->substr(b, e - b) + "/metrics"}, itest::kPatience).out;
    auto m = samples(body);
    const json& st = s.truth.at("stats");
    for (int g = 0; g < 3; ++g) {
      auto key = [&](const char* name) { return fmt::format("{}{{interpreter=\"0\",generation=\"{}\"}}", name, g); };
      CHECK(m[key("cpython_gc_collections_total")] == std::to_string(st[g].at("collections").get<long long>()));
      CHECK(m[key("cpython_gc_collected_objects_total")] == std::to_string(st[g].at("collected").get<long long>()));
      CHECK(m[key("cpython_gc_uncollectable_objects_total")] == std::to_string(st[g].at("uncollectable").get<long long>()));
      CHECK(m[key("objspy_gc_threshold")] == std::to_string(s.truth.at("thresholds")[g].get<long long>()));
      CHECK(m[key("objspy_gc_count_since_collection")] == std::to_string(s.truth.at("counts")[g].get<long long>()));
    }
    CHECK(m["objspy_gc_enabled{interpreter=\"0\"}"] == "0");
    CHECK(m["objspy_gc_garbage_objects{interpreter=\"0\"}"] == std::to_string(s.truth.at("garbage").get<long long>()));
    CHECK(m["objspy_gc_collecting{interpreter=\"0\"}"] == "0");
    CHECK(m["objspy_gc_frozen_objects"] == std::to_string(s.truth.at("frozen").get<long long>()));
    char dir[] = "/tmp/objspy-itest-XXXXXX";
    REQUIRE(mkdtemp(dir));
    std::ofstream(std::string(dir) + "/m.txt") << body;
    auto lint = itest::run({"sh", "-c", fmt::format("promtool check metrics < {}/m.txt", dir)});
    CHECK_MESSAGE(lint.exit_code == 0, lint.out << lint.err);
    std::filesystem::remove_all(dir);
    kill(exporter.pid(), SIGTERM);
    CHECK(exporter.stderr_line("exporter stopped", itest::kPatience, &seen));
  }
}
