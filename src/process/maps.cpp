#include "objspy/process/maps.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace objspy {
namespace {

bool parse_hex(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// A device number half: the kernel prints at least two hex digits, at most eight (32 bits).
bool parse_hex32(std::string_view s, std::uint32_t* out) {
  if (s.empty() || s.size() > 8) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string_view next_field(std::string_view* line) {
  std::size_t b = line->find_first_not_of(' ');
  if (b == std::string_view::npos) { *line = {}; return {}; }
  line->remove_prefix(b);
  std::size_t e = line->find(' ');
  std::string_view f = line->substr(0, e);
  line->remove_prefix(e == std::string_view::npos ? line->size() : e);
  return f;
}

}  // namespace

MemoryMap::MemoryMap(std::vector<Mapping> maps) : maps_(std::move(maps)) {
  std::sort(maps_.begin(), maps_.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
}

Result<MemoryMap> MemoryMap::parse(std::string_view text) {
  std::vector<Mapping> out;
  std::size_t lineno = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++lineno;
    if (line.empty()) continue;
    auto bad = [&](const char* what) {
      return make_error(Errc::corrupt_target, fmt::format("malformed maps line {}: {}", lineno, what));
    };
    Mapping m;
    std::string_view range = next_field(&line);
    std::size_t dash = range.find('-');
    if (dash == std::string_view::npos || !parse_hex(range.substr(0, dash), &m.start) ||
        !parse_hex(range.substr(dash + 1), &m.end) || m.end < m.start)
      return bad("address range");
    std::string_view perms = next_field(&line);
    if (perms.size() != 4) return bad("permissions");
    m.readable = perms[0] == 'r';
    m.writable = perms[1] == 'w';
    m.executable = perms[2] == 'x';
    m.shared = perms[3] == 's';
    if (!parse_hex(next_field(&line), &m.offset)) return bad("offset");
    std::string_view dev = next_field(&line);
    std::size_t colon = dev.find(':');
    if (colon == std::string_view::npos || !parse_hex32(dev.substr(0, colon), &m.dev_major) ||
        !parse_hex32(dev.substr(colon + 1), &m.dev_minor))
      return bad("device");
    std::string_view inode = next_field(&line);
    auto r = std::from_chars(inode.data(), inode.data() + inode.size(), m.inode);
    if (r.ec != std::errc() || r.ptr != inode.data() + inode.size()) return bad("inode");
    std::size_t b = line.find_first_not_of(' ');
    if (b != std::string_view::npos) {
      std::string_view path = line.substr(b);
      constexpr std::string_view kDeleted = " (deleted)";
      if (path.size() > kDeleted.size() && path.substr(path.size() - kDeleted.size()) == kDeleted) {
        m.deleted = true;
        path.remove_suffix(kDeleted.size());
      }
      m.path = std::string(path);
    }
    out.push_back(std::move(m));
  }
  return MemoryMap(std::move(out));
}

const Mapping* MemoryMap::find(RemoteAddr addr, std::uint64_t len) const {
  const std::uint64_t a = addr.value();
  if (len == 0 || a + len < a) return nullptr;
  auto fits = [&](const Mapping& m) { return m.readable && a >= m.start && a + len <= m.end; };
  if (last_ < maps_.size() && fits(maps_[last_])) return &maps_[last_];
  auto it = std::upper_bound(maps_.begin(), maps_.end(), a, [](std::uint64_t v, const Mapping& m) { return v < m.start; });
  if (it == maps_.begin()) return nullptr;
  --it;
  if (!fits(*it)) return nullptr;
  last_ = static_cast<std::size_t>(it - maps_.begin());
  return &*it;
}

std::uint64_t MemoryMap::writable_bytes() const {
  std::uint64_t total = 0;
  for (const auto& m : maps_)
    if (m.readable && m.writable) total += m.end - m.start;
  return total;
}

}  // namespace objspy
