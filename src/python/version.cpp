#include "objspy/python/version.hpp"

#include <cctype>

#include <fmt/format.h>

namespace objspy {

PyVersion PyVersion::from_hex(std::uint64_t hex) {
  PyVersion v;
  v.major = static_cast<int>((hex >> 24) & 0xFF);
  v.minor = static_cast<int>((hex >> 16) & 0xFF);
  v.micro = static_cast<int>((hex >> 8) & 0xFF);
  v.level = static_cast<int>((hex >> 4) & 0xF);
  v.serial = static_cast<int>(hex & 0xF);
  return v;
}

std::uint32_t PyVersion::hex() const {
  return static_cast<std::uint32_t>((major << 24) | (minor << 16) | ((micro < 0 ? 0 : micro) << 8) | (level << 4) | serial);
}

bool PyVersion::at_least(int maj, int min, int mic) const {
  if (major != maj) return major > maj;
  if (minor != min) return minor > min;
  return micro >= mic;
}

std::string PyVersion::str() const {
  std::string s = fmt::format("{}.{}", major, minor);
  if (micro < 0) return s;
  s += fmt::format(".{}", micro);
  switch (level) {
    case 0xA: s += fmt::format("a{}", serial); break;
    case 0xB: s += fmt::format("b{}", serial); break;
    case 0xC: s += fmt::format("rc{}", serial); break;
    default: break;
  }
  return s;
}

std::optional<PyVersion> version_from_file_name(std::string_view name) {
  if (auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::size_t p = name.find("python");
  if (p == std::string_view::npos) return std::nullopt;
  std::string_view rest = name.substr(p + 6);
  auto num = [&](int* out) {
    std::size_t i = 0;
    int v = 0;
    while (i < rest.size() && i < 3 && std::isdigit(static_cast<unsigned char>(rest[i]))) v = v * 10 + (rest[i++] - '0');
    if (i == 0) return false;
    *out = v;
    rest.remove_prefix(i);
    return true;
  };
  PyVersion v;
  v.micro = -1;
  if (!num(&v.major) || rest.empty() || rest[0] != '.') return std::nullopt;
  rest.remove_prefix(1);
  if (!num(&v.minor)) return std::nullopt;
  // What may follow: end of name, ABI flags (d, m, t, u), ".so", "-config" is not a binary.
  if (!rest.empty() && rest[0] != '.' && rest[0] != 'd' && rest[0] != 'm' && rest[0] != 't' && rest[0] != 'u') return std::nullopt;
  if (v.major < 2 || v.major > 3) return std::nullopt;
  return v;
}

}  // namespace objspy
