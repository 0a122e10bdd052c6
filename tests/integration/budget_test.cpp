// The census budgets against hostile targets (issue 11): a few MB of crafted memory must not
// cost unbounded time or memory. Every dump ends within the documented deadline (10 s) with a
// flagged incomplete census (exit 8, the limit named) and a peak RSS under 64 MiB.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support.hpp"

namespace {

constexpr double kDeadline = 10;            // README: the default --census-timeout
// A census stopped at its deadline is still printed: its tables, its JSON, the exit. Measured
// under AddressSanitizer on a loaded machine: 0.2-0.7 s after the deadline.
constexpr double kAfterDeadline = 2;
// objspy's own memory on these hostile heaps: it must not grow with what the target makes up
// (interpreters, types, name bytes). What it keeps per possible object is fixed: 32 bytes
// for the links and the type, and 24 more for the words sizes need (bytes per type, on by
// default): the million-types heap has about 730,000 possible objects in its pools, 55 MiB
// of RSS without bytes and 72 MiB with them (measured on this machine, 2026-11-27).
constexpr long kMaxRssKib = 80 * 1024;


// One dump of a hostile target: within the deadline, under the memory bound, exit 8 with one
// error line that says the census stopped early; the JSON (when asked for) flags it.
void check_bounded(const itest::CommandResult& r, bool json) {
  INFO("exit " << r.exit_code << ", " << r.seconds << " s, peak RSS " << r.max_rss_kib << " KiB, stderr: " << r.err.substr(0, 2000));
  CHECK(r.exit_code == 8);
  CHECK(r.seconds < kDeadline + kAfterDeadline);
  // ru_maxrss of a forked child counts the test's own pages at the fork: a bound from above.
  if (!itest::kSanitized) CHECK(r.max_rss_kib < kMaxRssKib);
  CHECK(r.err.find("objspy: error: the census of process") != std::string::npos);
  CHECK(r.err.find("stopped early") != std::string::npos);
  if (!json) return;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK_FALSE(j["walk"]["complete"].get<bool>());
  CHECK(j["walk"]["torn"].get<bool>());
  CHECK_FALSE(j["walk"]["limits"].empty());
}

}  // namespace

TEST_CASE("a fake runtime with thousands of interpreters, shared lists and huge names costs a bounded census") {
  if (!itest::kSanitized) REQUIRE(itest::status_kib(0, "VmRSS") < 32 * 1024);  // or the RSS bound below measures this process
  // 4096 interpreters, all "collecting"; 6 nodes in each, one chain every list shares; a
  // type of its own for every node with a ~5 KB name, and heap types sharing a 2^24-entry dict.
  itest::Target t({OBJSPY_HOSTILE_RUNTIME, "4096", "6"});
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  const std::string pid = std::to_string(t.pid());
  const std::vector<std::vector<std::string>> variants = {
      {},
      {"--method", "walk"},
      {"--format", "json"},
      {"--format", "json", "--method", "walk", "--qualified"},
      {"--pause", "--format", "json"},
  };
  for (const auto& extra : variants) {
    std::vector<std::string> args{"dump", "--pid", pid};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string label;
    for (const auto& a : extra) label += a + " ";
    CAPTURE(label);
    auto r = itest::run(itest::objspy(args), 60);
    const bool json = std::find(extra.begin(), extra.end(), "json") != extra.end();
    check_bounded(r, json);
    CHECK(r.err.find("more than 256 interpreters") != std::string::npos);
    if (json) {
      auto j = nlohmann::json::parse(r.out, nullptr, false);
      REQUIRE_FALSE(j.is_discarded());
      CHECK(j["interpreters"].size() == 256);
      std::string limits = j["walk"]["limits"].dump();
      CHECK(limits.find("interpreters") != std::string::npos);
      // The names passed the bound on their bytes; a sanitized build on a busy machine can
      // reach the deadline first (a release build walks this heap in about a second).
      if (!itest::kSanitized || limits.find("deadline") == std::string::npos) CHECK(limits.find("bytes") != std::string::npos);
    }
  }
}

TEST_CASE("a million fake types with 5 KB names: bounded time and memory, the rest lumped") {
  if (!itest::kSanitized) REQUIRE(itest::status_kib(0, "VmRSS") < 32 * 1024);
  // The first interpreter (built-in layout table) and the newest one (_Py_DebugOffsets): a
  // million-object target takes seconds to build, so not every interpreter.
  std::vector<const itest::Interpreter*> pythons{itest::plain_python()};
  REQUIRE(pythons[0]);
  const itest::Interpreter* newest = nullptr;
  for (const auto& py : itest::interpreters())
    if (!newest || std::stoi(py.expect_minor.substr(2)) > std::stoi(newest->expect_minor.substr(2))) newest = &py;
  if (newest && newest != pythons[0]) pythons.push_back(newest);
  for (const auto* py : pythons) {
    CAPTURE(py->label);
    itest::Target t(*py, "million_types.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
    const std::string pid = std::to_string(t.pid());
    for (const char* method : {"scan", "walk"}) {
      CAPTURE(method);
      auto r = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json", "--method", method}), 60);
      MESSAGE(py->label << " " << std::string(method) << ": " << r.seconds << " s, peak RSS " << r.max_rss_kib << " KiB");
      check_bounded(r, true);
      auto j = nlohmann::json::parse(r.out, nullptr, false);
      REQUIRE_FALSE(j.is_discarded());
      std::string limits = j["walk"]["limits"].dump();
      CHECK(limits.find("more than 100000 distinct types") != std::string::npos);
      CHECK(limits.find("names passed") != std::string::npos);
      if (std::string(method) == "walk") {
        // Every object counted: the types past the bound under "<other types>" (frozen here).
        CHECK(j["frozen"].get<long long>() > 1000000);
      }
    }
  }
}

TEST_CASE("--census-timeout ends a slow census at its deadline, incomplete and saying why") {
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "idle.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  // Every read of target memory takes 100 ms: the census alone would take seconds.
  auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--format", "json", "--census-timeout", "1s"}), 120,
                      {{"LD_PRELOAD", OBJSPY_EXIT_SHIM}, {"OBJSPY_TEST_READ_DELAY_US", "100000"}});
  INFO("exit " << r.exit_code << ", " << r.seconds << " s, stderr: " << r.err);
  CHECK(r.exit_code == 8);
  CHECK(r.err.find("deadline of 1 s (--census-timeout)") != std::string::npos);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  // Reads in flight (and the name being read) end after the deadline: at 100 ms a read, a few.
  CHECK(j["duration_ms"].get<double>() < 2000);
  CHECK_FALSE(j["walk"]["complete"].get<bool>());
  CHECK(j["walk"]["limits"].dump().find("deadline") != std::string::npos);
}

TEST_CASE("--census-timeout is an option of every command that reads a target, checked") {
  for (const char* cmd : {"dump", "record", "top", "serve"}) {
    CAPTURE(cmd);
    auto help = itest::run(itest::objspy({cmd, "--help"}));
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("--census-timeout") != std::string::npos);
    auto bad = itest::run(itest::objspy({cmd, "--pid", "1", "--census-timeout", "-3"}));
    CHECK(bad.exit_code == 2);
  }
}
