// Leaks over time against a real interpreter: --growth across separate runs, record's NDJSON
// through SIGTERM and the target's exit, suspects ranking a steady leak above a wave.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/objspy-itest-XXXXXX";
  return mkdtemp(tmpl);
}

std::vector<nlohmann::json> read_ndjson(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) {
    REQUIRE_MESSAGE(!line.empty(), "empty line in NDJSON");
    out.push_back(nlohmann::json::parse(line));  // throws (fails the test) on a torn line
  }
  return out;
}

long long count_of(const nlohmann::json& census, const std::string& name) {
  for (const auto& t : census.at("types"))
    if (t.at("name") == name) return t.at("count").get<long long>();
  return 0;
}

}  // namespace

TEST_CASE("--growth across two separate dump runs shows the right deltas") {
  for (const auto& py : itest::interpreters()) {
    itest::Target t(py, "known_heap.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), py.label << ": " << err);
    std::string dir = temp_dir();
    std::string state = dir + "/state.json";
    const std::string pid = std::to_string(t.pid());
    // First run: no state yet, growth from zero = the counts themselves.
    auto first = itest::run(itest::objspy({"dump", "--pid", pid, "--growth", "--state", state, "--format", "json", "--limit", "0"}));
    INFO(py.label << ": " << first.err);
    REQUIRE(first.exit_code == 0);
    auto j1 = nlohmann::json::parse(first.out);
    CHECK(j1.at("growth_since").is_null());
    long long plain = 0;
    for (const auto& g : j1.at("growth"))
      if (g.at("name") == "Plain") plain = g.at("delta").get<long long>();
    CHECK(plain == 1500);
    // Second run on an idle target: nothing grew.
    auto second = itest::run(itest::objspy({"dump", "--pid", pid, "--growth", "--state", state, "--format", "json"}));
    REQUIRE(second.exit_code == 0);
    auto j2 = nlohmann::json::parse(second.out);
    CHECK(j2.at("growth").empty());
    CHECK(j2.at("growth_since").is_number());
    std::filesystem::remove_all(dir);
  }
  // And on a leaking target, in objgraph's show_growth text: "name count +delta".
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "leak_and_wave.py", {{"LEAK_RATE", "500"}});
  std::string err;
  REQUIRE(t.ready_line(itest::kPatience, &err));
  std::string dir = temp_dir();
  std::string state = dir + "/s.json";
  const std::string pid = std::to_string(t.pid());
  auto a = itest::run(itest::objspy({"dump", "--pid", pid, "--growth", "--state", state, "--format", "json", "--limit", "0"}));
  REQUIRE(a.exit_code == 0);
  long long before = count_of(nlohmann::json::parse(a.out), "Leak");
  usleep(500000);
  auto b = itest::run(itest::objspy({"dump", "--pid", pid, "--growth", "--state", state, "--limit", "0"}));
  REQUIRE(b.exit_code == 0);
  std::istringstream rows(b.out);
  std::string name;
  long long count = 0, delta = 0;
  bool found = false;
  while (rows >> name >> count >> delta)
    if (name == "Leak") { found = true; break; }
  REQUIRE(found);
  CHECK(delta == count - before);
  CHECK(delta > 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("record streams valid NDJSON and ends cleanly on SIGTERM and on the target's exit") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    std::string dir = temp_dir();
    {  // SIGTERM
      itest::Target t(py, "leak_and_wave.py");
      std::string err;
      REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
      std::string out = dir + "/term.ndjson";
      itest::Target rec(itest::objspy({"record", "--pid", std::to_string(t.pid()), "--interval", "100ms", "-o", out}));
      REQUIRE(itest::wait_for_lines(out, 3, itest::kPatience));  // three samples on disk, then SIGTERM objspy
      kill(rec.pid(), SIGTERM);
      int st = rec.wait_exit(itest::kPatience);
      REQUIRE(st != -1);
      CHECK(WIFEXITED(st));
      CHECK(WEXITSTATUS(st) == 0);
      auto lines = read_ndjson(out);
      REQUIRE(lines.size() >= 4);
      for (std::size_t i = 0; i + 1 < lines.size(); ++i) CHECK(lines[i].contains("types"));
      CHECK(lines.back().at("event") == "suspects");  // live suspects close the stream
    }
    {  // the target exits
      itest::Target t(py, "leak_and_wave.py");
      std::string err;
      REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
      std::string out = dir + "/exit.ndjson";
      itest::Target rec(itest::objspy({"record", "--pid", std::to_string(t.pid()), "--interval", "100ms", "-o", out}));
      REQUIRE(itest::wait_for_lines(out, 2, itest::kPatience));
      t.kill_now();
      int st = rec.wait_exit(itest::kPatience);
      REQUIRE(st != -1);
      CHECK(WIFEXITED(st));
      CHECK(WEXITSTATUS(st) == 0);
      auto lines = read_ndjson(out);
      REQUIRE(lines.size() >= 3);
      std::size_t exited = 0;
      for (const auto& l : lines) exited += l.contains("event") && l.at("event") == "target_exited";
      CHECK(exited == 1);
    }
    std::filesystem::remove_all(dir);
  }
}

namespace {

// Leak's and Wave's ranks in a suspects list ("suspects" array); -1 / 1000 when absent.
std::pair<int, int> ranks(const nlohmann::json& suspects) {
  int leak = -1, wave = 1000;
  for (std::size_t i = 0; i < suspects.size(); ++i) {
    if (suspects[i]["name"] == "Leak") leak = static_cast<int>(i);
    if (suspects[i]["name"] == "Wave") wave = static_cast<int>(i);
  }
  return {leak, wave};
}

}  // namespace

TEST_CASE("suspects ranks a steady leak first and an oscillating type below it, from a file and live") {
  // A record takes 25 samples at 130 ms, about 3.3 s: a few interpreters at a time rather than
  // one after the other (the samples are timestamped, so a busy machine only spaces them out).
  constexpr std::size_t kAtOnce = 5;
  struct Run {
    const itest::Interpreter* py;
    std::unique_ptr<itest::Target> target, record;
    std::string dir, out;
  };
  const auto& pys = itest::interpreters();
  for (std::size_t first = 0; first < pys.size(); first += kAtOnce) {
    std::vector<Run> runs;
    for (std::size_t i = first; i < std::min(pys.size(), first + kAtOnce); ++i) {
      Run r{&pys[i], std::make_unique<itest::Target>(pys[i], "leak_and_wave.py", std::map<std::string, std::string>{{"LEAK_RATE", "100"}, {"WAVE_PERIOD", "0.7"}}), nullptr, temp_dir(), ""};
      std::string err;
      REQUIRE_MESSAGE(r.target->ready_line(itest::kPatience, &err), r.py->label << ": " << err);
      r.out = r.dir + "/series.ndjson";
      r.record = std::make_unique<itest::Target>(itest::objspy(
          {"record", "--pid", std::to_string(r.target->pid()), "--interval", "130ms", "--count", "25", "--suspects", "0", "-o", r.out}));
      runs.push_back(std::move(r));
    }
    for (auto& r : runs) {
      INFO(r.py->label);
      std::string seen;
      CHECK_MESSAGE(r.record->stderr_line("Leak", itest::kPatience, &seen), seen);  // the closing table on stderr
      int st = r.record->wait_exit(itest::kPatience);
      REQUIRE(st != -1);
      REQUIRE(WIFEXITED(st));
      REQUIRE(WEXITSTATUS(st) == 0);
      auto s = itest::run(itest::objspy({"suspects", r.out, "--json", "--limit", "0"}));
      REQUIRE(s.exit_code == 0);
      auto j = nlohmann::json::parse(s.out);
      REQUIRE_FALSE(j.at("suspects").empty());
      auto [leak_rank, wave_rank] = ranks(j.at("suspects"));
      CHECK(leak_rank == 0);
      CHECK(wave_rank > leak_rank);
      // record's own closing line ranks the same way (the same series, ranked live).
      auto lines = read_ndjson(r.out);
      REQUIRE(lines.back().at("event") == "suspects");
      auto [live_leak, live_wave] = ranks(lines.back().at("suspects"));
      CHECK(live_leak == 0);
      CHECK(live_wave > live_leak);
      CHECK(lines.back().at("samples") == 25);
      std::filesystem::remove_all(r.dir);
    }
  }
}
