// Type names from the target on their way to a terminal: the escaped form must carry no
// control character, the sanitised form must be valid UTF-8 for JSON, and a Prometheus
// label value must be one line with only the escapes the exposition format defines.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "objspy/core/escape.hpp"
#include "objspy/output/prometheus.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  std::string e = objspy::escape_for_terminal(raw);
  for (unsigned char c : e)
    if (c < 0x20 || c == 0x7f) std::abort();
  (void)objspy::display_width(e);
  // Cut to a width (the first byte picks it): within it, no control character, and made of
  // whole escapes: every backslash starts one of the escapes the full form has.
  const std::size_t cols = size ? data[0] : 60;
  std::string cut = objspy::escape_for_terminal(raw, cols);
  if (objspy::display_width(cut) > std::max<std::size_t>(cols, 8)) std::abort();
  if (cut.size() > e.size() + 3) std::abort();
  for (std::size_t i = 0; i < cut.size(); ++i) {
    const auto c = static_cast<unsigned char>(cut[i]);
    if (c < 0x20 || c == 0x7f) std::abort();
    if (c != '\\') continue;
    if (i + 1 >= cut.size()) std::abort();  // a cut inside an escape
    const char k = cut[i + 1];
    const std::size_t len = k == 'x' ? 4 : k == 'u' ? 6 : k == 'U' ? 10 : 2;
    if (i + len > cut.size() || e.find(cut.substr(i, len)) == std::string::npos) std::abort();
    i += len - 1;
  }
  nlohmann::json j = objspy::sanitize_utf8(raw);
  (void)j.dump(-1, ' ', true);  // throws on invalid UTF-8: must not happen
  std::string label = objspy::prometheus_label_value(raw);
  (void)nlohmann::json(label).dump(-1, ' ', true);  // valid UTF-8
  for (std::size_t i = 0; i < label.size(); ++i) {
    const auto c = static_cast<unsigned char>(label[i]);
    if (c < 0x20 || c == 0x7f) std::abort();
    if (c == '"') std::abort();  // only ever as \"
    if (c == '\\') {
      if (i + 1 >= label.size() || (label[i + 1] != '\\' && label[i + 1] != '"' && label[i + 1] != 'n')) std::abort();
      ++i;
    }
  }
  return 0;
}
