#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "objspy/census/series.hpp"
#include "objspy/cli/state_file.hpp"

using objspy::Snapshot;

namespace {

Snapshot snap(double t, std::map<std::string, std::uint64_t> counts) {
  Snapshot s;
  s.timestamp = t;
  s.counts = std::move(counts);
  return s;
}

}  // namespace

TEST_CASE("growth is what rose since the previous census, largest first") {
  auto rows = objspy::growth(snap(0, {{"a", 10}, {"b", 5}, {"c", 7}}), snap(1, {{"a", 12}, {"b", 4}, {"c", 17}, {"d", 1}}), 0);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].name == "c");
  CHECK(rows[0].delta() == 10);
  CHECK(rows[1].name == "a");
  CHECK(rows[2].name == "d");
  CHECK(objspy::growth(Snapshot{}, snap(1, {{"x", 3}}), 0)[0].delta() == 3);  // first run: from zero
}

TEST_CASE("diff lists every change, largest absolute first") {
  auto rows = objspy::diff(snap(0, {{"a", 10}, {"b", 50}}), snap(1, {{"a", 12}, {"c", 1}}), 0);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].name == "b");
  CHECK(rows[0].delta() == -50);
  CHECK(rows[1].name == "a");
}

TEST_CASE("suspects: a steady leak outranks a type that oscillates, even a bigger one") {
  std::vector<Snapshot> series;
  for (int i = 0; i < 30; ++i) {
    double t = i * 60.0;
    auto wave = static_cast<std::uint64_t>(5000 + 4000 * std::sin(i * 0.9) + i * 30);  // ends higher, goes up and down
    series.push_back(snap(t, {{"Leak", static_cast<std::uint64_t>(100 + 20 * i)}, {"Wave", wave}, {"Flat", 70}}));
  }
  auto rows = objspy::leak_suspects(series, 0);
  REQUIRE(rows.size() >= 1);
  CHECK(rows[0].name == "Leak");
  CHECK(rows[0].confidence == "high");
  CHECK(std::abs(rows[0].per_hour - 1200) < 1);
  for (const auto& r : rows) CHECK(r.name != "Flat");
  auto wave = std::find_if(rows.begin(), rows.end(), [](const auto& r) { return r.name == "Wave"; });
  if (wave != rows.end()) CHECK(wave->confidence != "high");
  CHECK(objspy::leak_suspects({series[0], series[1]}, 0).empty());  // too few samples
}

TEST_CASE("snapshots parse from dump JSON and record NDJSON; junk is an error") {
  auto s = objspy::parse_snapshot(R"({"pid": 7, "timestamp": 5.5, "total_objects": 3, "types": [{"name": "a", "count": 3}], "walk": {"complete": true}})");
  REQUIRE(s.ok());
  CHECK(s->pid == 7);
  CHECK(s->counts.at("a") == 3);
  auto series = objspy::parse_series("{\"types\": [{\"name\": \"a\", \"count\": 1}]}\n{\"event\": \"target_exited\"}\n{\"types\": []}\n");
  REQUIRE(series.ok());
  CHECK(series->size() == 2);
  CHECK_FALSE(objspy::parse_snapshot("{\"no\": 1}").ok());
  CHECK_FALSE(objspy::parse_series("{\"types\": [{\"name\": 1, \"count\": \"x\"}]}\n").ok());
  CHECK_FALSE(objspy::parse_series("not json\n").ok());
}

TEST_CASE("the state file is replaced atomically and a corrupt one is reported") {
  // Per process: other checkouts' test runs on the same machine use the same /tmp.
  auto dir = std::filesystem::temp_directory_path() / ("objspy-unit-state-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string path = (dir / "sub" / "state.json").string();
  {
    auto f = objspy::cli::StateFile::open(path);
    REQUIRE(f.ok());
    auto empty = f->load();
    REQUIRE(empty.ok());
    CHECK_FALSE(empty->has_value());
    REQUIRE(f->save(R"({"types": [{"name": "a", "count": 2}]})").ok());
    auto back = f->load();
    REQUIRE(back.ok());
    CHECK((*back)->counts.at("a") == 2);
  }
  bool saw_state = false;
  for (const auto& e : std::filesystem::directory_iterator(dir / "sub")) {
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);  // no leftovers
    saw_state |= e.path().filename() == "state.json";
  }
  CHECK(saw_state);  // the loop above looked at the real directory
  std::ofstream(path) << "{truncated";
  auto f = objspy::cli::StateFile::open(path);
  REQUIRE(f.ok());
  auto bad = f->load();
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("remove it") != std::string::npos);
  std::filesystem::remove_all(dir);
}
