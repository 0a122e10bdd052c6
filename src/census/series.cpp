#include "objspy/census/series.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

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

Snapshot snapshot_header(const Census& c) {
  Snapshot s;
  s.pid = c.pid;
  s.timestamp = c.timestamp;
  s.total = c.total;
  s.complete = c.walk.complete;
  s.uncertain = c.walk.torn ? 0 : c.walk.uncertain;
  s.pause_ms = c.pause_ms;
  s.python_version = c.python_version;
  s.rss_bytes = c.memory ? c.memory->rss_bytes : 0;
  return s;
}

Snapshot snapshot_of(const Census& c, NameForm form) {
  Snapshot s = snapshot_header(c);
  for (const auto& r : most_common(c, form)) {
    s.counts[r.name] = r.count;
    if (c.measured_bytes) s.bytes[r.name] = r.bytes;
  }
  s.has_bytes = c.measured_bytes;
  return s;
}

Result<Snapshot> measured_by(Snapshot s, SortBy by) {
  if (by == SortBy::count) return s;
  if (!s.has_bytes)
    return make_error(Errc::io, "a census without bytes per type (taken with --no-bytes, or by an objspy before bytes): rank by count instead");
  s.counts.swap(s.bytes);
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

namespace {

// Calls `f(line, lineno)` for every line of `in` that is not blank, one line in memory at a
// time; a line longer than kMaxSeriesLine is an error, not a reason to hold a whole file.
template <class F>
Status each_stream_line(std::istream& in, F&& f) {
  std::string line, chunk(1 << 16, '\0');
  std::size_t lineno = 0;
  auto flush = [&]() -> Status {
    ++lineno;
    Status st;
    if (line.find_first_not_of(" \t\r") != std::string::npos) st = f(std::string_view(line), lineno);
    line.clear();
    return st;
  };
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    for (std::size_t at = 0; at < got;) {
      const auto* nl = static_cast<const char*>(std::memchr(chunk.data() + at, '\n', got - at));
      const std::size_t end = nl ? static_cast<std::size_t>(nl - chunk.data()) : got;
      if (line.size() + (end - at) > kMaxSeriesLine)
        return make_error(Errc::io, fmt::format("line {} is longer than {} MiB", lineno + 1, kMaxSeriesLine >> 20));
      line.append(chunk, at, end - at);
      at = end;
      if (nl) {
        ++at;
        OBJSPY_TRY(flush());
      }
    }
  }
  if (in.bad()) return make_error(Errc::io, fmt::format("read error after line {}", lineno));
  if (!line.empty()) return flush();
  return {};
}

}  // namespace

Result<ReadSeries> read_series(std::istream& in, std::size_t max_types, const SeriesObserver& observe, SortBy by) {
  ReadSeries out{BoundedSeries(max_types), 0};
  OBJSPY_TRY(each_stream_line(in, [&](std::string_view line, std::size_t lineno) -> Status {
    OBJSPY_ASSIGN(auto s, census_line(line, lineno));
    if (observe) observe(s ? &*s : nullptr, line);
    if (!s) return {};
    if (by == SortBy::bytes) {
      auto m = measured_by(std::move(*s), by);
      if (!m.ok()) return make_error(Errc::io, fmt::format("line {}: {}", lineno, m.error().message));
      s = std::move(*m);
    }
    if (s->trusted()) out.series.add(*s);
    else ++out.skipped;
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

BoundedSeries::BoundedSeries(std::size_t max_types, std::size_t max_samples)
    : max_types_(std::max<std::size_t>(max_types, 1)), max_samples_(max_samples ? std::max<std::size_t>(max_samples, 4) : 0) {
  timestamps_.reserve(max_samples_);
  other_.reserve(max_samples_);
  other_types_.reserve(max_samples_);
}

void BoundedSeries::thin() {
  // Keep samples 0, 2, 4, ...: the span is kept, the resolution halves.
  auto halve = [](auto& v) {
    std::size_t w = 0;
    for (std::size_t r = 0; r < v.size(); r += 2, ++w) v[w] = v[r];
    v.resize(w);
  };
  halve(timestamps_);
  halve(other_);
  halve(other_types_);
  for (auto& c : columns_) {
    // Its first kept sample is the first even one at or after known_from.
    std::size_t w = 0;
    for (std::size_t r = c.known_from % 2; r < c.counts.size(); r += 2, ++w) c.counts[w] = c.counts[r];
    c.counts.resize(w);
    c.known_from = (c.known_from + 1) / 2;
  }
  other_until_ = 0;
  for (std::size_t j = other_.size(); j > 0 && other_until_ == 0; --j)
    if (other_[j - 1]) other_until_ = j;
}

void BoundedSeries::admit(const std::string& name, std::uint64_t count) {
  // Counts before now are 0 where `other` was empty (the type was nowhere), unknown before that.
  const std::size_t now = size() - 1;
  Column c{name, std::min(other_until_, now), {}};
  // A live window's column takes its full size at once: its memory is the same on the first
  // day and the hundredth.
  if (max_samples_) c.counts.reserve(max_samples_);
  c.counts.assign(size() - c.known_from, 0);
  c.counts.back() = count;
  index_.emplace(name, static_cast<std::uint32_t>(columns_.size()));
  columns_.push_back(std::move(c));
}

void BoundedSeries::select(std::vector<std::pair<const std::string*, std::uint64_t>>& fresh) {
  // Candidates: every column (its growth within the series, its count now) and every new name
  // (no growth known yet). Kept: up to half by growth, the rest by count.
  struct Candidate {
    std::uint64_t growth, count;
    bool kept_before;
    const std::string* name;
    std::size_t ref;  // column, or index in `fresh`
    bool keep = false;
  };
  const std::size_t now = size() - 1;
  std::vector<Candidate> all;
  all.reserve(columns_.size() + fresh.size());
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    const auto& c = columns_[i];
    const std::uint64_t first = c.counts.front(), last = c.counts.back();
    all.push_back({last > first ? last - first : 0, last, true, &c.name, i});
  }
  for (std::size_t i = 0; i < fresh.size(); ++i) all.push_back({0, fresh[i].second, false, fresh[i].first, i});
  auto before = [](const Candidate& a, const Candidate& b, std::uint64_t Candidate::*key) {
    if (a.*key != b.*key) return a.*key > b.*key;
    if (a.kept_before != b.kept_before) return a.kept_before;  // a type already kept stays
    return *a.name < *b.name;
  };
  std::vector<Candidate*> order(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) order[i] = &all[i];
  std::size_t kept = 0;
  std::sort(order.begin(), order.end(), [&](auto* a, auto* b) { return before(*a, *b, &Candidate::growth); });
  for (auto* c : order) {
    if (kept >= max_types_ / 2 || c->growth == 0) break;
    c->keep = true, ++kept;
  }
  std::sort(order.begin(), order.end(), [&](auto* a, auto* b) { return before(*a, *b, &Candidate::count); });
  for (auto* c : order) {
    if (kept >= max_types_) break;
    if (!c->keep) c->keep = true, ++kept;
  }

  // Fold what is left out into `other`; keep the columns in their order, then admit the new.
  folded_ = true;
  std::vector<Column> columns;
  columns.reserve(max_types_);
  for (const auto& c : all) {
    if (!c.kept_before) continue;
    auto& col = columns_[c.ref];
    if (c.keep) {
      columns.push_back(std::move(col));
      continue;
    }
    for (std::size_t j = col.known_from; j <= now; ++j) {
      const std::uint64_t n = col.at(j);
      if (n == 0) continue;
      other_[j] += n;
      ++other_types_[j];
      other_until_ = std::max(other_until_, j + 1);
    }
  }
  columns_ = std::move(columns);
  index_.clear();
  for (std::size_t i = 0; i < columns_.size(); ++i) index_.emplace(columns_[i].name, static_cast<std::uint32_t>(i));
  for (const auto& c : all) {
    if (c.kept_before || c.keep) continue;
    other_[now] += c.count;
    ++other_types_[now];
    other_until_ = now + 1;
  }
  for (const auto& c : all)
    if (!c.kept_before && c.keep) admit(*c.name, c.count);
}

void BoundedSeries::add(const Snapshot& s) {
  if (max_samples_ && size() >= max_samples_) thin();
  timestamps_.push_back(s.timestamp);
  other_.push_back(0);
  other_types_.push_back(0);
  for (auto& c : columns_) c.counts.push_back(0);
  std::vector<std::pair<const std::string*, std::uint64_t>> fresh;
  for (const auto& [name, count] : s.counts) {
    if (auto it = index_.find(name); it != index_.end()) columns_[it->second].counts.back() = count;
    else if (count) fresh.emplace_back(&name, count);  // a type with no objects needs no column
  }
  if (columns_.size() + fresh.size() <= max_types_) {
    for (const auto& [name, count] : fresh) admit(*name, count);
  } else {
    select(fresh);
  }
}

RankedOver ranked_over(const BoundedSeries& s, std::size_t skipped) {
  RankedOver r;
  r.samples = s.size();
  r.skipped = skipped;
  const auto& ts = s.timestamps();
  r.hours = ts.size() > 1 ? (ts.back() - ts.front()) / 3600.0 : 0;
  r.max_types = s.max_types();
  r.folded = s.folded();
  if (!ts.empty()) r.other_types = s.other_types().back(), r.other_objects = s.other().back();
  return r;
}

std::vector<Suspect> leak_suspects(const std::vector<Snapshot>& series, std::size_t limit, std::size_t max_types) {
  BoundedSeries d(max_types);
  for (const auto& s : series)
    if (s.trusted()) d.add(s);
  return leak_suspects(d, limit);
}

std::vector<Suspect> leak_suspects(const BoundedSeries& series, std::size_t limit) {
  std::vector<Suspect> out;
  const std::size_t samples = series.size();
  if (samples < 3) return out;
  const auto& ts = series.timestamps();
  const double t0 = ts.front();
  std::vector<double> xs(samples), ys(samples);
  for (std::size_t i = 0; i < samples; ++i) xs[i] = (ts[i] - t0) / 3600.0;
  double total_growth = 0;
  for (const auto& col : series.columns()) {
    // Each type over the samples its count is known for (all of them unless types were folded).
    const std::size_t from = col.known_from;
    if (samples - from < 3) continue;
    const double n = static_cast<double>(samples - from);
    for (std::size_t i = from; i < samples; ++i) ys[i] = static_cast<double>(col.at(i));
    // Least squares over the samples from `from`, leaving out `skip` (none: samples).
    struct Fit {
      double slope = 0, r2 = 0, at_start = 0;
      bool ok = false;
      std::size_t worst = 0;  // the sample farthest from the line
    };
    auto fit = [&](std::size_t skip) {
      Fit f;
      double k = 0, mx = 0, my = 0;
      for (std::size_t i = from; i < samples; ++i)
        if (i != skip) mx += xs[i], my += ys[i], ++k;
      mx /= k;
      my /= k;
      double sxx = 0, sxy = 0, syy = 0;
      for (std::size_t i = from; i < samples; ++i) {
        if (i == skip) continue;
        sxx += (xs[i] - mx) * (xs[i] - mx);
        sxy += (xs[i] - mx) * (ys[i] - my);
        syy += (ys[i] - my) * (ys[i] - my);
      }
      if (sxx <= 0 || syy <= 0) return f;  // no time span, or a flat count
      f.ok = true;
      f.slope = sxy / sxx;
      f.r2 = (sxy * sxy) / (sxx * syy);
      f.at_start = my - f.slope * mx;  // x is hours since the first sample
      double far = -1;
      for (std::size_t i = from; i < samples; ++i) {
        const double off = std::abs(ys[i] - (my + f.slope * (xs[i] - mx)));
        if (i != skip && off > far) far = off, f.worst = i;
      }
      return f;
    };
    Fit all = fit(samples);
    if (!all.ok) continue;
    // A census taken without stopping the target can miss some objects of a type (a torn
    // read that still passed the trust rule): with 10 samples or more, the one farthest from
    // the line is left out when that fits better, so one such census does not demote a
    // steady leak. A wave or a step stays below "high" all the same: its falls and flat
    // stretches decide that, not its fit.
    if (samples - from >= 10) {
      Fit trimmed = fit(all.worst);
      if (trimmed.ok && trimmed.r2 > all.r2) all = trimmed;
    }
    Suspect s;
    s.name = col.name;
    s.first = col.counts.front();
    s.last = col.counts.back();
    s.per_hour = all.slope;
    s.line_at_start = all.at_start;
    s.r2 = all.r2;
    std::size_t up = 0, down = 0;
    for (std::size_t i = from + 1; i < samples; ++i) {
      if (ys[i] > ys[i - 1]) ++up;
      else if (ys[i] < ys[i - 1]) ++down;
    }
    s.rising = static_cast<double>(up) / (n - 1);
    s.falling = static_cast<double>(down) / (n - 1);
    if (s.per_hour <= 0 || s.last <= s.first) continue;
    s.score = s.per_hour * s.r2 * std::max(0.0, s.rising - s.falling);
    total_growth += static_cast<double>(s.last - s.first);
    const std::size_t m = samples - from;
    if (m >= 10 && s.r2 >= 0.9 && s.rising >= 0.8 && s.falling <= 0.1) s.confidence = "high";
    else if (m >= 5 && s.r2 >= 0.6 && s.rising > s.falling * 2) s.confidence = "medium";
    else s.confidence = "low";
    out.push_back(s);
  }
  for (auto& s : out) s.share = total_growth > 0 ? static_cast<double>(s.last - s.first) / total_growth : 0;
  std::sort(out.begin(), out.end(), [](const Suspect& a, const Suspect& b) {
    return a.score != b.score ? a.score > b.score : a.name < b.name;
  });
  if (limit && out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace objspy
