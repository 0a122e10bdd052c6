// dump --format pprof read by pprof itself (Debian's golang-go: go tool pprof), on every
// interpreter: the same counts per type as the target's own census, the same bytes as the
// JSON census, and one process picked out of a pool by its pid label.
#include <doctest/doctest.h>

#include <unistd.h>

#include <map>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

using nlohmann::json;

namespace {

const char* kGo = "/usr/bin/go";

// `go tool pprof -top` rows, flat value by name (rows of the same name summed: two modules may
// have a type of that name, as the table sums them).
std::map<std::string, long long> pprof_top(const std::string& file, const std::vector<std::string>& extra, std::string* err) {
  std::vector<std::string> argv{kGo, "tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", "-unit=B"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(file);
  auto r = itest::run(argv, itest::kPatience, {{"HOME", "/tmp"}});
  *err = r.err + " (exit " + std::to_string(r.exit_code) + ")";
  std::map<std::string, long long> rows;
  std::istringstream in(r.out);
  std::string line;
  bool table = false;
  while (std::getline(in, line)) {
    if (line.find("flat  flat%") != std::string::npos) { table = true; continue; }
    if (!table) continue;
    std::istringstream f(line);
    std::string flat, flat_pct, sum_pct, cum, cum_pct;
    f >> flat >> flat_pct >> sum_pct >> cum >> cum_pct;
    std::string name;
    std::getline(f, name);
    name.erase(0, name.find_first_not_of(' '));
    if (!flat.empty() && flat.back() == 'B') flat.pop_back();
    // Module frames hold no objects of their own (flat 0): only types are rows of the table.
    if (const long long n = std::stoll(flat); n != 0) rows[name] += n;
  }
  return rows;
}

bool have_go(const char* what) {
  if (access(kGo, X_OK) == 0) return true;
  itest::missing("go", fmt::format("Debian's golang-go is not installed: {} needs go tool pprof (tools/setup.sh --chroot)", what));
  return false;
}

}  // namespace

TEST_CASE("dump --format pprof: go tool pprof lists the target's own counts and the census's bytes, on every interpreter") {
  if (!have_go("the pprof test")) return;
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "known_heap.py");
    std::string err;
    auto line = t.ready_line(itest::kPatience, &err);
    REQUIRE_MESSAGE(line, err);
    const json truth = json::parse(*line);
    const std::string pid = std::to_string(t.pid());
    itest::TempDir dir;
    const std::string file = dir.path + "/census.pb.gz";
    auto r = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "pprof", "-o", file, "-q"}));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.empty());
    auto counts = pprof_top(file, {}, &err);
    INFO(err);
    std::map<std::string, long long> want;
    for (const auto& [hex, n] : truth.at("short").items()) want[itest::hex_decode(hex)] = n.get<long long>();
    REQUIRE(counts.size() > 10);
    CHECK(counts == want);
    // Bytes: the same as the JSON census of the same idle target.
    auto js = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json", "-q"}));
    REQUIRE(js.exit_code == 0);
    std::map<std::string, long long> bytes;
    const json census = json::parse(js.out);
    for (const auto& ty : census.at("types")) bytes[ty.at("name").get<std::string>()] = ty.at("bytes").get<long long>();
    const auto space = pprof_top(file, {"-sample_index=space"}, &err);
    std::string d;
    for (const auto& [name, n] : bytes)
      if (!space.count(name) || space.at(name) != n) d += fmt::format("{}: {} vs {}; ", name, space.count(name) ? space.at(name) : -1, n);
    CHECK_MESSAGE(space.size() == bytes.size(), d);
    CHECK_MESSAGE(d.empty(), d);
    // A binary profile never goes to a terminal; to a pipe it does.
    auto piped = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "pprof", "-q"}));
    CHECK(piped.exit_code == 0);
    CHECK(piped.out.substr(0, 2) == std::string("\x1f\x8b"));  // gzip
  }
}

TEST_CASE("dump --subprocesses --format pprof: the summed profile, and each process by its pid label") {
  if (!have_go("the pprof test")) return;
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "worker_pool.py");
  std::string err;
  auto line = t.ready_line(itest::kPatience, &err);
  REQUIRE_MESSAGE(line, err);
  const json truth = json::parse(*line);
  itest::TempDir dir;
  const std::string file = dir.path + "/pool.pb.gz";
  auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--subprocesses", "--format", "pprof", "-o", file, "-q"}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::map<std::string, long long> summed;
  json all = truth.at("workers");
  all.push_back(truth.at("master"));
  for (const auto& c : all) {
    std::map<std::string, long long> want;
    for (const auto& [hex, n] : c.at("short").items()) {
      want[itest::hex_decode(hex)] = n.get<long long>();
      summed[itest::hex_decode(hex)] += n.get<long long>();
    }
    const long long p = c.at("pid").get<long long>();
    CHECK_MESSAGE(pprof_top(file, {fmt::format("-tagfocus=pid=^{}$", p)}, &err) == want, "pid " << p << ": " << err);
  }
  CHECK(pprof_top(file, {}, &err) == summed);
}
