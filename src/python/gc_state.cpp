#include "objspy/python/gc_state.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "objspy/python/objects.hpp"

namespace objspy {
namespace {

// The map may be older than the heap (new arenas are mapped all the time): an address it does
// not know is asked of the target itself before being called bad.
Result<bool> readable(MemoryReader& mem, const MemoryMap* map, RemoteAddr a, std::size_t len) {
  if (!map || map->readable(a, len)) return true;
  std::byte buf[16];
  auto r = mem.read(a, std::span<std::byte>(buf, std::min<std::size_t>(len, sizeof buf)));
  if (r.ok()) return true;
  if (r.error().code == Errc::bad_address) return false;
  return r.take_error();
}

Result<bool> plausible_link(MemoryReader& mem, const MemoryMap* map, std::uint64_t w) {
  w &= ~std::uint64_t{3};
  if (w == 0 || (w & 7)) return false;
  return readable(mem, map, RemoteAddr(w), 16);
}

// A list sentinel: both links point to itself (empty) or to plausible nodes. A busy target
// rewrites the links of its lists all the time and frees what they pointed to (a whole arena
// may go back to the system), so a link that fails is read again from the target itself
// (`fresh`, never a cache): only one that stays put while pointing nowhere is bad.
Result<bool> sentinel_ok(MemoryReader& mem, MemoryReader& fresh, const MemoryMap* map, RemoteAddr head) {
  constexpr int kRereads = 8;
  std::array<std::uint64_t, 2> links{};
  auto r = mem.read(head, std::as_writable_bytes(std::span(links)));
  for (int round = 0;; ++round) {
    if (!r.ok()) {
      if (r.error().code == Errc::bad_address) return false;
      return r.take_error();
    }
    bool ok = true;
    for (std::uint64_t w : links) {
      if ((w & ~std::uint64_t{3}) == head.value()) continue;
      OBJSPY_ASSIGN(ok, plausible_link(mem, map, w));
      if (!ok) break;
    }
    if (ok) return true;
    if (round == kRereads) return false;
    const auto before = links;
    r = fresh.read(head, std::as_writable_bytes(std::span(links)));
    if (r.ok() && links == before) return false;
  }
}

// Try the GC state at `base`: follow generation0 where the layout has it (it also finds the
// Debian 3.13 generations at +20), then check every sentinel.
Result<std::optional<GcState>> try_gc_state(MemoryReader& mem, MemoryReader& fresh, const MemoryMap* map, const GcLayout& g,
                                            RemoteAddr base, std::string* note) {
  GcState s;
  s.base = base;
  if (g.generation0) {
    auto gen0 = mem.u64(base + *g.generation0);
    if (!gen0.ok()) {
      if (gen0.error().code == Errc::bad_address) return std::optional<GcState>{};
      return gen0.take_error();
    }
    std::uint64_t off = *gen0 - base.value();
    // generation0 must point at the first list head inside this struct, before itself.
    if (*gen0 < base.value() || off + 3 * g.list_stride > *g.generation0 || off + 8 < g.heads[0]) return std::optional<GcState>{};
    if (off != g.heads[0] && note) *note = fmt::format("GC generations at +{} (table says +{}): found through generation0", off, g.heads[0]);
    for (int i = 0; i < 3; ++i) s.heads[static_cast<std::size_t>(i)] = RemoteAddr(*gen0 + static_cast<std::uint64_t>(i) * g.list_stride);
  } else {
    for (std::size_t i = 0; i < 3; ++i) s.heads[i] = base + g.heads[i];
  }
  s.permanent = base + g.permanent;
  s.collecting = base + g.collecting;
  for (RemoteAddr h : {s.heads[0], s.heads[1], s.heads[2], s.permanent}) {
    OBJSPY_ASSIGN(bool ok, sentinel_ok(mem, fresh, map, h));
    if (!ok) return std::optional<GcState>{};
  }
  return std::optional<GcState>(s);
}

// When the table offset of the GC state fails validation (a build with other struct
// padding, a patch release that moved fields), find it by its self-pointer: generation0
// holds the address of the first head, a fixed distance before it.
Result<std::optional<GcState>> scan_for_gc_state(MemoryReader& mem, MemoryReader& fresh, const MemoryMap* map, const GcLayout& g,
                                                 RemoteAddr container, std::uint64_t span, std::string* note) {
  if (!g.generation0) return std::optional<GcState>{};
  std::vector<std::uint64_t> words(span / 8);
  if (!mem.read(container, std::as_writable_bytes(std::span(words))).ok()) return std::optional<GcState>{};
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::uint64_t here = container.value() + i * 8;
    if (here < *g.generation0) continue;
    std::uint64_t base = here - *g.generation0;
    std::uint64_t w = words[i];
    if (w < base || w >= here) continue;
    OBJSPY_ASSIGN(auto s, try_gc_state(mem, fresh, map, g, RemoteAddr(base), nullptr));
    if (s) {
      if (note) *note = fmt::format("GC state found at interpreter+{:#x} by its generation0 pointer", base - container.value());
      return s;
    }
  }
  return std::optional<GcState>{};
}

}  // namespace

Result<Interpreters> find_interpreters(MemoryReader& mem, const MemoryMap* map, const Layout& l, RemoteAddr runtime,
                                       std::size_t max_interpreters, MemoryReader* fresh_reader) {
  MemoryReader& fresh = fresh_reader ? *fresh_reader : mem;
  Interpreters out;
  OBJSPY_ASSIGN(RemoteAddr head, mem.ptr(runtime + l.rt_interpreters_head));
  OBJSPY_ASSIGN(out.main, mem.ptr(runtime + l.rt_interpreters_main));
  if (head.null())
    return make_error(Errc::not_python, "the Python runtime is not initialised (no interpreter yet, or already finalised)");
  max_interpreters = std::max<std::size_t>(max_interpreters, 1);
  std::set<std::uint64_t> seen;
  auto usable = [&](RemoteAddr it) -> Result<bool> {
    if (!it.aligned(8)) return false;
    return readable(mem, map, it, 8);
  };
  for (RemoteAddr it = head; !it.null(); ) {
    if (out.all.size() == max_interpreters) {
      out.truncated = true;
      break;
    }
    OBJSPY_ASSIGN(bool ok, usable(it));
    if (!ok || !seen.insert(it.value()).second)
      return make_error(Errc::corrupt_target, fmt::format("the interpreter list is broken at {:#x}", it.value()));
    out.all.push_back(it);
    OBJSPY_ASSIGN(it, mem.ptr(it + l.interp_next));
  }
  if (out.main.null()) out.main = out.all.back();  // the first one created is last in the list

  // Listed main first, then the others in creation order (the list is newest first). The list
  // order alone is not enough: an embedder can create and end interpreters in any order, and
  // the main one need not be last (uWSGI, weechat). A list cut short may not reach the main
  // one: it is read all the same, in place of the last one read.
  std::vector<RemoteAddr> order;
  if (std::find(out.all.begin(), out.all.end(), out.main) != out.all.end()) {
    order.push_back(out.main);
  } else if (out.truncated) {
    OBJSPY_ASSIGN(bool ok, usable(out.main));
    if (ok) {
      order.push_back(out.main);
      out.all.back() = out.main;
    }
  }
  for (auto it = out.all.rbegin(); it != out.all.rend(); ++it)
    if (*it != out.main) order.push_back(*it);

  std::set<std::uint64_t> gc_seen;
  std::int64_t next_index = 1;
  // Where a scan found the GC state in its container: the other interpreters of the same build
  // have it at the same place. A scan reads up to 1 MiB and tries every self-pointer in it, so
  // a census makes at most one.
  std::optional<std::uint64_t> scanned_at;
  bool scanned = false;
  for (RemoteAddr interp : order) {
    const bool in_runtime = l.rt_gc.has_value();
    RemoteAddr container = in_runtime ? runtime : interp;
    RemoteAddr base = container + (in_runtime ? *l.rt_gc : l.interp_gc);
    if (gc_seen.count(base.value())) continue;  // 3.8: one GC state shared by all
    std::string note;
    OBJSPY_ASSIGN(auto state, try_gc_state(mem, fresh, map, l.gc, base, &note));
    if (!state && scanned_at) {
      OBJSPY_ASSIGN(state, try_gc_state(mem, fresh, map, l.gc, container + *scanned_at, nullptr));
    }
    if (!state && !scanned) {
      scanned = true;
      std::uint64_t span = in_runtime ? 4096 : std::max<std::uint64_t>(l.interp_size_hint, 16384);
      OBJSPY_ASSIGN(state, scan_for_gc_state(mem, fresh, map, l.gc, container, std::min<std::uint64_t>(span, 1 << 20), &note));
      if (state) scanned_at = state->base.value() - container.value();
    }
    if (!state)
      return make_error(Errc::corrupt_target,
                        fmt::format("no valid GC state in interpreter {:#x} (Python {}: offsets do not match this build)", interp.value(),
                                    l.version.str()));
    if (!gc_seen.insert(state->base.value()).second) continue;  // found by scan: shared all the same
    if (!note.empty() && std::find(out.notes.begin(), out.notes.end(), note) == out.notes.end()) out.notes.push_back(note);
    state->interpreter_index = interp == out.main ? 0 : next_index++;
    out.gc_states.push_back(*state);
  }
  return out;
}

Result<SysFacts> read_sys_facts(MemoryReader& mem, const Layout& l, RemoteAddr main_interp) {
  SysFacts f;
  ObjectReader objs(mem, l);
  OBJSPY_ASSIGN(RemoteAddr sysdict, mem.ptr(main_interp + l.interp_sysdict));
  if (sysdict.null()) return f;
  OBJSPY_ASSIGN(auto hex, objs.dict_get(sysdict, "hexversion"));
  if (hex) {
    auto v = objs.small_int(*hex);
    if (v.ok()) f.hexversion = *v;
  }
  OBJSPY_ASSIGN(auto total_refs, objs.dict_get(sysdict, "gettotalrefcount"));
  f.debug_build = total_refs.has_value();
  return f;
}

}  // namespace objspy
