#include "objspy/output/top.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "objspy/core/escape.hpp"
#include "objspy/output/duration.hpp"
#include "objspy/output/render.hpp"

namespace objspy {
namespace {

// Cut a line of valid UTF-8 to `width` columns (0: no limit).
std::string fit(std::string s, std::size_t width) {
  if (width == 0 || display_width(s) <= width) return s;
  std::size_t cols = 0, i = 0;
  while (i < s.size()) {
    std::size_t n = 1;
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
    const std::size_t w = display_width(std::string_view(s).substr(i, n));
    if (cols + w > width) break;
    cols += w;
    i += n;
  }
  s.resize(i);
  return s;
}

std::string signed_or_blank(std::int64_t v) { return v == 0 ? "0" : fmt::format("{:+}", v); }

// How good the latest census is, by the rule suspects follow (series.hpp).
std::string quality_mark(const Census& c) {
  if (c.walk.complete) return "";
  const double cov = coverage(c.walk, c.total) * 100;
  if (trusted_census(c)) return fmt::format(", coverage {:.1f}%", cov);
  if (c.walk.uncertain == 0) return ", INCOMPLETE (partial count, not ranked)";
  return fmt::format(", INCOMPLETE (coverage {:.1f}%, not ranked)", cov);
}

}  // namespace

std::vector<std::string> render_top(const LiveSeries& series, const Census& c, const TopView& v) {
  std::vector<std::string> lines;
  const auto& first = series.first();
  const auto total_change = static_cast<std::int64_t>(c.total) - static_cast<std::int64_t>(first.total);
  // The target's memory last: on a narrow terminal it is what is cut first.
  const std::string memory =
      c.memory ? fmt::format(", RSS {:.1f} MiB", static_cast<double>(c.memory->rss_bytes) / (1024.0 * 1024.0)) : std::string();
  lines.push_back(fit(fmt::format("objspy top: pid {}, Python {}{}, {} objects ({} since start), generations {}/{}/{}, census {:.1f} ms{}{}",
                                  c.pid, c.python_version, c.debug_build ? " (debug)" : "", c.total, signed_or_blank(total_change),
                                  c.generations[0], c.generations[1], c.generations[2], c.duration_ms,
                                  quality_mark(c), memory),
                      v.width));
  const std::string skipped = series.skipped() ? fmt::format(" ({} incomplete, not ranked)", series.skipped()) : "";
  // More types than --max-types: suspects are ranked among the ones kept (series.hpp).
  const std::string bounded =
      series.window().folded() ? fmt::format(", suspects among {} types", series.window().max_types()) : std::string();
  std::string second = fmt::format("{} sample{}{} over {}, every {}{}; sorted by {}{}", series.samples(), series.samples() == 1 ? "" : "s",
                                   skipped, human_span(series.latest().timestamp - first.timestamp), human_span(v.interval_s), bounded,
                                   describe(v.sort), v.reverse ? " (reversed)" : "");
  if (v.keys) second += "; keys: g d c t n b sort, r reverse, space refresh, q quit";
  lines.push_back(fit(second, v.width));
  lines.push_back(v.status.empty() ? "" : fit(escape_for_terminal(v.status), v.width));
  lines.push_back(fit(fmt::format("{:>10} {:>9} {:>9} {:>9} {:>10}  {:<7} {}", "COUNT", "+LAST", "+START", "BYTES", "RATE/h", "SUSPECT", "TYPE"), v.width));
  auto rows = series.rows(v.sort, v.reverse);
  if (v.max_rows && rows.size() > v.max_rows) rows.resize(v.max_rows);
  for (const auto& r : rows) {
    std::string rate = r.confidence.empty() ? "" : fmt::format("{:+.0f}", r.per_hour);
    std::string line = fmt::format("{:>10} {:>9} {:>9} {:>9} {:>10}  {:<7} ", r.count, signed_or_blank(r.since_last),
                                   signed_or_blank(r.since_start), r.bytes ? human_bytes(*r.bytes) : "-", rate, r.confidence);
    // The name is cut (between escapes) to what the screen has left, so fit() below only
    // ever cuts a line whose counts alone are too wide.
    std::size_t name_columns = kNameColumns;
    if (const std::size_t used = display_width(line); v.width > used) name_columns = std::min(name_columns, v.width - used);
    line += escape_for_terminal(r.name, name_columns);
    lines.push_back(fit(std::move(line), v.width));
  }
  return lines;
}

}  // namespace objspy
