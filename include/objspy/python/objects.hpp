// Reading the few kinds of Python object objspy needs: str, dict (lookup by str key), small
// int, and a type's flags. Every read goes through a MemoryReader; nothing is trusted.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "objspy/core/remote_addr.hpp"
#include "objspy/core/result.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/layout.hpp"

namespace objspy {

inline constexpr std::uint64_t kTpFlagsLongSubclass = 1ULL << 24;
inline constexpr std::uint64_t kTpFlagsUnicodeSubclass = 1ULL << 28;
inline constexpr std::uint64_t kTpFlagsDictSubclass = 1ULL << 29;

// Bounds one dict lookup: a hostile dict can claim 2^24 entries, each a few reads.
struct DictScan {
  std::size_t max_entries = 4096;  // entries examined: the first half and the last half of them
  std::uint64_t examined = 0;      // out: entries examined (added to)
  bool cut = false;                // out: the dict had more entries than were examined
};

class ObjectReader {
 public:
  ObjectReader(MemoryReader& mem, const Layout& layout) : mem_(mem), l_(layout) {}

  Result<RemoteAddr> type_of(RemoteAddr obj) { return mem_.ptr(obj + l_.ob_type); }
  Result<std::uint64_t> type_flags(RemoteAddr type) { return mem_.u64(type + l_.tp_flags); }
  // Whether obj's type has all the bits of `flags` (e.g. kTpFlagsUnicodeSubclass).
  Result<bool> is_instance_flag(RemoteAddr obj, std::uint64_t flags);

  // The text of a str object as UTF-8 (lone surrogates encoded as 3-byte sequences, which
  // escaping later shows as invalid bytes), at most max_chars code points.
  Result<std::string> str(RemoteAddr obj, std::size_t max_chars, bool* truncated);
  // The value stored under a str key in a dict, or nullopt. Scans the entries (type and
  // module dicts have few); keys compared by text. Of a bigger dict, the first and the last
  // max_entries / 2: a class statement puts __module__ first, type() of a namespace without
  // one adds it last. `scan` null: the default bound.
  Result<std::optional<RemoteAddr>> dict_get(RemoteAddr dict, std::string_view key, DictScan* scan = nullptr);
  // An int object that fits in one 30-bit digit (sys.hexversion).
  Result<std::uint64_t> small_int(RemoteAddr obj);

  MemoryReader& memory() { return mem_; }
  const Layout& layout() const { return l_; }

 private:
  MemoryReader& mem_;
  const Layout& l_;
};

}  // namespace objspy
