#include "objspy/python/collector.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

namespace objspy {
namespace {

bool soft(const Error& e) { return e.code == Errc::bad_address; }

template <class T>
T at(const std::vector<std::byte>& buf, std::uint64_t off) {
  T v{};
  std::memcpy(&v, buf.data() + off, sizeof v);
  return v;
}

// Reads a piece of target memory; nullopt (with a note) for memory the target does not have.
Result<std::optional<std::vector<std::byte>>> read_block(MemoryReader& mem, RemoteAddr a, std::uint64_t len) {
  std::vector<std::byte> buf(len);
  auto st = mem.read(a, buf);
  if (!st.ok()) {
    if (soft(st.error())) return std::optional<std::vector<std::byte>>{};
    return st.take_error();
  }
  return std::optional<std::vector<std::byte>>(std::move(buf));
}

// Whether `t` is a type object: its own type is a metatype (Py_TPFLAGS_TYPE_SUBCLASS). Unlike
// the census's TypeValidator it accepts types without Py_TPFLAGS_HAVE_GC: anything can be put
// in gc.garbage by hand.
class AnyTypeCheck {
 public:
  AnyTypeCheck(MemoryReader& mem, const Layout& l) : mem_(mem), l_(l) {}
  Result<bool> is_type(RemoteAddr t) {
    if (auto it = cache_.find(t.value()); it != cache_.end()) return it->second;
    bool ok = false;
    if (!t.null() && t.aligned(8)) {
      auto meta = mem_.ptr(t + l_.ob_type);
      if (!meta.ok() && !soft(meta.error())) return meta.take_error();
      if (meta.ok() && !meta->null() && meta->aligned(8)) {
        auto flags = mem_.u64(*meta + l_.tp_flags);
        if (!flags.ok() && !soft(flags.error())) return flags.take_error();
        ok = flags.ok() && (*flags & kTpFlagsTypeSubclass);
      }
    }
    cache_.emplace(t.value(), ok);
    return ok;
  }

 private:
  MemoryReader& mem_;
  const Layout& l_;
  std::unordered_map<std::uint64_t, bool> cache_;
};

struct ListHead {
  std::uint64_t size = 0;
  RemoteAddr items;
};

// The list object at the pointer stored at `slot` (gc.garbage or gc.callbacks): nullopt with a
// note when it is not there or not a list.
Result<std::optional<ListHead>> read_list(MemoryReader& mem, const Layout& l, AnyTypeCheck& types, RemoteAddr list, const char* what,
                                          std::vector<std::string>& notes) {
  auto none = [&](std::string why) {
    notes.push_back(fmt::format("{}: {}", what, why));
    return std::optional<ListHead>{};
  };
  if (list.null()) return none("no list yet (the interpreter is starting or ending)");
  if (!list.aligned(8)) return none(fmt::format("the pointer {:#x} is not an object", list.value()));
  const std::uint64_t len = std::max({l.ob_type, l.ob_size, l.list.ob_item}) + 8;
  OBJSPY_ASSIGN(auto head, read_block(mem, list, len));
  if (!head) return none(fmt::format("the list at {:#x} cannot be read", list.value()));
  RemoteAddr type(at<std::uint64_t>(*head, l.ob_type));
  OBJSPY_ASSIGN(bool is_type, types.is_type(type));
  bool is_list = false;
  if (is_type) {
    auto flags = mem.u64(type + l.tp_flags);
    if (!flags.ok() && !soft(flags.error())) return flags.take_error();
    is_list = flags.ok() && (*flags & kTpFlagsListSubclass);
  }
  if (!is_list) return none(fmt::format("the object at {:#x} is not a list", list.value()));
  auto size = at<std::int64_t>(*head, l.ob_size);
  if (size < 0) return none(fmt::format("the list at {:#x} has a negative length", list.value()));
  ListHead out;
  out.size = static_cast<std::uint64_t>(size);
  out.items = RemoteAddr(at<std::uint64_t>(*head, l.list.ob_item));
  return std::optional<ListHead>(out);
}

// Types of the first `n` items of gc.garbage, by type address; items whose pointer or type
// does not check out are counted in `unreadable`.
Status count_item_types(MemoryReader& mem, const Layout& l, AnyTypeCheck& types, RemoteAddr items, std::uint64_t n, CollectorFigures& f) {
  if (n == 0) return {};
  if (items.null() || !items.aligned(8)) {
    f.notes.push_back(fmt::format("gc.garbage: its item array pointer {:#x} is not valid", items.value()));
    f.garbage_unreadable += n;
    return {};
  }
  std::unordered_map<std::uint64_t, std::uint64_t> by_type;
  constexpr std::uint64_t kChunk = 4096;  // item pointers per read
  std::vector<std::uint64_t> ptrs;
  std::vector<std::uint64_t> type_words;
  std::vector<ReadRequest> reqs;
  for (std::uint64_t done = 0; done < n; done += ptrs.size()) {
    ptrs.assign(std::min(kChunk, n - done), 0);
    auto st = mem.read(items + done * 8, std::as_writable_bytes(std::span(ptrs)));
    if (!st.ok()) {
      if (!soft(st.error())) return st;
      f.notes.push_back(fmt::format("gc.garbage: items {} to {} cannot be read", done, n - 1));
      f.garbage_unreadable += n - done;
      break;
    }
    type_words.assign(ptrs.size(), 0);
    reqs.clear();
    std::vector<std::size_t> which;  // index into ptrs of each request
    for (std::size_t i = 0; i < ptrs.size(); ++i) {
      RemoteAddr o(ptrs[i]);
      if (o.null() || !o.aligned(8)) continue;
      reqs.push_back({o + l.ob_type, std::as_writable_bytes(std::span(&type_words[i], 1))});
      which.push_back(i);
    }
    for (std::size_t b = 0; b < reqs.size(); b += 1024) {
      std::span<ReadRequest> batch(reqs.data() + b, std::min<std::size_t>(1024, reqs.size() - b));
      OBJSPY_TRY(mem.read_batch(batch));
    }
    std::uint64_t good = 0;
    for (std::size_t k = 0; k < reqs.size(); ++k) {
      if (!reqs[k].ok) continue;
      std::uint64_t t = type_words[which[k]];
      OBJSPY_ASSIGN(bool ok, types.is_type(RemoteAddr(t)));
      if (!ok) continue;
      ++by_type[t];
      ++good;
    }
    f.garbage_unreadable += ptrs.size() - good;
  }
  for (auto [t, c] : by_type) f.garbage_by_type.emplace_back(RemoteAddr(t), c);
  std::sort(f.garbage_by_type.begin(), f.garbage_by_type.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  return {};
}

// 3.15: the newest record of each ring, under the sequence lock CPython's collector keeps
// (update_seq odd while it writes; it moves the ring's index before filling the record).
Result<std::optional<std::array<GcGenerationFigures, 3>>> read_ring(MemoryReader& mem, const GcStatsRing& r, RemoteAddr stats,
                                                                    std::vector<std::string>& notes) {
  using Out = std::optional<std::array<GcGenerationFigures, 3>>;
  if (stats.null()) {
    notes.push_back("gc.get_stats(): the statistics are not allocated yet");
    return Out{};
  }
  constexpr int kTries = 5;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    OBJSPY_ASSIGN(auto block, read_block(mem, stats, r.size));
    if (!block) {
      notes.push_back(fmt::format("gc.get_stats(): the statistics at {:#x} cannot be read", stats.value()));
      return Out{};
    }
    auto seq = at<std::uint32_t>(*block, r.update_seq);
    auto again = mem.u32(stats + r.update_seq);
    if (!again.ok() && !soft(again.error())) return again.take_error();
    if ((seq & 1) || !again.ok() || *again != seq) continue;  // a collection was writing a record
    std::array<GcGenerationFigures, 3> out;
    for (std::size_t g = 0; g < 3; ++g) {
      auto idx = at<std::int8_t>(*block, r.index[g]);
      if (idx < 0 || static_cast<std::uint32_t>(idx) >= r.slots[g]) {
        notes.push_back(fmt::format("gc.get_stats(): generation {} names record {} of {}", g, idx, r.slots[g]));
        return Out{};
      }
      std::uint64_t rec = r.items[g] + static_cast<std::uint64_t>(idx) * r.record_size;
      out[g].collections = at<std::int64_t>(*block, rec + r.collections);
      out[g].collected = at<std::int64_t>(*block, rec + r.collected);
      out[g].uncollectable = at<std::int64_t>(*block, rec + r.uncollectable);
      out[g].candidates = at<std::int64_t>(*block, rec + r.candidates);
      out[g].duration = at<double>(*block, rec + r.duration);
    }
    return Out(out);
  }
  notes.push_back("gc.get_stats(): a collection kept updating the statistics while they were read");
  return Out{};
}

}  // namespace

Result<CollectorFigures> read_collector(MemoryReader& mem, const Layout& l, const GcState& s, const CollectorLimits& lim) {
  CollectorFigures f;
  const GcLayout& g = l.gc;
  // The whole state in one read: the figures in it are as close to one moment as a running
  // target allows.
  // Every offset of the table must lie inside the state it describes (a table bug, not the target's).
  std::uint64_t end = std::max({g.enabled + 4, g.debug + 4, g.collecting + 4, g.garbage + 8, g.callbacks + 8,
                                g.stats + (g.stats_kind == GcStatsKind::inline_array ? 3 * g.stats_stride : 8),
                                g.visited_space ? *g.visited_space + 4 : 0});
  if (end > g.size) return make_error(Errc::internal, fmt::format("the collector's layout for Python {} runs past its GC state", l.version.str()));
  OBJSPY_ASSIGN(auto state, read_block(mem, s.base, g.size));
  if (!state) {
    f.notes.push_back(fmt::format("the GC state at {:#x} cannot be read", s.base.value()));
    return f;
  }
  auto i32 = [&](std::uint64_t off) { return static_cast<std::int64_t>(at<std::int32_t>(*state, off)); };
  f.enabled = i32(g.enabled) != 0;
  f.debug = i32(g.debug);
  f.collecting = i32(g.collecting) != 0;

  // Threshold and count sit in each struct gc_generation, after its list head.
  std::array<std::uint64_t, 3> gen{};
  bool inside = true;
  for (std::size_t i = 0; i < 3; ++i) {
    gen[i] = s.heads[i] - s.base;
    inside = inside && s.heads[i] >= s.base && gen[i] + std::max(g.threshold, g.count) + 4 <= g.size;
  }
  if (!inside) {
    f.notes.push_back("gc.get_threshold(), gc.get_count(): the generations are not inside the GC state");
  } else {
    std::array<std::int64_t, 3> thr{}, cnt{};
    for (std::size_t i = 0; i < 3; ++i) {
      thr[i] = i32(gen[i] + g.threshold);
      cnt[i] = i32(gen[i] + g.count);
    }
    if (g.oldest_threshold_zero) thr[2] = 0;  // what that version's gc.get_threshold() returns
    f.thresholds = thr;
    if (g.visited_space) {
      // Incremental collector: young, then the old space visited in the current scan, then the other.
      std::int64_t v = i32(*g.visited_space);
      if (v == 0 || v == 1) f.counts = std::array<std::int64_t, 3>{cnt[0], cnt[1 + static_cast<std::size_t>(v)], cnt[2 - static_cast<std::size_t>(v)]};
      else f.notes.push_back(fmt::format("gc.get_count(): visited_space is {}, not 0 or 1", v));
    } else {
      f.counts = cnt;
    }
  }

  switch (g.stats_kind) {
    case GcStatsKind::inline_array: {
      std::array<GcGenerationFigures, 3> st;
      for (std::size_t i = 0; i < 3; ++i) {
        std::uint64_t off = g.stats + i * g.stats_stride;
        st[i].collections = at<std::int64_t>(*state, off);
        st[i].collected = at<std::int64_t>(*state, off + 8);
        st[i].uncollectable = at<std::int64_t>(*state, off + 16);
      }
      f.stats = st;
      break;
    }
    case GcStatsKind::ring_pointer: {
      OBJSPY_ASSIGN(f.stats, read_ring(mem, g.ring, RemoteAddr(at<std::uint64_t>(*state, g.stats)), f.notes));
      break;
    }
    case GcStatsKind::unknown:
      f.notes.push_back("gc.get_stats(): " + g.stats_note);
      break;
  }

  AnyTypeCheck types(mem, l);
  OBJSPY_ASSIGN(auto garbage, read_list(mem, l, types, RemoteAddr(at<std::uint64_t>(*state, g.garbage)), "gc.garbage", f.notes));
  if (garbage) {
    f.garbage = garbage->size;
    f.garbage_examined = std::min(garbage->size, lim.max_garbage_items);
    OBJSPY_TRY(count_item_types(mem, l, types, garbage->items, f.garbage_examined, f));
  }
  OBJSPY_ASSIGN(auto callbacks, read_list(mem, l, types, RemoteAddr(at<std::uint64_t>(*state, g.callbacks)), "gc.callbacks", f.notes));
  if (callbacks) f.callbacks = callbacks->size;
  return f;
}

}  // namespace objspy
