#include "objspy/python/sizes.hpp"

#include <algorithm>
#include <cstring>

#include "objspy/core/load.hpp"
#include "objspy/process/scattered.hpp"
#include "sizes_internal.hpp"

namespace objspy {
namespace {

using namespace sizes;

std::int64_t sload64(const std::byte* p) { return static_cast<std::int64_t>(load64(p)); }

// Bytes of a body read for a deferred object, from `body_offset`.
std::uint64_t body_offset(SizeKind k, const Layout& l) { return k == SizeKind::type ? l.tp_flags : 0; }
std::size_t body_length(SizeKind k, const Layout& l) {
  const SizeofLayout& z = l.sizes;
  switch (k) {
    case SizeKind::odict: return z.odict_fast_nodes_size + 8;
    case SizeKind::gen: return z.gen_code + 8;
    case SizeKind::frame: return z.frame_code + 8;
    case SizeKind::str_sub: return z.unicode_size;
    case SizeKind::bytesio: return z.bytesio_buf + 8;
    case SizeKind::buffered: return z.buffered_buffer_size + 8;
    case SizeKind::bytearray_sub: return z.bytearray_alloc + 8;
    case SizeKind::struct_format: return z.struct_codes + 8;
    case SizeKind::type: return z.ht_cached_keys + 8 - l.tp_flags;
    default: return 48;
  }
}

}  // namespace

std::optional<std::uint64_t> SizeMeter::from_words(const TypeSizing& s, std::uint64_t obj, const BodyWords& w) const {
  const SizeofLayout& z = l_.sizes;
  const std::uint64_t base = s.base();
  switch (s.kind) {
    case SizeKind::fixed: return base;
    case SizeKind::var: {
      auto n = static_cast<std::int64_t>(w.w16);
      if (n < 0 || static_cast<std::uint64_t>(n) >= kHuge / std::max<std::uint64_t>(s.itemsize, 1)) return std::nullopt;
      return base + static_cast<std::uint64_t>(n) * s.itemsize;
    }
    case SizeKind::list:
      if (w.w32 >= kHuge / 8) return std::nullopt;
      return base + 8 * w.w32;
    case SizeKind::set: {
      if (w.w32 >= kHuge / z.set_entry) return std::nullopt;
      bool small = w.w40 == obj + z.set_smalltable;
      return base + (small ? 0 : (w.w32 + 1) * z.set_entry);
    }
    case SizeKind::deque: {
      if (w.w40 >= z.deque_blocklen || w.w16 >= kHuge) return std::nullopt;
      return base + ((w.w40 + w.w16 + z.deque_blocklen - 1) / z.deque_blocklen) * z.deque_block;
    }
    case SizeKind::int_sub: {
      // int.__sizeof__ uses offsetof(PyLongObject, ob_digit), not the subclass's basicsize.
      std::uint64_t digits;
      if (l_.long_has_lv_tag) {
        digits = w.w16 >> 3;
      } else {
        auto n = static_cast<std::int64_t>(w.w16);
        digits = static_cast<std::uint64_t>(n < 0 ? -n : n);
      }
      if (digits >= kHuge) return std::nullopt;
      if (l_.sizes.int_min_one_digit) digits = std::max<std::uint64_t>(digits, 1);
      return l_.long_digits + 4 * digits + s.pre;
    }
    default: return std::nullopt;
  }
}

std::optional<std::uint64_t> SizeMeter::keys_bytes(const std::byte* k) const {
  if (!l_.dict_keys_object.log2_sizes) {
    // 3.8-3.10: sizeof(PyDictKeysObject) + DK_IXSIZE * dk_size + USABLE_FRACTION(dk_size) entries.
    std::uint64_t n = load64(k + 8);
    if (n < 8 || n >= kHuge / 64 || (n & (n - 1))) return std::nullopt;
    std::uint64_t ix = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffULL ? 4 : 8;
    return l_.sizes.keys_size + ix * n + (2 * n / 3) * 24;
  }
  auto log2_size = static_cast<std::uint8_t>(k[8]), log2_index = static_cast<std::uint8_t>(k[9]), kind = static_cast<std::uint8_t>(k[10]);
  if (log2_size < 3 || log2_size > 34 || log2_index > log2_size + 3 || kind > 2) return std::nullopt;
  std::uint64_t n = 1ULL << log2_size;
  return l_.sizes.keys_size + (1ULL << log2_index) + (2 * n / 3) * (kind == 0 ? 24 : 16);
}

std::optional<std::uint64_t> SizeMeter::values_bytes(const std::byte* k) const {
  if (!l_.dict_keys_object.log2_sizes) {
    std::uint64_t n = load64(k + 8);
    if (n >= kHuge / 64) return std::nullopt;
    return (2 * n / 3) * 8;  // USABLE_FRACTION(dk_size) values
  }
  // 3.11+: shared_keys_usable_size = dk_nentries + dk_usable, read at this moment.
  std::int64_t used = sload64(k + l_.dict_keys_object.nentries), usable = sload64(k + l_.sizes.keys_usable);
  if (used < 0 || usable < 0 || used + usable >= static_cast<std::int64_t>(kHuge / 8)) return std::nullopt;
  return static_cast<std::uint64_t>(used + usable) * 8;
}

Status SizeMeter::object(std::uint64_t obj, std::uint64_t type, const BodyWords* words, TypeCounter& into) {
  OBJSPY_ASSIGN(const TypeSizing* s, sizing(type));
  if (!s->per_object()) return {};  // count x size in finish()
  const auto index = static_cast<std::uint32_t>(s - sizings_.data());  // per-object types are all in sizings_
  if (words && s->kind != SizeKind::dict) {
    if (auto b = from_words(*s, obj, *words)) {
      into.add_bytes(type, *b);
      return {};
    }
    if (s->kind <= SizeKind::int_sub) {
      ++unmeasured_;
      into.add_bytes(type, s->base());
      return {};
    }
  }
  // Sized in batches: memory for a batch, not for every object of a heap that has millions.
  live_ = &into;
  if (words && s->kind == SizeKind::dict) {
    dicts_.push_back({words->w32, index, words->w40 != 0});
  } else {
    deferred_.push_back(Deferred{obj, 0, index, s->kind});
    if (deferred_.size() >= kBatch) OBJSPY_TRY(flush_bodies());
  }
  if (dicts_.size() >= kBatch) OBJSPY_TRY(flush_dicts());
  return {};
}

void SizeMeter::count_unmeasured(const DictRef& d) {
  ++unmeasured_;
  const TypeSizing& s = sizings_[d.sizing];
  live_->add_bytes(s.type, s.base());
}

void SizeMeter::count_unmeasured(const Deferred& d) {
  ++unmeasured_;
  const TypeSizing& s = sizings_[d.sizing];
  live_->add_bytes(s.type, s.base());
}

Status SizeMeter::finish(TypeCounter& live, CensusBudget* budget) {
  live_ = &live;
  if (budget) budget_ = budget;
  // Fixed-size types: count x size.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> fixed;
  live.for_each([&](std::uint64_t t, std::uint64_t n) { fixed.emplace_back(t, n); });
  for (auto [t, n] : fixed) {
    OBJSPY_ASSIGN(const TypeSizing* s, sizing(t));
    if (!s->per_object()) live.add_bytes(t, n * s->base());
  }
  OBJSPY_TRY(flush_bodies());
  return flush_dicts();
}

Status SizeMeter::flush_dicts() {
  std::vector<DictRef> dicts = std::move(dicts_);
  dicts_.clear();
  return size_dicts(dicts, budget_ && budget_->expired());
}

// The objects deferred so far whose words were not read with their headers: their bodies
// read now, grouped by kind (one length each) and address. Dicts found here join dicts_.
Status SizeMeter::flush_bodies() {
  auto expired = [&] { return budget_ && budget_->expired(); };
  std::vector<Deferred> bodies = std::move(deferred_);
  deferred_.clear();
  std::vector<DictRef>& dicts = dicts_;
  std::sort(bodies.begin(), bodies.end(), [](const Deferred& a, const Deferred& b) { return a.kind != b.kind ? a.kind < b.kind : a.obj < b.obj; });
  std::vector<std::uint64_t> addrs;
  for (std::size_t b = 0; b < bodies.size();) {
    std::size_t e = b;
    while (e < bodies.size() && bodies[e].kind == bodies[b].kind) ++e;
    const SizeKind kind = bodies[b].kind;
    if (expired()) {
      for (std::size_t k = b; k < e; ++k) count_unmeasured(bodies[k]);
      b = e;
      continue;
    }
    // Kinds that need reads one object at a time past the body: no more bodies read than
    // those reads may take (a million classes cost max_direct reads, not a million bodies).
    std::size_t read_end = e;
    if (kind == SizeKind::type || kind == SizeKind::frame || kind == SizeKind::gen || kind == SizeKind::bytesio ||
        kind == SizeKind::array || kind == SizeKind::struct_format) {
      const std::size_t room = lim_.max_direct > direct_planned_ ? lim_.max_direct - direct_planned_ : 0;
      if (e - b > room) {
        for (std::size_t k = b + room; k < e; ++k) count_unmeasured(bodies[k]);
        read_end = b + room;
      }
      direct_planned_ += read_end - b;
    }
    const std::uint64_t off = body_offset(kind, l_);
    const std::size_t len = body_length(kind, l_);
    addrs.clear();
    for (std::size_t k = b; k < read_end; ++k) addrs.push_back(bodies[k].obj + off);
    std::vector<std::uint8_t> later(read_end - b, 0);
    Status inner;
    OBJSPY_TRY(read_scattered(bulk_, addrs, len, [&](std::size_t k, const std::byte* p) {
      Deferred& d = bodies[b + k];
      if (!inner.ok()) return;
      if (!p) { count_unmeasured(d); return; }
      const std::byte* o = p - off;  // as if read from the object's start
      auto word = [&](std::uint64_t at) { return load64(o + at); };
      const TypeSizing& s = sizings_[d.sizing];
      const std::uint64_t type = s.type;
      switch (kind) {
        case SizeKind::var: case SizeKind::list: case SizeKind::set: case SizeKind::deque: case SizeKind::int_sub: {
          BodyWords w{word(16), word(32), word(40)};
          if (auto v = from_words(s, d.obj, w)) live_->add_bytes(type, *v);
          else count_unmeasured(d);
          return;
        }
        case SizeKind::dict: case SizeKind::odict: {
          if (kind == SizeKind::odict) {
            // OrderedDict's own part now (its node table and nodes); the dict's with the rest.
            const SizeofLayout& z = l_.sizes;
            std::uint64_t fast = word(z.odict_fast_nodes_size), used = word(z.dict_used);
            if (fast >= kHuge / 8 || used >= kHuge / 64) { count_unmeasured(d); return; }
            live_->add_bytes(type, 8 * fast + (word(z.odict_first) ? z.odict_node * used : 0));
          }
          dicts.push_back({word(l_.dict_keys), d.sizing, word(l_.dict_values) != 0});
          return;
        }
        case SizeKind::str_sub: {
          const SizeofLayout& z = l_.sizes;
          std::uint64_t length = word(l_.str.length);
          std::uint32_t state = load32(o + l_.str.state);
          std::uint64_t ckind = (state >> 2) & 7;
          bool compact = (state >> 5) & 1, ascii = (state >> 6) & 1, ready = !l_.sizes.str_ready_bit || ((state >> 7) & 1);
          if (length >= kHuge || ckind > 4) { count_unmeasured(d); return; }
          std::uint64_t size, data;
          if (compact && ascii) { size = l_.str.ascii_size + length + 1; data = d.obj + l_.str.ascii_size; }
          else if (compact) { size = l_.str.compact_size + (length + 1) * ckind; data = d.obj + l_.str.compact_size; }
          else {
            data = word(z.data_any);
            size = z.unicode_size + (data ? (length + 1) * ckind : 0);
          }
          if (z.wstr) {  // <= 3.11: the wchar_t copy
            std::uint64_t wstr = word(z.wstr);
            if (wstr && (!ready || wstr != data)) {
              std::uint64_t wlen = (compact && ascii) ? length : word(z.wstr_length);
              if (wlen >= kHuge) { count_unmeasured(d); return; }
              size += (wlen + 1) * 4;
            }
          }
          if (!(compact && ascii)) {
            std::uint64_t utf8 = word(z.utf8);
            if (utf8 && utf8 != data) {
              std::uint64_t ulen = word(z.utf8_length);
              if (ulen >= kHuge) { count_unmeasured(d); return; }
              size += ulen + 1;
            }
          }
          live_->add_bytes(type, size + s.pre);
          return;
        }
        case SizeKind::bytearray_sub: {
          const SizeofLayout& z = l_.sizes;
          std::uint64_t alloc = word(z.bytearray_alloc);
          if (alloc >= kHuge) { count_unmeasured(d); return; }
          std::uint64_t extra = z.bytearray_backed ? (alloc ? alloc + z.bytes_header : 0) : alloc;
          live_->add_bytes(type, s.base() + extra);
          return;
        }
        case SizeKind::buffered: {
          const SizeofLayout& z = l_.sizes;
          std::uint64_t size = word(z.buffered_buffer_size);
          if (word(z.buffered_buffer) && size >= kHuge) { count_unmeasured(d); return; }
          live_->add_bytes(type, s.base() + (word(z.buffered_buffer) ? size : 0));
          return;
        }
        default:
          // Frames, generators, types, BytesIO, array: one more read each, below.
          d.keys = kind == SizeKind::frame ? word(l_.sizes.frame_code)
                 : kind == SizeKind::gen ? (word(l_.sizes.gen_code) & l_.sizes.code_ptr_mask)
                 : kind == SizeKind::bytesio ? word(l_.sizes.bytesio_buf)
                 : kind == SizeKind::struct_format ? word(l_.sizes.struct_codes)
                 : kind == SizeKind::type ? word(l_.sizes.ht_cached_keys) : 0;
          if (kind == SizeKind::type && !(word(l_.tp_flags) & kTpFlagsHeapType)) {
            // A static type is never on a GC list; sized as object.__sizeof__ would.
            live_->add_bytes(type, s.base());
            return;
          }
          later[k] = 1;
          return;
      }
    }));
    for (std::size_t k = b; k < read_end; ++k) {
      if (!later[k - b]) continue;
      if (expired() || direct_ >= lim_.max_direct) {
        count_unmeasured(bodies[k]);
        continue;
      }
      ++direct_;
      OBJSPY_TRY(size_direct(bodies[k]));
    }
    b = e;
  }
  return {};
}

Status SizeMeter::size_dicts(std::vector<DictRef>& dicts, bool expired) {
  if (expired) {
    for (const DictRef& d : dicts) count_unmeasured(d);
    return {};
  }
  // By key table: neighbours read together, shared tables read once.
  std::sort(dicts.begin(), dicts.end(), [](const DictRef& a, const DictRef& b) { return a.keys < b.keys; });
  std::vector<std::uint64_t> addrs;
  addrs.reserve(dicts.size());
  for (const DictRef& d : dicts) addrs.push_back(d.keys);
  const std::size_t len = 32;
  return read_scattered(bulk_, addrs, len, [&](std::size_t k, const std::byte* p) {
    const DictRef& d = dicts[k];
    if (!p || !d.keys) { count_unmeasured(d); return; }
    const TypeSizing& s = sizings_[d.sizing];
    std::uint64_t size = s.base();
    if (d.has_values) {
      auto v = values_bytes(p);
      if (!v) { count_unmeasured(d); return; }
      size += *v;
    }
    if (load64(p) == 1) {  // dk_refcnt: a table of this dict alone
      auto kb = keys_bytes(p);
      if (!kb) { count_unmeasured(d); return; }
      size += *kb;
    }
    live_->add_bytes(s.type, size);
  });
}

Result<std::optional<std::uint64_t>> SizeMeter::code_slots(std::uint64_t code) {
  if (!code || (code & 7)) return std::optional<std::uint64_t>{};
  if (std::uint32_t v = code_slots_.find(code); v != FlatMap::kNone) return v ? std::optional<std::uint64_t>(v - 1) : std::nullopt;
  const SizeofLayout& z = l_.sizes;
  std::optional<std::uint64_t> slots;
  std::byte c[96];
  auto st = mem_.read(RemoteAddr(code), c);
  if (!st.ok() && fatal(st.error())) return st.take_error();
  if (st.ok()) {
    auto i32 = [&](std::uint64_t at) { return static_cast<std::int32_t>(load32(c + at)); };
    if (z.frame_slots == FrameSlots::cells_and_frees) {
      // stacksize + nlocals + len(co_cellvars) + len(co_freevars)
      std::int64_t n = static_cast<std::int64_t>(i32(z.co_stacksize)) + i32(z.co_nlocals);
      for (std::uint64_t at : {z.co_cellvars, z.co_freevars}) {
        auto len = mem_.u64(RemoteAddr(load64(c + at)) + l_.ob_size);
        if (!len.ok()) {
          if (fatal(len.error())) return len.take_error();
          n = -1;
          break;
        }
        n += static_cast<std::int64_t>(*len);
      }
      if (n >= 1 && n < (1 << 24)) slots = static_cast<std::uint64_t>(n);
    } else if (z.frame_slots == FrameSlots::nlocalsplus_stacksize) {
      std::int64_t n = static_cast<std::int64_t>(i32(z.co_nlocalsplus)) + i32(z.co_stacksize);
      if (n >= 0 && n < (1 << 24)) slots = static_cast<std::uint64_t>(n);
    } else {
      std::int64_t n = static_cast<std::int64_t>(i32(z.co_framesize)) - static_cast<std::int64_t>(z.frame_specials);
      if (n >= 0 && n < (1 << 24)) slots = static_cast<std::uint64_t>(n);
    }
  }
  if (code_slots_.size() < lim_.max_types) code_slots_.put(code, slots ? static_cast<std::uint32_t>(*slots + 1) : 0);
  return slots;
}

Status SizeMeter::size_direct(Deferred& d) {
  const SizeofLayout& z = l_.sizes;
  const TypeSizing& s = sizings_[d.sizing];
  const std::uint64_t type = s.type;
  auto soft = [&](const Error& e) -> Status {
    if (fatal(e)) return e;
    count_unmeasured(d);
    return {};
  };
  switch (d.kind) {
    case SizeKind::frame: {
      std::uint64_t code = d.keys;
      const bool direct = z.frame_slots == FrameSlots::cells_and_frees;  // 3.8-3.10: f_code
      if (!direct) {  // f_frame -> its code
        auto c = mem_.u64(RemoteAddr(d.keys) + z.iframe_code);
        if (!c.ok()) return soft(c.error());
        code = *c & z.code_ptr_mask;
      }
      OBJSPY_ASSIGN(auto slots, code_slots(code));
      if (!slots) { count_unmeasured(d); return {}; }
      std::uint64_t size = direct ? z.frame_base + (*slots - 1) * 8 : z.frame_base + *slots * 8;
      live_->add_bytes(type, size + s.pre);
      return {};
    }
    case SizeKind::gen: {
      OBJSPY_ASSIGN(auto slots, code_slots(d.keys));
      if (!slots) { count_unmeasured(d); return {}; }
      live_->add_bytes(type, z.gen_base + *slots * 8 + s.pre);
      return {};
    }
    case SizeKind::type: {
      std::uint64_t size = z.heap_type_size;
      if (d.keys) {  // ht_cached_keys: charged whatever its reference count
        std::byte k[32];
        auto st = mem_.read(RemoteAddr(d.keys), k);
        if (!st.ok()) return soft(st.error());
        auto kb = keys_bytes(k);
        if (!kb) { count_unmeasured(d); return {}; }
        size += *kb;
      }
      live_->add_bytes(type, size + s.pre);
      return {};
    }
    case SizeKind::bytesio: {
      std::uint64_t size = s.base();
      if (d.keys) {  // the buffer, a bytes object, unless shared (refcount above 1)
        std::uint64_t b[3];
        auto st = mem_.read(RemoteAddr(d.keys), std::as_writable_bytes(std::span(b)));
        if (!st.ok()) return soft(st.error());
        if (b[2] >= kHuge) { count_unmeasured(d); return {}; }
        if ((b[0] & 0xFFFFFFFFULL) == 1) size += z.bytes_header + b[2];
      }
      live_->add_bytes(type, size);
      return {};
    }
    case SizeKind::struct_format: {
      // Count the format codes up to the one whose fmtdef is NULL, 64 at a time, bounded.
      constexpr std::size_t kChunk = 64, kMaxCodes = 1 << 16;
      std::vector<std::byte> buf(kChunk * z.formatcode_size);
      std::uint64_t n = 0;
      bool ended = false;
      while (!ended && n < kMaxCodes && d.keys) {
        auto st = mem_.read(RemoteAddr(d.keys + n * z.formatcode_size), buf);
        if (!st.ok()) return soft(st.error());
        for (std::size_t k = 0; k < kChunk; ++k, ++n)
          if (load64(buf.data() + k * z.formatcode_size) == 0) { ended = true; break; }
      }
      if (!ended) { count_unmeasured(d); return {}; }
      live_->add_bytes(type, s.base() + z.formatcode_size * (n + 1));
      return {};
    }
    case SizeKind::array: {
      std::uint64_t w[2];
      auto st = mem_.read(RemoteAddr(d.obj + z.array_allocated), std::as_writable_bytes(std::span(w)));
      if (!st.ok()) return soft(st.error());
      auto item = mem_.u32(RemoteAddr(w[1]) + z.descr_itemsize);
      if (!item.ok()) return soft(item.error());
      if (w[0] >= kHuge / 16 || *item > 16) { count_unmeasured(d); return {}; }
      live_->add_bytes(type, s.base() + w[0] * *item);
      return {};
    }
    default:
      count_unmeasured(d);
      return {};
  }
}

}  // namespace objspy
