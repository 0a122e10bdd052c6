#include "objspy/python/objects.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace objspy {
namespace {

void append_utf8(std::string* out, std::uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x110000) {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->append("\xEF\xBF\xBD");  // not a code point: memory changed under us or garbage
  }
}

Error not_a(std::string_view what, RemoteAddr a) {
  return make_error(Errc::corrupt_target, fmt::format("object at {:#x} is not a {}", a.value(), what));
}

}  // namespace

Result<bool> ObjectReader::is_instance_flag(RemoteAddr obj, std::uint64_t flags) {
  OBJSPY_ASSIGN(RemoteAddr t, type_of(obj));
  if (t.null()) return false;
  OBJSPY_ASSIGN(std::uint64_t f, type_flags(t));
  return (f & flags) == flags;
}

Result<std::string> ObjectReader::str(RemoteAddr obj, std::size_t max_chars, bool* truncated) {
  *truncated = false;
  OBJSPY_ASSIGN(bool is_str, is_instance_flag(obj, kTpFlagsUnicodeSubclass));
  if (!is_str) return not_a("str", obj);
  OBJSPY_ASSIGN(std::uint64_t length, mem_.u64(obj + l_.str.length));
  OBJSPY_ASSIGN(std::uint32_t state, mem_.u32(obj + l_.str.state));
  // state bits, GIL builds 3.8-3.15: interned 0-1, kind 2-4, compact 5, ascii 6.
  const unsigned kind = (state >> 2) & 7;
  const bool compact = (state >> 5) & 1;
  const bool ascii = (state >> 6) & 1;
  if (kind != 1 && kind != 2 && kind != 4) return not_a("ready str", obj);
  if (static_cast<std::int64_t>(length) < 0) return not_a("str (negative length)", obj);
  RemoteAddr data;
  if (compact) data = obj + (ascii ? l_.str.ascii_size : l_.str.compact_size);
  else {
    // PyUnicodeObject.data follows the compact header (str subclasses, legacy strings).
    OBJSPY_ASSIGN(data, mem_.ptr(obj + l_.str.compact_size));
    if (data.null()) return not_a("ready str", obj);
  }
  std::size_t n = static_cast<std::size_t>(length);
  if (n > max_chars) { n = max_chars; *truncated = true; }
  std::vector<std::byte> raw(n * kind);
  OBJSPY_TRY(mem_.read(data, raw));
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t cp = 0;
    if (kind == 1) cp = static_cast<std::uint8_t>(raw[i]);
    else if (kind == 2) cp = static_cast<std::uint32_t>(raw[2 * i]) | (static_cast<std::uint32_t>(raw[2 * i + 1]) << 8);
    else std::memcpy(&cp, raw.data() + 4 * i, 4);
    append_utf8(&out, cp);
  }
  return out;
}

Result<std::optional<RemoteAddr>> ObjectReader::dict_get(RemoteAddr dict, std::string_view key, DictScan* scan) {
  DictScan local;
  if (!scan) scan = &local;
  OBJSPY_ASSIGN(bool is_dict, is_instance_flag(dict, kTpFlagsDictSubclass));
  if (!is_dict) return not_a("dict", dict);
  OBJSPY_ASSIGN(RemoteAddr keys, mem_.ptr(dict + l_.dict_keys));
  OBJSPY_ASSIGN(RemoteAddr values, mem_.ptr(dict + l_.dict_values));
  // Null keys, or a split table (never a type's or module's dict): nothing to find.
  if (keys.null() || !values.null()) return std::optional<RemoteAddr>{};
  const DictKeysLayout& kl = l_.dict_keys_object;
  OBJSPY_ASSIGN(std::uint64_t nentries, mem_.u64(keys + kl.nentries));
  OBJSPY_ASSIGN(std::uint64_t size_word, mem_.u64(keys + kl.size));
  std::uint64_t index_bytes = 0;
  std::uint64_t entry_size = 24;  // hash, key, value
  std::uint64_t key_off = 8, value_off = 16;
  if (kl.log2_sizes) {
    unsigned log2_index_bytes = (size_word >> 8) & 0xFF;
    unsigned kind = (size_word >> 16) & 0xFF;
    if (log2_index_bytes > 40 || kind > 2) return not_a("dict (keys header)", dict);
    index_bytes = 1ULL << log2_index_bytes;
    if (kind != 0) { entry_size = 16; key_off = 0; value_off = 8; }  // str keys: key, value
  } else {
    std::uint64_t size = size_word;
    if (size == 0 || size > (1ULL << 32) || (size & (size - 1))) return not_a("dict (keys size)", dict);
    std::uint64_t width = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffULL ? 4 : 8;
    index_bytes = size * width;
  }
  RemoteAddr entries = keys + kl.indices + index_bytes;
  if (nentries > (1ULL << 24)) return not_a("dict (entry count)", dict);
  // Entries [0, head) and [tail, nentries): all of them when there are few.
  const std::uint64_t half = scan->max_entries / 2;
  const std::uint64_t head = std::min<std::uint64_t>(nentries, scan->max_entries - half);
  const std::uint64_t tail = std::max<std::uint64_t>(head, nentries > half ? nentries - half : 0);
  scan->cut = scan->cut || tail > head;
  for (std::uint64_t i = head ? 0 : tail; i < nentries; i = i + 1 == head ? tail : i + 1) {
    ++scan->examined;
    RemoteAddr e = entries + i * entry_size;
    OBJSPY_ASSIGN(RemoteAddr k, mem_.ptr(e + key_off));
    if (k.null()) continue;  // deleted entry
    bool truncated = false;
    auto text = str(k, key.size() + 1, &truncated);
    if (!text.ok()) {
      if (text.error().code == Errc::corrupt_target) continue;  // a non-str key
      return text.take_error();
    }
    if (*text == key) {
      OBJSPY_ASSIGN(RemoteAddr v, mem_.ptr(e + value_off));
      return std::optional<RemoteAddr>(v);
    }
  }
  return std::optional<RemoteAddr>{};
}

Result<std::uint64_t> ObjectReader::small_int(RemoteAddr obj) {
  OBJSPY_ASSIGN(bool is_int, is_instance_flag(obj, kTpFlagsLongSubclass));
  if (!is_int) return not_a("int", obj);
  OBJSPY_ASSIGN(std::uint64_t tag, mem_.u64(obj + l_.ob_size));
  std::uint64_t ndigits = l_.long_has_lv_tag ? (tag >> 3) : tag;
  if (ndigits == 0) return std::uint64_t{0};
  if (ndigits != 1) return not_a("small int", obj);
  OBJSPY_ASSIGN(std::uint32_t digit, mem_.u32(obj + l_.long_digits));
  return static_cast<std::uint64_t>(digit & 0x3FFFFFFF);
}

}  // namespace objspy
