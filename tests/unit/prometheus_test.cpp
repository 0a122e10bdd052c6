#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>

#include "objspy/output/prometheus.hpp"

using namespace objspy;

namespace {

Census census(std::vector<std::pair<std::string, std::uint64_t>> counts) {
  Census c;
  c.pid = 7;
  c.python_version = "3.13.0";
  c.timestamp = 1700000000.5;
  c.duration_ms = 12.5;
  c.generations = {1, 2, 3};
  std::uint64_t addr = 0x1000;
  for (auto& [n, k] : counts) {
    TypeStat s;
    s.type_addr = addr += 0x100;
    s.name = n;
    s.qualified = n;
    s.count = k;
    c.total += k;
    c.types.push_back(s);
  }
  return c;
}

std::map<std::string, std::string> type_series(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("objspy_type_objects{", 0) != 0) continue;
    auto sp = l.rfind(' ');
    REQUIRE_MESSAGE(out.emplace(l.substr(0, sp), l.substr(sp + 1)).second, "series written twice: " << l);
  }
  return out;
}

}  // namespace

TEST_CASE("label values: valid UTF-8, escapes the format defines, no control characters") {
  CHECK(prometheus_label_value("dict") == "dict");
  CHECK(prometheus_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  CHECK(prometheus_label_value("\x1b[31m") == "\xEF\xBF\xBD[31m");
  CHECK(prometheus_label_value("x\x7fy\rz") == "x\xEF\xBF\xBDy\xEF\xBF\xBDz");
  CHECK(prometheus_label_value("\xC2\x9B" "1m") == "\xEF\xBF\xBD" "1m");  // C1 CSI
  CHECK(prometheus_label_value("\xff") == "\xEF\xBF\xBD");                // invalid UTF-8
  CHECK(prometheus_label_value("\xe6\x97\xa5") == "\xe6\x97\xa5");
  // Invisible and direction-changing characters would make a dashboard show one name for
  // another: replaced like controls.
  CHECK(prometheus_label_value("a\u202eb\u200ec\u061cd\ufeffe\u200bf") == "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf");
  CHECK(prometheus_label_value("tag\U000E0041") == "tag\uFFFD");
  CHECK(prometheus_label_value("\u2026\u00e9") == "\u2026\u00e9");
}

TEST_CASE("per-type series: top N by count, the rest in other, never a series twice") {
  auto c = census({{"dict", 100}, {"list", 50}, {"tuple", 50}, {"other", 7}, {"a\x01", 3}, {"a\x02", 4}, {"x", 1}});
  ExporterState s;
  s.up = true;
  s.censuses = 3;
  s.top_types = 3;
  auto text = render_prometheus(&c, &c, s);
  auto series = type_series(text);
  CHECK(series.size() == 4);
  CHECK(series["objspy_type_objects{type=\"dict\"}"] == "100");
  CHECK(series["objspy_type_objects{type=\"list\"}"] == "50");
  CHECK(series["objspy_type_objects{type=\"tuple\"}"] == "50");
  CHECK(series["objspy_type_objects{type=\"other\"}"] == "15");  // 7 ("other" itself) + 3 + 4 + 1
  // All types: the two names that sanitize alike are one series, and "other" is the bucket.
  s.top_types = 0;
  series = type_series(render_prometheus(&c, &c, s));
  CHECK(series.size() == 6);  // dict, list, tuple, a\uFFFD, x, other
  CHECK(series["objspy_type_objects{type=\"a\xEF\xBF\xBD\"}"] == "7");
  CHECK(series["objspy_type_objects{type=\"other\"}"] == "7");
  CHECK(text.find("objspy_gc_objects 215\n") != std::string::npos);
  CHECK(text.find("objspy_gc_generation_objects{generation=\"2\"} 3\n") != std::string::npos);
  CHECK(text.find("objspy_census_duration_seconds 0.0125\n") != std::string::npos);
  CHECK(text.find("objspy_censuses_total 3\n") != std::string::npos);
  CHECK(text.find("objspy_up 1\n") != std::string::npos);
}

TEST_CASE("every metric has HELP and TYPE once, counters end in _total, and a down target has no stale counts") {
  auto c = census({{"dict", 1}});
  ExporterState s;
  s.up = true;
  auto text = render_prometheus(&c, &c, s);
  std::set<std::string> typed, helped;
  int counters = 0;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    std::istringstream w(l);
    std::string hash, kind, name, type;
    w >> hash >> kind >> name >> type;
    if (hash != "#") continue;
    if (kind == "TYPE") {
      CHECK(typed.insert(name).second);
      counters += type == "counter";
      if (type == "counter") CHECK(name.size() > 6);
      if (type == "counter") CHECK(name.substr(name.size() - 6) == "_total");
    } else {
      CHECK(helped.insert(name).second);
    }
  }
  CHECK(typed == helped);
  CHECK(typed.count("objspy_up") == 1);  // the loop above saw the real exposition
  CHECK(counters >= 3);                   // censuses, incomplete and failures
  s.up = false;
  s.failures = 1;
  auto down = render_prometheus(&c, &c, s);
  CHECK(down.find("objspy_up 0\n") != std::string::npos);
  CHECK(down.find("objspy_type_objects") == std::string::npos);
  CHECK(down.find("objspy_census_failures_total 1\n") != std::string::npos);
  CHECK(render_prometheus(nullptr, nullptr, ExporterState{}).find("objspy_up 0\n") != std::string::npos);
}

TEST_CASE("a torn census never reaches the type series: the last good counts stay, its coverage is exported") {
  auto good = census({{"Leak", 900}, {"dict", 100}});
  auto torn = census({{"Leak", 90}, {"dict", 30}});
  torn.timestamp = good.timestamp + 15;
  torn.duration_ms = 40;
  torn.walk.complete = false;
  ExporterState s;
  s.up = true;
  s.censuses = 2;
  s.incomplete = 1;
  s.skipped = 1;
  // A partial count (no estimate): coverage unknown, exported as 0.
  auto text = render_prometheus(&good, &torn, s);
  auto series = type_series(text);
  CHECK(series["objspy_type_objects{type=\"Leak\"}"] == "900");
  CHECK(text.find("objspy_gc_objects 1000\n") != std::string::npos);
  CHECK(text.find("objspy_census_complete 0\n") != std::string::npos);
  CHECK(text.find("objspy_census_coverage 0\n") != std::string::npos);
  CHECK(text.find("objspy_census_skipped_total 1\n") != std::string::npos);
  CHECK(text.find("objspy_census_incomplete_total 1\n") != std::string::npos);
  CHECK(text.find("objspy_census_duration_seconds 0.04\n") != std::string::npos);  // the latest census's cost
  CHECK(text.find("objspy_census_timestamp_seconds 1700000015.500\n") != std::string::npos);
  CHECK(text.find("objspy_counts_timestamp_seconds 1700000000.500\n") != std::string::npos);
  // An estimate: coverage 0.3.
  torn.walk.uncertain = torn.total * 7 / 3;
  text = render_prometheus(&good, &torn, s);
  CHECK(text.find("objspy_census_coverage 0.3\n") != std::string::npos);
  CHECK(type_series(text)["objspy_type_objects{type=\"Leak\"}"] == "900");
  // No trusted census yet: no counts at all rather than partial ones, but the quality is there.
  text = render_prometheus(nullptr, &torn, s);
  CHECK(type_series(text).empty());
  CHECK(text.find("objspy_gc_objects") == std::string::npos);
  CHECK(text.find("objspy_census_coverage 0.3\n") != std::string::npos);
  CHECK(text.find("objspy_up 1\n") != std::string::npos);
  // Exact: coverage 1.
  text = render_prometheus(&good, &good, s);
  CHECK(text.find("objspy_census_coverage 1\n") != std::string::npos);
  CHECK(text.find("objspy_census_complete 1\n") != std::string::npos);
}
