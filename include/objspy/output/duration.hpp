// Human spans of time and sizes for the text renderers: "850ms", "42s", "5m30s", "3h05m",
// "2d04h"; "512B", "1.5KiB", "12.3MiB", "1.2GiB".
#pragma once
#include <cstdint>
#include <string>

namespace objspy {

std::string human_span(double seconds);
std::string human_bytes(std::uint64_t bytes);

}  // namespace objspy
