// Type names from the target on their way to a terminal: the escaped form must carry no
// control character, and the sanitised form must be valid UTF-8 for JSON.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "objspy/core/escape.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  std::string e = objspy::escape_for_terminal(raw);
  for (unsigned char c : e)
    if (c < 0x20 || c == 0x7f) std::abort();
  (void)objspy::display_width(e);
  nlohmann::json j = objspy::sanitize_utf8(raw);
  (void)j.dump(-1, ' ', true);  // throws on invalid UTF-8: must not happen
  return 0;
}
