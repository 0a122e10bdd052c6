#include <algorithm>

#include <fmt/format.h>

#include "objspy/core/escape.hpp"
#include "objspy/output/duration.hpp"
#include "objspy/output/render.hpp"

namespace objspy {
namespace {

template <class Rows, class Name>
std::pair<std::vector<std::string>, std::size_t> escaped_names(const Rows& rows, Name name) {
  std::vector<std::string> out;
  std::size_t width = 0;
  for (const auto& r : rows) {
    out.push_back(escape_for_terminal(name(r), kNameColumns));
    width = std::max(width, display_width(out.back()));
  }
  return {out, width};
}

std::string pad(const std::string& s, std::size_t width) { return s + std::string(width - std::min(width, display_width(s)), ' '); }

}  // namespace

std::string render_growth(const std::vector<Change>& rows) {
  auto [names, width] = escaped_names(rows, [](const Change& c) { return c.name; });
  std::string out;
  for (std::size_t i = 0; i < rows.size(); ++i) out += fmt::format("{}{:9d} {:+9d}\n", pad(names[i], width), rows[i].after, rows[i].delta());
  return out;
}

std::string render_diff(const std::vector<Change>& rows, SortBy by) {
  auto [names, width] = escaped_names(rows, [](const Change& c) { return c.name; });
  width = std::max<std::size_t>(width, 4);
  std::string out = by == SortBy::bytes ? "bytes (sum of sys.getsizeof) per type\n" : "";
  out += fmt::format("{}{:>9} {:>9} {:>9}\n", pad("type", width), "before", "after", "change");
  for (std::size_t i = 0; i < rows.size(); ++i)
    out += fmt::format("{}{:9d} {:9d} {:+9d}\n", pad(names[i], width), rows[i].before, rows[i].after, rows[i].delta());
  return out;
}

std::string render_suspects(const std::vector<Suspect>& rows, const RankedOver& over, SortBy by) {
  const std::size_t samples = over.samples, skipped = over.skipped;
  std::string out = fmt::format("{} samples over {}", samples, human_span(over.hours * 3600));
  if (by == SortBy::bytes) out += ", ranked by bytes (sum of sys.getsizeof) per type";
  if (skipped)
    out += fmt::format(" ({} incomplete census{} skipped: coverage below {:g}% or a partial count)", skipped, skipped == 1 ? "" : "es",
                       kMinCoverage * 100);
  out += "\n";
  if (over.folded)
    out += fmt::format("more than {} types (--max-types): the largest and fastest growing ranked, the rest summed as other, not ranked "
                       "({} type{}, {} objects at the last sample)\n",
                       over.max_types, over.other_types, over.other_types == 1 ? "" : "s", over.other_objects);
  if (samples < 3) return out + "too few samples to rank (need 3 or more)\n";
  if (rows.empty()) return out + "no type grew\n";
  auto [names, width] = escaped_names(rows, [](const Suspect& s) { return s.name; });
  width = std::max<std::size_t>(width, 4);
  out += fmt::format("{:>4}  {}{:>9} {:>9} {:>11} {:>6} {:>7} {:>6}  {}\n", "rank", pad("type", width), "first", "last", "per hour", "fit",
                     "rising", "share", "confidence");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& s = rows[i];
    out += fmt::format("{:>4}  {}{:9d} {:9d} {:>+11.0f} {:6.2f} {:6.0f}% {:5.0f}%  {}\n", i + 1, pad(names[i], width), s.first, s.last,
                       s.per_hour, s.r2, s.rising * 100, s.share * 100, s.confidence);
  }
  return out;
}

}  // namespace objspy
