// Type names from the target on their way to a terminal: the escaped form must carry no
// control character, the sanitised form must be valid UTF-8 for JSON, and a Prometheus
// label value must be one line with only the escapes the exposition format defines.
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
