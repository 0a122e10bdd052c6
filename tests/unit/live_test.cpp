#include <doctest/doctest.h>

#include <fmt/format.h>

#include "objspy/census/live.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/output/duration.hpp"
#include "objspy/output/top.hpp"

using namespace objspy;

namespace {

Census census(double t, std::vector<std::pair<std::string, std::uint64_t>> counts) {
  Census c;
  c.pid = 42;
  c.python_version = "3.12.1";
  c.timestamp = t;
  std::uint64_t addr = 0x1000;
  for (auto& [n, k] : counts) {
    TypeStat s;
    s.type_addr = addr += 0x100;
    s.name = n;
    s.qualified = "mod." + n;
    s.count = k;
    c.total += k;
    c.types.push_back(s);
  }
  return c;
}

const LiveRow& row(const std::vector<LiveRow>& rows, const std::string& name) {
  for (const auto& r : rows)
    if (r.name == name) return r;
  FAIL("no row " << name);
  return rows.front();
}

// The census of a leak under load, as the sampler gives it: every 5th is torn (`Leak` at
// 10%, the rest at 30%; a partial count or, `estimated`, coverage 0.3).
Census leak_census(int i, bool estimated) {
  const auto leak = static_cast<std::uint64_t>(1000 + 50 * i);
  const bool torn = i % 5 == 4;
  Census c = census(i * 0.5, {{"Leak", torn ? leak / 10 : leak}, {"Node", torn ? 15000u : 50000u + i % 3}, {"dict", torn ? 6000u : 20000u}});
  if (torn) {
    c.walk.complete = false;
    if (estimated) c.walk.uncertain = c.total * 7 / 3;
  }
  return c;
}

}  // namespace

TEST_CASE("live series: torn censuses are shown, marked, and never ranked nor counted from") {
  for (bool estimated : {false, true}) {
    INFO("torn censuses " << (estimated ? "with a low coverage estimate" : "as partial counts"));
    LiveSeries s(NameForm::short_name);
    for (int i = 0; i < 30; ++i) s.add(leak_census(i, estimated));
    CHECK(s.samples() == 30);
    CHECK(s.skipped() == 6);
    CHECK(s.window_size() == 24);
    CHECK(s.window_hours() == doctest::Approx(28 * 0.5 / 3600));  // the last trusted one is at 28
    auto ranked = s.suspects(0);
    REQUIRE_FALSE(ranked.empty());
    CHECK(ranked[0].name == "Leak");
    CHECK(ranked[0].confidence == "high");
    CHECK(ranked[0].falling == 0);
    // The latest (29) is torn: shown as it is, its change counted from the last good one.
    auto rows = s.rows(LiveSort::growth, false);
    CHECK(row(rows, "Leak").count == (1000 + 50 * 29) / 10);
    CHECK(row(rows, "Leak").since_last == static_cast<std::int64_t>((1000 + 50 * 29) / 10) - (1000 + 50 * 28));
    CHECK(row(rows, "Leak").confidence == "high");
    TopView v;
    auto lines = render_top(s, leak_census(29, estimated), v);
    CHECK(lines[0].find(estimated ? "INCOMPLETE (coverage 30.0%, not ranked)" : "INCOMPLETE (partial count, not ranked)") != std::string::npos);
    CHECK(lines[1].find("30 samples (6 incomplete, not ranked)") != std::string::npos);
    // The next good census: its change is counted from the last good one, not from the dip.
    s.add(leak_census(30, estimated));
    rows = s.rows(LiveSort::recent, false);
    CHECK(row(rows, "Leak").since_last == 100);
    CHECK(row(rows, "Leak").since_start == 50 * 30);
    lines = render_top(s, leak_census(30, estimated), v);
    CHECK(lines[0].find("INCOMPLETE") == std::string::npos);
  }
}

TEST_CASE("live series: an estimated census within tolerance is ranked, with its coverage shown") {
  LiveSeries s(NameForm::short_name);
  for (int i = 0; i < 12; ++i) {
    Census c = census(i, {{"Leak", 100u + 10u * i}, {"Flat", 500}});
    c.walk.complete = false;
    c.walk.uncertain = i % 2;  // 0 or 1 of ~600: a partial count when 0, coverage 0.998 when 1
    s.add(c);
  }
  CHECK(s.skipped() == 6);
  CHECK(s.window_size() == 6);
  Census ok = census(12, {{"Leak", 220}, {"Flat", 500}});
  ok.walk.complete = false;
  ok.walk.uncertain = 1;
  s.add(ok);
  CHECK(s.skipped() == 6);
  CHECK(s.window_size() == 7);
  CHECK(s.first().timestamp == 1);  // the torn first census is not the start
  TopView v;
  auto lines = render_top(s, ok, v);
  CHECK(lines[0].find(", coverage 99.9%") != std::string::npos);
  CHECK(lines[0].find("INCOMPLETE") == std::string::npos);
  CHECK(lines[0].find("RSS") == std::string::npos);  // no memory read: none shown
  ok.memory = ProcessMemory{15 * 1024 * 1024 + 512 * 1024, 0, 0, 0};
  lines = render_top(s, ok, v);
  CHECK(lines[0].find(", coverage 99.9%, RSS 15.5 MiB") != std::string::npos);
}

TEST_CASE("live series: change since the last sample and since the start, types that died out included") {
  LiveSeries s(NameForm::short_name);
  s.add(census(0, {{"a", 10}, {"b", 50}, {"gone", 5}}));
  s.add(census(10, {{"a", 15}, {"b", 40}, {"gone", 1}}));
  s.add(census(20, {{"a", 30}, {"b", 45}, {"new", 2}}));
  auto rows = s.rows(LiveSort::growth, false);
  CHECK(row(rows, "a").since_start == 20);
  CHECK(row(rows, "a").since_last == 15);
  CHECK(row(rows, "b").since_start == -5);
  CHECK(row(rows, "b").since_last == 5);
  CHECK(row(rows, "gone").count == 0);
  CHECK(row(rows, "gone").since_start == -5);
  CHECK(row(rows, "new").since_start == 2);
  CHECK(rows.front().name == "a");
  CHECK(rows.back().name == "gone");
  CHECK(s.rows(LiveSort::count, false).front().name == "b");
  CHECK(s.rows(LiveSort::count, true).front().name == "gone");
  CHECK(s.rows(LiveSort::recent, false).front().name == "a");
  CHECK(s.rows(LiveSort::name, false).front().name == "a");
  CHECK(s.rows(LiveSort::name, true).front().name == "new");
  // Only "a" rose at every step: it is the suspect, with a rate per hour.
  const auto by_rate = s.rows(LiveSort::rate, false);
  const auto& a = row(by_rate, "a");
  CHECK_FALSE(a.confidence.empty());
  CHECK(a.per_hour == doctest::Approx(3600.0 * 20 / 20));
  CHECK(s.rows(LiveSort::rate, false).front().name == "a");
}

TEST_CASE("the suspects window stays bounded in samples and in types, and keeps the whole span") {
  // A new name every sample, forever: the window keeps 8 samples and 16 types, whatever comes.
  BoundedSeries w(16, 8);
  for (int i = 0; i < 1000; ++i) {
    Snapshot s;
    s.timestamp = i;
    s.counts["t" + std::to_string(i)] = static_cast<std::uint64_t>(i + 1);
    s.counts["Leak"] = static_cast<std::uint64_t>(10 * i + 1);
    w.add(s);
  }
  CHECK(w.size() <= 8);
  CHECK(w.timestamps().front() == 0);
  CHECK(w.timestamps().back() == 999);
  for (std::size_t i = 1; i < w.size(); ++i) CHECK(w.timestamps()[i - 1] < w.timestamps()[i]);
  CHECK(w.columns().size() <= 16);
  CHECK(w.folded());
  CHECK(w.other().size() == w.size());
  for (const auto& c : w.columns()) CHECK(c.counts.size() == w.size() - c.known_from);  // sparse: from where it is known
  // Every sample still adds up: the kept columns and `other` hold all the objects of it.
  for (std::size_t j = 0; j < w.size(); ++j) {
    const auto i = static_cast<std::uint64_t>(w.timestamps()[j]);
    std::uint64_t sum = w.other()[j];
    for (const auto& c : w.columns()) sum += c.at(j);
    CHECK(sum == (i + 1) + (10 * i + 1));
  }
  auto ranked = leak_suspects(w, 0);
  REQUIRE_FALSE(ranked.empty());
  CHECK(ranked[0].name == "Leak");
}

TEST_CASE("live series: the suspects window keeps at most --max-types types") {
  LiveSeries s(NameForm::short_name, 3);
  for (int i = 0; i < 40; ++i) {
    std::vector<std::pair<std::string, std::uint64_t>> counts{{"Leak", 100u + 10u * i}, {"dict", 5000}, {"list", 4000}};
    for (int k = 0; k < 20; ++k) counts.emplace_back(fmt::format("Fresh{}", i * 20 + k), 1);  // never seen again
    s.add(census(i, counts));
  }
  CHECK(s.window().columns().size() == 3);
  const auto over = s.ranked();
  CHECK(over.folded);
  CHECK(over.max_types == 3);
  CHECK(over.other_types == 20);
  CHECK(over.other_objects == 20);
  auto ranked = s.suspects(0);
  REQUIRE(ranked.size() == 1);
  CHECK(ranked[0].name == "Leak");
  CHECK(ranked[0].confidence == "high");
  // top still lists every type of the latest census; only the ranking is bounded, and says so.
  CHECK(s.rows(LiveSort::count, false).size() == 3 + 20 + 20);
  TopView v;
  CHECK(render_top(s, census(40, {{"Leak", 500}}), v)[1].find("40 samples over 39s, every 0ms, suspects among 3 types;") != std::string::npos);
}

TEST_CASE("top's table fits the terminal and escapes names") {
  LiveSeries s(NameForm::short_name);
  s.add(census(0, {{"Evil\x1b[31m", 3}, {std::string(300, 'x'), 2}, {"\xe6\x97\xa5\xe6\x9c\xac", 1}}));
  TopView v;
  v.width = 70;
  v.max_rows = 2;
  v.interval_s = 0.5;
  v.keys = true;
  v.status = "note\x1b]0;x\x07";
  auto lines = render_top(s, census(0, {{"a", 1}}), v);
  REQUIRE(lines.size() == 4 + 2);  // header, samples line, status, column heads, 2 rows
  for (const auto& l : lines) {
    CHECK(display_width(l) <= 70);
    CHECK(l.find('\x1b') == std::string::npos);
    CHECK(l.find('\x07') == std::string::npos);
  }
  CHECK(lines[1].find("every 500ms") != std::string::npos);
  CHECK(lines[1].find("q quit") == std::string::npos);  // cut to the width
  // The counts take 61 columns: the name gets the 9 left, its start and end around a "…",
  // never a part of its escape.
  CHECK(lines[4].ends_with("Evil\u2026[31m"));
  v.width = 200;
  lines = render_top(s, census(0, {{"a", 1}}), v);
  CHECK(lines[4].find("Evil\\x1b[31m") != std::string::npos);  // room enough: whole
  v.width = 0;
  v.max_rows = 0;
  lines = render_top(s, census(0, {{"a", 1}}), v);
  CHECK(lines.size() == 4 + 3);
  // No terminal width, but a name still gets at most kNameColumns.
  CHECK(lines[5].find(std::string(29, 'x') + "\u2026" + std::string(30, 'x')) != std::string::npos);
  CHECK(lines[5].find(std::string(31, 'x')) == std::string::npos);
}

TEST_CASE("human spans of time") {
  CHECK(human_span(0.25) == "250ms");
  CHECK(human_span(1.5) == "1.5s");
  CHECK(human_span(42) == "42s");
  CHECK(human_span(330) == "5m30s");
  CHECK(human_span(3 * 3600 + 5 * 60) == "3h05m");
  CHECK(human_span(2 * 86400 + 4 * 3600) == "2d04h");
  CHECK(human_span(-3) == "0ms");
}
