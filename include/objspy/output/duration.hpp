// Human spans of time for the text renderers: "850ms", "42s", "5m30s", "3h05m", "2d04h".
#pragma once
#include <string>

namespace objspy {

std::string human_span(double seconds);

}  // namespace objspy
