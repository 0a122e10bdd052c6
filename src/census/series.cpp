#include "objspy/census/series.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace objspy {
namespace {

// Each non-blank line of `text` with its number, until `fn` returns an error.
template <class Fn>
Status each_line(std::string_view text, Fn&& fn) {
  std::size_t lineno = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    OBJSPY_TRY(fn(line, lineno));
  }
  return {};
}

// One NDJSON line: a census, nullopt for an event line; errors name the line.
Result<std::optional<Snapshot>> census_line(std::string_view line, std::size_t lineno) {
  bool not_json = false;
  auto s = parse_census_document(line, &not_json);
  if (!s.ok()) {
    if (not_json) return make_error(Errc::io, fmt::format("line {} is not JSON", lineno));
    return make_error(Errc::io, fmt::format("line {}: {}", lineno, s.error().message));
  }
  return s;
}

}  // namespace

bool trusted_census(bool complete, std::uint64_t uncertain, std::uint64_t total) {
  if (complete) return true;
  if (uncertain == 0) return false;  // incomplete with no estimate: a partial count
  WalkStatus w;
  w.uncertain = uncertain;
  return coverage(w, total) >= kMinCoverage;
}

double Snapshot::coverage() const {
  WalkStatus w;
  w.uncertain = uncertain;
  return objspy::coverage(w, total);
}

Snapshot snapshot_of(const Census& c, NameForm form) {
  Snapshot s;
  s.pid = c.pid;
  s.timestamp = c.timestamp;
  s.total = c.total;
  s.complete = c.walk.complete;
  s.uncertain = c.walk.torn ? 0 : c.walk.uncertain;
  for (const auto& r : most_common(c, form)) s.counts[r.name] = r.count;
  return s;
}

Result<Snapshot> parse_snapshot(std::string_view text) {
  // A JSON document, or NDJSON whose last trusted census line is taken.
  bool not_json = false;
  auto one = parse_census_document(text, &not_json);
  if (!not_json) {
    if (!one.ok()) return one.take_error();
    if (!one->has_value()) return make_error(Errc::io, "an event line, not a census");
    return std::move(**one);
  }
  // Line by line, keeping only the best so far: memory is two censuses, not the recording.
  std::optional<Snapshot> last, last_trusted;
  OBJSPY_TRY(each_line(text, [&](std::string_view line, std::size_t lineno) -> Status {
    OBJSPY_ASSIGN(auto s, census_line(line, lineno));
    if (!s) return {};
    if (s->trusted()) last_trusted = std::move(*s);
    else last = std::move(*s);
    return {};
  }));
  if (last_trusted) return std::move(*last_trusted);
  if (last) return std::move(*last);  // none is trusted: the caller sees it (Snapshot::trusted)
  return make_error(Errc::io, "no census in the input");
}

TrustedSeries trusted_only(std::vector<Snapshot> series) {
  TrustedSeries out;
  out.samples.reserve(series.size());
  for (auto& s : series) {
    if (s.trusted()) out.samples.push_back(std::move(s));
    else ++out.skipped;
  }
  return out;
}

Result<std::vector<Snapshot>> parse_series(std::string_view text) {
  std::vector<Snapshot> out;
  OBJSPY_TRY(each_line(text, [&](std::string_view line, std::size_t lineno) -> Status {
    OBJSPY_ASSIGN(auto s, census_line(line, lineno));
    if (s) out.push_back(std::move(*s));
    return {};
  }));
  return out;
}

std::vector<Change> growth(const Snapshot& before, const Snapshot& after, std::size_t limit) {
  std::vector<Change> out;
  for (const auto& [name, n] : after.counts) {
    auto it = before.counts.find(name);
    std::uint64_t old = it == before.counts.end() ? 0 : it->second;
    if (n > old) out.push_back({name, old, n});
  }
  std::sort(out.begin(), out.end(), [](const Change& a, const Change& b) {
    return a.delta() != b.delta() ? a.delta() > b.delta() : a.name < b.name;
  });
  if (limit && out.size() > limit) out.resize(limit);
  return out;
}

std::vector<Change> diff(const Snapshot& before, const Snapshot& after, std::size_t limit) {
  // Both maps are sorted by name: one merge, no copy of every name.
  std::vector<Change> out;
  auto b = before.counts.begin(), a = after.counts.begin();
  while (b != before.counts.end() || a != after.counts.end()) {
    const bool take_b = b != before.counts.end() && (a == after.counts.end() || b->first <= a->first);
    const bool take_a = a != after.counts.end() && (b == before.counts.end() || a->first <= b->first);
    const std::uint64_t old_n = take_b ? b->second : 0, new_n = take_a ? a->second : 0;
    if (old_n != new_n) out.push_back(Change{take_b ? b->first : a->first, old_n, new_n});
    if (take_b) ++b;
    if (take_a) ++a;
  }
  std::sort(out.begin(), out.end(), [](const Change& x, const Change& y) {
    auto ax = std::llabs(x.delta()), ay = std::llabs(y.delta());
    if (ax != ay) return ax > ay;
    if (x.delta() != y.delta()) return x.delta() > y.delta();
    return x.name < y.name;
  });
  if (limit && out.size() > limit) out.resize(limit);
  return out;
}

void DenseSeries::add(const Snapshot& s) {
  std::vector<std::uint64_t> row(names.size(), 0);
  for (const auto& [name, count] : s.counts) {
    auto [it, fresh] = ids_.try_emplace(name, static_cast<std::uint32_t>(names.size()));
    if (fresh) names.push_back(name);
    if (it->second >= row.size()) row.resize(it->second + 1, 0);
    row[it->second] = count;
  }
  timestamps.push_back(s.timestamp);
  rows.push_back(std::move(row));
}

std::vector<Suspect> leak_suspects(const std::vector<Snapshot>& series, std::size_t limit) {
  DenseSeries d;
  for (const auto& s : series)
    if (s.trusted()) d.add(s);
  return leak_suspects(d, limit);
}

std::vector<Suspect> leak_suspects(const DenseSeries& series, std::size_t limit) {
  std::vector<Suspect> out;
  const std::size_t samples = series.size();
  if (samples < 3) return out;
  const double t0 = series.timestamps.front();
  std::vector<double> xs(samples), ys(samples);
  for (std::size_t i = 0; i < samples; ++i) xs[i] = (series.timestamps[i] - t0) / 3600.0;
  const double n = static_cast<double>(samples);
  double mx = 0;
  for (double x : xs) mx += x;
  mx /= n;
  double total_growth = 0;
  for (std::size_t id = 0; id < series.names.size(); ++id) {
    double my = 0;
    for (std::size_t i = 0; i < samples; ++i) {
      const auto& row = series.rows[i];
      ys[i] = id < row.size() ? static_cast<double>(row[id]) : 0.0;
      my += ys[i];
    }
    my /= n;
    double sxx = 0, sxy = 0, syy = 0;
    for (std::size_t i = 0; i < samples; ++i) {
      sxx += (xs[i] - mx) * (xs[i] - mx);
      sxy += (xs[i] - mx) * (ys[i] - my);
      syy += (ys[i] - my) * (ys[i] - my);
    }
    if (sxx <= 0 || syy <= 0) continue;  // no time span, or a flat count
    Suspect s;
    s.name = series.names[id];
    s.first = static_cast<std::uint64_t>(ys.front());
    s.last = static_cast<std::uint64_t>(ys.back());
    s.per_hour = sxy / sxx;
    s.r2 = (sxy * sxy) / (sxx * syy);
    std::size_t up = 0, down = 0;
    for (std::size_t i = 1; i < samples; ++i) {
      if (ys[i] > ys[i - 1]) ++up;
      else if (ys[i] < ys[i - 1]) ++down;
    }
    s.rising = static_cast<double>(up) / (n - 1);
    s.falling = static_cast<double>(down) / (n - 1);
    if (s.per_hour <= 0 || s.last <= s.first) continue;
    s.score = s.per_hour * s.r2 * std::max(0.0, s.rising - s.falling);
    total_growth += static_cast<double>(s.last - s.first);
    out.push_back(s);
  }
  for (auto& s : out) {
    s.share = total_growth > 0 ? static_cast<double>(s.last - s.first) / total_growth : 0;
    const bool many = samples >= 10;
    if (many && s.r2 >= 0.9 && s.rising >= 0.8 && s.falling <= 0.1) s.confidence = "high";
    else if (samples >= 5 && s.r2 >= 0.6 && s.rising > s.falling * 2) s.confidence = "medium";
    else s.confidence = "low";
  }
  std::sort(out.begin(), out.end(), [](const Suspect& a, const Suspect& b) {
    return a.score != b.score ? a.score > b.score : a.name < b.name;
  });
  if (limit && out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace objspy
