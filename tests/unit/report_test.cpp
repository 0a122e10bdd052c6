// The HTML report's data and page: escaping for the script element, the one-pass builder's
// bounds (timeline thinning, failure messages) and its reading of record's event lines.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "objspy/census/report_data.hpp"
#include "objspy/output/report_html.hpp"

using namespace objspy;

namespace {

Snapshot census_at(double t, std::uint64_t total, bool complete = true) {
  Snapshot s;
  s.pid = 42;
  s.timestamp = t;
  s.total = total;
  s.complete = complete;
  s.python_version = "3.12.1";
  return s;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// The JSON of the page's data element.
nlohmann::json page_data(const std::string& html) {
  const std::string open = "<script id=\"objspy-data\" type=\"application/json\">";
  const auto a = html.find(open);
  REQUIRE(a != std::string::npos);
  const auto b = html.find("</script>", a);
  REQUIRE(b != std::string::npos);
  return nlohmann::json::parse(html.substr(a + open.size(), b - a - open.size()));
}

}  // namespace

TEST_CASE("json_for_script: nothing in a string can end the script element, and the value is the same") {
  const std::string name = "</script><script>alert(1)</script><!-- & \xe2\x80\xa8 \xe2\x80\xa9 ok";
  const std::string text = nlohmann::json({{"name", name}}).dump();
  const std::string safe = json_for_script(text);
  CHECK(safe.find('<') == std::string::npos);
  CHECK(safe.find('>') == std::string::npos);
  CHECK(safe.find('&') == std::string::npos);
  CHECK(safe.find("\xe2\x80\xa8") == std::string::npos);
  CHECK(safe.find("\xe2\x80\xa9") == std::string::npos);
  CHECK(safe.find("\\u003c/script\\u003e") != std::string::npos);
  CHECK(nlohmann::json::parse(safe).at("name") == name);
  CHECK(json_for_script("{\"a\":\"\xe2\x82\xac\"}") == "{\"a\":\"\xe2\x82\xac\"}");  // other 3-byte UTF-8 untouched
}

TEST_CASE("the report's timeline is thinned to a bound and keeps the span; health figures count every census") {
  ReportBuilder b;
  const std::size_t n = 10 * kMaxReportPoints + 3;
  for (std::size_t i = 0; i < n; ++i) {
    Snapshot s = census_at(1000.0 + static_cast<double>(i), 100 + i, i % 100 != 7);
    if (i % 10 == 0) s.pause_ms = static_cast<double>(i % 50);
    b.observe(&s, {});
  }
  BoundedSeries empty;
  const ReportData d = std::move(b).finish(empty, 0, 10);
  CHECK(d.censuses == n);
  CHECK(d.untrusted == (n + 92) / 100);
  CHECK(d.pid == 42);
  CHECK(d.python_version == "3.12.1");
  CHECK(d.first_t == 1000.0);
  CHECK(d.last_t == 1000.0 + static_cast<double>(n - 1));
  CHECK(d.timeline.size() <= kMaxReportPoints);
  CHECK(d.timeline.size() > kMaxReportPoints / 2);
  CHECK(d.timeline.front().t == 1000.0);
  CHECK(d.timeline.back().t == d.last_t);  // the last census is always drawn
  CHECK(d.paused == (n + 9) / 10);
  CHECK(d.pause_max_ms == 40);
  CHECK(d.suspects.empty());
}

TEST_CASE("record's event lines: failures by message (bounded), re-attaches, the target's exit; malformed lines count nothing") {
  ReportBuilder b;
  const Snapshot first = census_at(1, 10);
  b.observe(&first, {});
  for (int i = 0; i < 3; ++i) b.observe(nullptr, R"({"code":8,"error":"census incomplete","event":"census_failed","failures":1,"pid":42,"timestamp":2})");
  for (int i = 0; i < 20; ++i)
    b.observe(nullptr, nlohmann::json({{"event", "census_failed"}, {"error", "reason " + std::to_string(i)}}).dump());
  b.observe(nullptr, R"({"event":"reattached","reason":"exec","pid":42})");
  b.observe(nullptr, R"({"event":"census_failed","error":)");        // cut short: not JSON
  b.observe(nullptr, R"({"event":7})");                              // not an event name
  b.observe(nullptr, R"([1,2,3])");
  b.observe(nullptr, R"({"event":"target_exited","samples":1})");
  b.observe(nullptr, R"({"event":"census_failed","error":")" + std::string(100000, 'x') + "\"}");  // too long to be ours
  const ReportData d = std::move(b).finish(BoundedSeries(), 0, 10);
  CHECK(d.failed == 23);
  REQUIRE(d.failures.size() == kMaxReportFailures);
  CHECK(d.failures[0].first == "census incomplete");
  CHECK(d.failures[0].second == 3);
  CHECK(d.failures_other == 23 - 3 - (kMaxReportFailures - 1));
  CHECK(d.reattaches == 1);
  CHECK(d.exited);
}

TEST_CASE("the page: hostile names travel only inside the data element, suspects carry their points and fitted line") {
  BoundedSeries series;
  ReportBuilder b;
  const std::string evil = "</script><img src=x onerror=alert(1)>";
  for (int i = 0; i < 12; ++i) {
    Snapshot s = census_at(100.0 + 60.0 * i, 1000 + 10 * i);
    s.counts[evil] = 5 + 10 * static_cast<std::uint64_t>(i);
    s.counts["Steady"] = 300;
    series.add(s);
    b.observe(&s, {});
  }
  const ReportData d = std::move(b).finish(series, 0, 10);
  REQUIRE(d.suspects.size() == 1);
  CHECK(d.suspects[0].suspect.name == evil);
  CHECK(d.suspects[0].t.size() == 12);
  CHECK(d.suspects[0].counts.back() == 115);
  CHECK(d.suspects[0].suspect.per_hour == doctest::Approx(600));  // 10 per minute
  CHECK(d.suspects[0].suspect.line_at_start == doctest::Approx(5));
  const std::string html = render_report_html(d, "a <b>.ndjson");
  CHECK(occurrences(html, "</script>") == 3);  // data, uPlot, the page script: no other
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("<b>") == std::string::npos);
  CHECK(html.find("Content-Security-Policy") != std::string::npos);
  {  // nothing is loaded from anywhere (the data element may hold any text: left out here)
    const auto a = html.find("<script id=\"objspy-data\""), b = html.find("</script>", a);
    const std::string page = html.substr(0, a) + html.substr(b);
    CHECK(page.find(" src=") == std::string::npos);
    CHECK(page.find("<link") == std::string::npos);
    CHECK(page.find("url(") == std::string::npos);
  }
  const auto j = page_data(html);
  CHECK(j.at("suspects").at(0).at("name") == evil);
  CHECK(j.at("source") == "a <b>.ndjson");
  CHECK(j.at("censuses") == 12);
  CHECK(j.at("timeline").at("t").size() == 12);
}
