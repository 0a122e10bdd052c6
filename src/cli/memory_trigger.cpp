#include "objspy/cli/memory_trigger.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include "objspy/cli/safe_file.hpp"
#include "objspy/output/render.hpp"

namespace objspy::cli {
namespace {

std::string mib(double bytes) { return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0)); }

}  // namespace

std::optional<std::string> MemoryTrigger::observe(const MemoryReading& r) {
  // The growth rate: RSS now against the oldest reading within the span (kept bounded by it:
  // at one reading per poll, span / poll readings).
  history_.emplace_back(r.time_s, r.rss);
  while (history_.size() > 1 && history_.front().first < r.time_s - o_.growth_span_s) history_.pop_front();
  if (history_.size() > 100000) history_.pop_front();
  if (last_fired_ && r.time_s - *last_fired_ < o_.window_s) return std::nullopt;
  if (o_.rss_bytes && r.rss > *o_.rss_bytes) return fmt::format("RSS {} is above {}", mib(static_cast<double>(r.rss)), mib(static_cast<double>(*o_.rss_bytes)));
  if (o_.limit_share && r.limit && *r.limit > 0) {
    const double share = static_cast<double>(r.rss) / static_cast<double>(*r.limit);
    if (share > *o_.limit_share)
      return fmt::format("RSS {} is {:.0f}% of the cgroup's memory limit {} (threshold {:g}%)", mib(static_cast<double>(r.rss)), share * 100,
                         mib(static_cast<double>(*r.limit)), *o_.limit_share * 100);
  }
  if (o_.growth_bytes_per_s && history_.size() > 1) {
    const auto& [t0, rss0] = history_.front();
    // Only over most of the span: two readings a poll apart are noise, not a rate.
    if (r.time_s - t0 >= 0.5 * o_.growth_span_s && r.rss > rss0) {
      const double rate = static_cast<double>(r.rss - rss0) / (r.time_s - t0);
      if (rate > *o_.growth_bytes_per_s)
        return fmt::format("RSS grew {} in {:.0f} s ({}/s, threshold {}/s)", mib(static_cast<double>(r.rss - rss0)), r.time_s - t0, mib(rate),
                           mib(*o_.growth_bytes_per_s));
    }
  }
  return std::nullopt;
}

Result<std::string> write_triggered(const std::string& dir, const Census& c, const RenderOptions& r, const nlohmann::json& trigger) {
  RenderOptions all = r;
  all.limit = 0;
  auto j = census_to_json(c, all);
  j["trigger"] = trigger;
  const std::string text = j.dump(-1, ' ', true) + "\n";
  const std::time_t t = static_cast<std::time_t>(c.timestamp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  const std::string path = fmt::format("{}/objspy-census-{}-{}.json", dir, c.pid, stamp);
  OBJSPY_ASSIGN(std::FILE* f, open_for_writing(path));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  if (std::fclose(f) != 0 || !ok) return make_error(Errc::io, fmt::format("cannot write {}", path));
  return path;
}

}  // namespace objspy::cli
