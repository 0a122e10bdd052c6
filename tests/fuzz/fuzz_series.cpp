// A recorded series (suspects input, and diff's reading of a recording) from a file anyone may
// have written: parse_series must never throw or crash, every error names its line, and what
// it accepts must rank and print (JSON too: names reach it as valid UTF-8).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "objspy/census/series.hpp"
#include "objspy/output/render.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto series = objspy::parse_series(text);
  if (!series.ok()) {
    if (series.error().code != objspy::Errc::io || series.error().message.rfind("line ", 0) != 0) std::abort();
  } else {
    for (const auto& s : *series) {
      if (s.total > objspy::kMaxCount || s.uncertain > objspy::kMaxCount) std::abort();
      for (const auto& [name, n] : s.counts)
        if (n > objspy::kMaxCount) std::abort();
    }
    const auto used = objspy::trusted_only(std::move(series).value());
    const auto& samples = used.samples;
    auto rows = objspy::leak_suspects(samples, 0);
    objspy::RankedOver over;
    over.samples = samples.size();
    over.skipped = used.skipped;
    over.hours = samples.size() > 1 ? (samples.back().timestamp - samples.front().timestamp) / 3600.0 : 0;
    (void)objspy::render_suspects(rows, over);
    (void)objspy::suspects_to_json(rows, over).dump(2, ' ', true);  // throws on bad UTF-8
    if (samples.size() >= 2) {
      auto d = objspy::diff(samples.front(), samples.back(), 0);
      for (const auto& c : d)
        if ((c.after > c.before) != (c.delta() > 0)) std::abort();
      (void)objspy::render_diff(d);
    }
  }
  // diff's reading of the same text: one document, or the last trusted line.
  auto last = objspy::parse_snapshot(text);
  if (!last.ok() && last.error().code != objspy::Errc::io) std::abort();
  return 0;
}
