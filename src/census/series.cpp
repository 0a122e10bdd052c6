#include "objspy/census/series.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace objspy {
namespace {

Result<Snapshot> from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("types") || !j["types"].is_array())
    return make_error(Errc::io, "not an objspy census (no \"types\" array)");
  Snapshot s;
  s.pid = j.value("pid", 0);
  s.timestamp = j.value("timestamp", 0.0);
  s.total = j.value("total_objects", std::uint64_t{0});
  if (j.contains("walk") && j["walk"].is_object()) {
    const auto& w = j["walk"];
    if (w.contains("complete") && !w["complete"].is_boolean()) return make_error(Errc::io, "malformed \"walk.complete\"");
    if (w.contains("uncertain") && !w["uncertain"].is_number_unsigned()) return make_error(Errc::io, "malformed \"walk.uncertain\"");
    s.complete = w.value("complete", true);
    s.uncertain = w.value("uncertain", std::uint64_t{0});
    if (w.contains("torn") && w["torn"].is_boolean() && w["torn"].get<bool>()) s.uncertain = 0;  // a partial count
  }
  for (const auto& t : j["types"]) {
    if (!t.is_object() || !t.contains("name") || !t.contains("count") || !t["name"].is_string() || !t["count"].is_number_unsigned())
      return make_error(Errc::io, "malformed entry in \"types\"");
    s.counts[t["name"].get<std::string>()] += t["count"].get<std::uint64_t>();
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

Result<Snapshot> parse_snapshot(const std::string& text) {
  // A JSON document, or NDJSON whose last census line is taken.
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_discarded()) return from_json(j);
  OBJSPY_ASSIGN(auto series, parse_series(text));
  if (series.empty()) return make_error(Errc::io, "no census in the input");
  for (auto it = series.rbegin(); it != series.rend(); ++it)
    if (it->trusted()) return std::move(*it);
  return std::move(series.back());  // none is trusted: the caller sees it (Snapshot::trusted)
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

Result<std::vector<Snapshot>> parse_series(const std::string& text) {
  std::vector<Snapshot> out;
  std::istringstream in(text);
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) return make_error(Errc::io, "line " + std::to_string(lineno) + " is not JSON");
    if (j.contains("event")) continue;  // record's start/end lines
    OBJSPY_ASSIGN(Snapshot s, from_json(j));
    out.push_back(std::move(s));
  }
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
  std::set<std::string> names;
  for (const auto& [n, c] : before.counts) names.insert(n);
  for (const auto& [n, c] : after.counts) names.insert(n);
  std::vector<Change> out;
  for (const auto& n : names) {
    auto b = before.counts.find(n), a = after.counts.find(n);
    Change c{n, b == before.counts.end() ? 0 : b->second, a == after.counts.end() ? 0 : a->second};
    if (c.delta() != 0) out.push_back(c);
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
