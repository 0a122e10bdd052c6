// One pass over a recording for the HTML report: see report_data.hpp.
#include "objspy/census/report_data.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace objspy {
namespace {

// An event line objspy writes is a few hundred bytes; a longer one is not parsed (not ours).
constexpr std::size_t kMaxEventLine = 64 * 1024;
// A failure message is one line; what is kept of it for the report.
constexpr std::size_t kMaxFailureText = 300;

// Keeps elements 0, 2, 4, ...: the span stays, the resolution halves.
template <class V>
void halve(V& v) {
  std::size_t w = 0;
  for (std::size_t r = 0; r < v.size(); r += 2, ++w) v[w] = std::move(v[r]);
  v.resize(w);
}

}  // namespace

void ReportBuilder::observe(const Snapshot* s, std::string_view line) {
  if (!s) return event(line);
  auto& d = data_;
  if (d.censuses == 0) {
    d.pid = s->pid;
    d.first_t = s->timestamp;
  }
  if (d.python_version.empty()) d.python_version = s->python_version;
  d.last_t = s->timestamp;
  ++d.censuses;
  if (!s->trusted()) ++d.untrusted;
  if (s->pause_ms >= 0) {
    ++d.paused;
    d.pause_max_ms = std::max(d.pause_max_ms, s->pause_ms);
    pause_sum_ += s->pause_ms;
  }
  last_ = ReportPoint{s->timestamp, s->total, s->trusted(), s->pause_ms, s->rss_bytes};
  if (seen_++ % stride_ == 0) {
    d.timeline.push_back(last_);
    if (d.timeline.size() > kMaxReportPoints) {
      halve(d.timeline);
      stride_ *= 2;
    }
  }
}

void ReportBuilder::event(std::string_view line) {
  if (line.size() > kMaxEventLine) return;
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return;
  const auto kind = j.find("event");
  if (kind == j.end() || !kind->is_string()) return;
  auto& d = data_;
  const auto& k = kind->get_ref<const std::string&>();
  if (k == "census_failed") {
    ++d.failed;
    std::string why = "(no message)";
    if (auto e = j.find("error"); e != j.end() && e->is_string()) why = e->get<std::string>().substr(0, kMaxFailureText);
    auto it = std::find_if(d.failures.begin(), d.failures.end(), [&](const auto& f) { return f.first == why; });
    if (it != d.failures.end()) ++it->second;
    else if (d.failures.size() < kMaxReportFailures) d.failures.emplace_back(std::move(why), 1);
    else ++d.failures_other;
  } else if (k == "reattached") {
    ++d.reattaches;
  } else if (k == "target_exited") {
    d.exited = true;
  }
}

ReportData ReportBuilder::finish(const BoundedSeries& ranked, std::size_t skipped, std::size_t suspects_limit) && {
  auto& d = data_;
  d.pause_mean_ms = d.paused ? pause_sum_ / static_cast<double>(d.paused) : 0;
  if (!d.timeline.empty() && d.timeline.back().t != last_.t) {  // the chart ends at the last census
    if (d.timeline.size() < kMaxReportPoints) d.timeline.push_back(last_);
    else d.timeline.back() = last_;
  }
  d.over = ranked_over(ranked, skipped);
  const auto& ts = ranked.timestamps();
  d.series_start = ts.empty() ? 0 : ts.front();
  for (auto& s : leak_suspects(ranked, suspects_limit)) {
    ReportSuspect r;
    for (const auto& col : ranked.columns()) {
      if (col.name != s.name) continue;
      const std::size_t n = ts.size() - std::min(ts.size(), col.known_from);
      const std::size_t step = (n + kMaxReportPoints - 1) / kMaxReportPoints;
      for (std::size_t i = col.known_from; i < ts.size(); i += std::max<std::size_t>(step, 1)) {
        r.t.push_back(ts[i]);
        r.counts.push_back(col.at(i));
      }
      if (n && (r.t.empty() || r.t.back() != ts.back())) {  // the last sample is always drawn
        r.t.push_back(ts.back());
        r.counts.push_back(col.at(ts.size() - 1));
      }
      break;
    }
    r.suspect = std::move(s);
    d.suspects.push_back(std::move(r));
  }
  return std::move(d);
}

}  // namespace objspy
