#include "objspy/output/duration.hpp"

#include <iterator>

#include <fmt/format.h>

namespace objspy {

std::string human_span(double seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 1) return fmt::format("{}ms", static_cast<long>(seconds * 1000 + 0.5));
  if (seconds < 60) return fmt::format("{:g}s", static_cast<double>(static_cast<long>(seconds * 10 + 0.5)) / 10);
  auto s = static_cast<long>(seconds + 0.5);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string human_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{}B", bytes);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  return v < 100 ? fmt::format("{:.1f}{}", v, kUnits[u]) : fmt::format("{:.0f}{}", v, kUnits[u]);
}

}  // namespace objspy
