// Series that know their quality, against a real busy process: a steady leak recorded while
// another thread churns the heap is rated "high" and first, whatever censuses came out torn.
// `record` writes every census line with its walk fields; the closing suspects (and the
// offline `suspects`) skip the censuses that the quality rule does not trust.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

namespace {

constexpr double kLeakRate = 200;  // per second, as the target is told
const std::string kLeaked = "ObjspyLeakedRecord";

std::vector<nlohmann::json> read_ndjson(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));  // throws (fails) on a torn line
  return out;
}

// The rule the readers follow (series.hpp), restated from the document's own fields so the
// test does not take objspy's word for it.
bool trusted(const nlohmann::json& census) {
  const auto& w = census.at("walk");
  if (w.at("complete").get<bool>()) return true;
  const auto uncertain = w.at("uncertain").get<std::uint64_t>();
  const auto total = census.at("total_objects").get<std::uint64_t>();
  return uncertain > 0 && static_cast<double>(total) / static_cast<double>(total + uncertain) >= 0.99;
}

}  // namespace

TEST_CASE("a steady leak recorded under churn is rated high and first; torn censuses are written but not ranked") {
  const auto& found = itest::discover().found;
  REQUIRE_FALSE(found.empty());
  for (const auto& py : found) {
    INFO(py.label);
    itest::Target t(py, "busy_leak.py", {{"LEAK_RATE", fmt::format("{}", kLeakRate)}});
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(120, &err), err);
    char tmpl[] = "/tmp/objspy-itest-XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    const std::string out = dir + "/busy.ndjson";
    auto r = itest::run(itest::objspy({"record", "--pid", std::to_string(t.pid()), "--interval", "500ms", "--count", "12", "--suspects",
                                       "0", "-o", out}),
                        120);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string answer = t.ask("leaked", 30);  // the target's own count, after the last census
    REQUIRE_FALSE(answer.empty());
    const long long leaked_after = std::stoll(answer);

    auto lines = read_ndjson(out);
    REQUIRE(lines.size() >= 2);
    const auto closing = lines.back();
    REQUIRE(closing.at("event") == "suspects");
    lines.pop_back();
    std::size_t torn = 0;
    for (const auto& l : lines) {
      REQUIRE(l.contains("types"));  // every census is written, torn or not, with its walk fields
      REQUIRE(l.at("walk").contains("uncertain"));
      REQUIRE(l.at("walk").contains("coverage"));
      torn += !trusted(l);
    }
    CHECK(lines.size() == 12);  // --count: as many censuses however long each takes (ASan, a loaded machine)
    MESSAGE(fmt::format("{}: {} censuses, {} not trusted", py.label, lines.size(), torn));
    CHECK(closing.at("skipped") == torn);
    CHECK(closing.at("samples") == lines.size() - torn);

    // The closing ranking and the offline one agree: the leak first, rated high, with the
    // target's own rate and no more objects than it leaked.
    auto offline = itest::run(itest::objspy({"suspects", out, "--json", "--limit", "0"}));
    REQUIRE(offline.exit_code == 0);
    const auto from_file = nlohmann::json::parse(offline.out);
    CHECK(from_file.at("skipped") == torn);
    for (const auto* ranking : {&closing, &from_file}) {
      const auto& suspects = ranking->at("suspects");
      REQUIRE_FALSE(suspects.empty());
      const auto& top = suspects[0];
      CHECK(top.at("name") == kLeaked);
      CHECK(top.at("confidence") == "high");
      if (top.at("name") != kLeaked) continue;
      CHECK(top.at("last").get<long long>() <= leaked_after);
      CHECK(top.at("last").get<long long>() > top.at("first").get<long long>());
      CHECK(std::abs(top.at("per_hour").get<double>() / (kLeakRate * 3600) - 1) < 0.25);
    }
    std::filesystem::remove_all(dir);
  }
}
