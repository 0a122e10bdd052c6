#include "fake_python.hpp"

#include <algorithm>
#include <stdexcept>

namespace fake {

using objspy::Layout;

Heap::Heap(Layout l) : layout(std::move(l)) {
  mem.map(RemoteAddr(kBase), kSize);
  map = objspy::MemoryMap({objspy::Mapping{kBase, kBase + kSize, true, true, false, 0, 0, "[heap]", false}});
  runtime = alloc(4096);
  interp = alloc(std::max<std::uint64_t>(layout.interp_size_hint, 16384));
  gc_state = layout.rt_gc ? runtime + *layout.rt_gc : interp + layout.interp_gc;
  for (std::size_t i = 0; i < 3; ++i) heads[i] = gc_state + layout.gc.heads[i];
  heads[3] = gc_state + layout.gc.permanent;
  for (auto h : heads) { mem.put_u64(h, h.value()); mem.put_u64(h + 8, h.value()); }
  if (layout.gc.generation0) mem.put_u64(gc_state + *layout.gc.generation0, heads[0].value());
  // The metatype: its own type, a type subclass.
  type_type = alloc(1024);
  mem.put_u64(type_type + layout.ob_type, type_type.value());
  mem.put_u64(type_type + layout.tp_flags, objspy::kTpFlagsTypeSubclass | objspy::kTpFlagsHaveGc);
  RemoteAddr tn = alloc(16);
  mem.put_bytes(tn, std::string("type\0", 5));
  mem.put_u64(type_type + layout.tp_name, tn.value());
  str_type = static_type("str", 1ULL << 28);
  dict_type = static_type("dict", (1ULL << 29) | objspy::kTpFlagsHaveGc);
  RemoteAddr none_type = static_type("NoneType", 0);
  none_obj = alloc(16);
  mem.put_u64(none_obj + layout.ob_type, none_type.value());
  list_type = static_type("list", objspy::kTpFlagsListSubclass | objspy::kTpFlagsHaveGc);
  init_collector(gc_state);
}

RemoteAddr Heap::list(const std::vector<RemoteAddr>& items) {
  RemoteAddr o = alloc(48);
  mem.put_u64(o, 1);
  mem.put_u64(o + layout.ob_type, list_type.value());
  mem.put_u64(o + layout.ob_size, items.size());
  RemoteAddr arr = alloc(std::max<std::uint64_t>(8, items.size() * 8));
  for (std::size_t i = 0; i < items.size(); ++i) mem.put_u64(arr + i * 8, items[i].value());
  mem.put_u64(o + layout.list.ob_item, arr.value());
  mem.put_u64(o + 32, items.size());  // allocated
  return o;
}

void Heap::init_collector(RemoteAddr gc) {
  const auto& g = layout.gc;
  mem.put_u32(gc + g.enabled, 1);
  const std::uint32_t thresholds[3] = {layout.version.minor >= 13 ? 2000u : 700u, 10, 10};
  for (std::size_t i = 0; i < 3; ++i) mem.put_u32(gc + g.heads[i] + g.threshold, thresholds[i]);
  mem.put_u64(gc + g.garbage, list({}).value());
  mem.put_u64(gc + g.callbacks, list({}).value());
  if (g.stats_kind == objspy::GcStatsKind::ring_pointer) mem.put_u64(gc + g.stats, alloc(g.ring.size).value());
}

RemoteAddr Heap::stats_block(RemoteAddr gc) {
  std::uint64_t p = 0;
  (void)mem.read(gc + layout.gc.stats, std::as_writable_bytes(std::span(&p, 1)));
  return RemoteAddr(p);
}

void Heap::set_generations_at(std::uint64_t off) {
  for (std::size_t i = 0; i < 3; ++i) {
    heads[i] = gc_state + off + i * 24;
    mem.put_u64(heads[i], heads[i].value());
    mem.put_u64(heads[i] + 8, heads[i].value());
    mem.put_u32(heads[i] + layout.gc.threshold, i == 0 ? 2000 : 10);  // threshold and count move with their head
    mem.put_u32(heads[i] + layout.gc.count, 0);
  }
  mem.put_u64(gc_state + *layout.gc.generation0, heads[0].value());
}

RemoteAddr Heap::alloc(std::uint64_t size) {
  RemoteAddr a(next_);
  next_ += (size + 15) & ~std::uint64_t{15};
  if (next_ > kBase + kSize) throw std::runtime_error("fake heap full");
  return a;
}

RemoteAddr Heap::static_type(const std::string& tp_name, std::uint64_t extra_flags) {
  RemoteAddr t = alloc(1024);
  mem.put_u64(t + layout.ob_type, type_type.value());
  mem.put_u64(t + layout.tp_flags, extra_flags | (1ULL << 12));
  RemoteAddr n = alloc(tp_name.size() + 1);
  mem.put_bytes(n, tp_name);
  mem.put_u64(t + layout.tp_name, n.value());
  return t;
}

RemoteAddr Heap::str(const std::string& ascii) {
  RemoteAddr s = alloc(layout.str.ascii_size + ascii.size() + 1);
  mem.put_u64(s + layout.ob_type, str_type.value());
  mem.put_u64(s + layout.str.length, ascii.size());
  mem.put_u32(s + layout.str.state, (1u << 2) | (1u << 5) | (1u << 6));  // kind 1, compact, ascii
  mem.put_bytes(s + layout.str.ascii_size, ascii);
  return s;
}

RemoteAddr Heap::dict(const std::vector<std::pair<RemoteAddr, RemoteAddr>>& items) {
  RemoteAddr d = alloc(48);
  mem.put_u64(d + layout.ob_type, dict_type.value());
  mem.put_u64(d + 16, items.size());
  RemoteAddr keys;
  if (!layout.dict_keys_object.log2_sizes) {
    keys = alloc(48 + 8 + 24 * 8);
    mem.put_u64(keys + 8, 8);             // dk_size
    mem.put_u64(keys + 32, items.size()); // dk_nentries
    RemoteAddr entries = keys + 40 + 8;   // 8 one-byte indices
    for (std::size_t i = 0; i < items.size(); ++i) {
      mem.put_u64(entries + i * 24 + 8, items[i].first.value());
      mem.put_u64(entries + i * 24 + 16, items[i].second.value());
    }
  } else {
    keys = alloc(40 + 16 * 8);
    std::uint64_t head = 3 | (3 << 8) | (1 << 16);  // log2 size 3, 8 index bytes, unicode keys
    mem.put_u64(keys + 8, head);
    mem.put_u64(keys + 24, items.size());
    RemoteAddr entries = keys + 32 + 8;
    for (std::size_t i = 0; i < items.size(); ++i) {
      mem.put_u64(entries + i * 16, items[i].first.value());
      mem.put_u64(entries + i * 16 + 8, items[i].second.value());
    }
  }
  mem.put_u64(d + layout.dict_keys, keys.value());
  return d;
}

RemoteAddr Heap::heap_type(const std::string& name, const std::string& module) {
  RemoteAddr t = alloc(1024);
  mem.put_u64(t + layout.ob_type, type_type.value());
  mem.put_u64(t + layout.tp_flags, objspy::kTpFlagsHeapType | objspy::kTpFlagsHaveGc | (1ULL << 12));
  RemoteAddr n = alloc(name.size() + 1);
  mem.put_bytes(n, name);
  mem.put_u64(t + layout.tp_name, n.value());
  mem.put_u64(t + layout.ht_name, str(name).value());
  std::vector<std::pair<RemoteAddr, RemoteAddr>> items{{str("__doc__"), none_obj}};
  if (module == "<None>") items.push_back({str("__module__"), none_obj});
  else if (module != "-") items.push_back({str("__module__"), str(module)});
  mem.put_u64(t + layout.tp_dict, dict(items).value());
  return t;
}

void Heap::link(RemoteAddr head, RemoteAddr node) {
  std::uint64_t tail = 0;
  (void)mem.read(head + 8, std::as_writable_bytes(std::span(&tail, 1)));
  mem.put_u64(node, head.value());
  mem.put_u64(node + 8, tail);
  mem.put_u64(RemoteAddr(tail), node.value());
  mem.put_u64(head + 8, node.value());
}

RemoteAddr Heap::add_object(RemoteAddr type, int gen) { return add_object_to(heads[static_cast<std::size_t>(gen)], type); }

RemoteAddr Heap::add_object_to(RemoteAddr head, RemoteAddr type, std::uint64_t size) {
  RemoteAddr g = alloc(std::max<std::uint64_t>(size, 48));
  mem.put_u64(g + 16, 1);  // ob_refcnt: a live object is referenced
  mem.put_u64(g + 16 + layout.ob_type, type.value());
  link(head, g);
  return g;
}

Heap::Interp Heap::add_interpreter() {
  Interp in;
  in.addr = alloc(std::max<std::uint64_t>(layout.interp_size_hint, 16384));
  RemoteAddr gc = layout.rt_gc ? runtime + *layout.rt_gc : in.addr + layout.interp_gc;
  for (std::size_t i = 0; i < 3; ++i) in.heads[i] = gc + layout.gc.heads[i];
  in.heads[3] = gc + layout.gc.permanent;
  if (!layout.rt_gc) {
    for (auto h : in.heads) { mem.put_u64(h, h.value()); mem.put_u64(h + 8, h.value()); }
    if (layout.gc.generation0) mem.put_u64(gc + *layout.gc.generation0, in.heads[0].value());
    init_collector(gc);
  }
  return in;
}

Heap::Pool Heap::new_pool(std::uint32_t szidx) {
  const auto& pm = layout.pymalloc;
  if (szidx >= pm.size_classes) throw std::logic_error("no such size class");
  if (pools_.empty()) {
    mem.map(RemoteAddr(kArenaBase), kArenaPools * pm.pool_size);
    std::vector<objspy::Mapping> ms = map.mappings();
    ms.push_back(objspy::Mapping{kArenaBase, kArenaBase + kArenaPools * pm.pool_size, true, true, false, 0, 0, "", false});
    map = objspy::MemoryMap(std::move(ms));
  }
  if (pools_.size() == kArenaPools) throw std::runtime_error("fake arena full");
  Pool p;
  p.base = RemoteAddr(kArenaBase + pools_.size() * pm.pool_size);
  p.szidx = szidx;
  p.block_size = static_cast<std::uint32_t>((szidx + 1) * pm.alignment);
  p.capacity = static_cast<std::uint32_t>((pm.pool_size - pm.pool_overhead) / p.block_size);
  pools_[p.base.value()].allocated.assign(p.capacity, false);
  write_pool(p);
  return p;
}

std::uint32_t Heap::carved(const Pool& p) const {
  const PoolState& st = pools_.at(p.base.value());
  std::uint32_t top = 0;  // one past the highest block ever handed out
  for (std::uint32_t k = 0; k < p.capacity; ++k)
    if (st.allocated[k]) top = k + 1;
  for (std::uint32_t k : st.freed) top = std::max(top, k + 1);
  if (top == 0) return 0;
  return std::min(p.capacity, top + 1);
}

void Heap::write_pool(const Pool& p) {
  const auto& pm = layout.pymalloc;
  const PoolState& st = pools_.at(p.base.value());
  std::uint32_t count = 0;
  for (bool a : st.allocated) count += a;
  std::uint32_t n = carved(p);
  // The free list: the blocks freed (most recent first), then the carved block never handed out.
  std::vector<std::uint32_t> fl = st.freed;
  for (std::uint32_t k = 0; k < n; ++k)
    if (!st.allocated[k] && std::find(fl.begin(), fl.end(), k) == fl.end()) fl.push_back(k);
  for (std::size_t i = 0; i < fl.size(); ++i) mem.put_u64(block(p, fl[i]), i + 1 < fl.size() ? block(p, fl[i + 1]).value() : 0);
  mem.put_u32(p.base, count);
  mem.put_u64(p.base + 8, fl.empty() ? 0 : block(p, fl[0]).value());
  mem.put_u64(p.base + 16, p.base.value());  // nextpool/prevpool: a used pool alone in its usedpools list
  mem.put_u64(p.base + 24, p.base.value());
  mem.put_u32(p.base + 32, 0);  // arenaindex
  mem.put_u32(p.base + 36, p.szidx);
  mem.put_u32(p.base + 40, static_cast<std::uint32_t>(pm.pool_overhead + std::uint64_t{std::max<std::uint32_t>(n, 1)} * p.block_size));
  mem.put_u32(p.base + 44, static_cast<std::uint32_t>(pm.pool_size - p.block_size));
}

RemoteAddr Heap::take_block(const Pool& p, std::uint32_t k) {
  PoolState& st = pools_.at(p.base.value());
  if (k >= p.capacity || st.allocated[k]) throw std::logic_error("block taken twice or past the pool");
  st.allocated[k] = true;
  st.freed.erase(std::remove(st.freed.begin(), st.freed.end(), k), st.freed.end());
  write_pool(p);
  return block(p, k);
}

void Heap::free_block(const Pool& p, std::uint32_t k) {
  PoolState& st = pools_.at(p.base.value());
  if (k >= p.capacity || !st.allocated[k]) throw std::logic_error("freeing a block not allocated");
  st.allocated[k] = false;
  st.freed.insert(st.freed.begin(), k);
  write_pool(p);
}

RemoteAddr Heap::add_pooled_object_to(RemoteAddr head, RemoteAddr type, const Pool& p, std::uint32_t k, std::uint32_t head_off) {
  if (head_off + 48 > p.block_size) throw std::logic_error("object does not fit the block");
  RemoteAddr b = take_block(p, k);
  if (head_off == 32) {
    // A debug allocator's prefix (size, forbidden bytes), then the pre-header.
    mem.put_u64(b, p.block_size - 24);
    mem.put_u64(b + 8, 0xFDFDFDFDFDFDFDFDULL);
  }
  if (head_off >= 16) {
    // 3.11+ pre-header: managed dict (or values) and weakref list; a dict pointer here.
    mem.put_u64(b + head_off - 16, dict_type.value() + 64);
    mem.put_u64(b + head_off - 8, 0);
  }
  RemoteAddr g = b + head_off;
  mem.put_u64(g + 16, 1);
  mem.put_u64(g + 16 + layout.ob_type, type.value());
  link(head, g);
  return g;
}

void Heap::unlink(RemoteAddr node) {
  std::uint64_t next = 0, prev = 0;
  (void)mem.read(node, std::as_writable_bytes(std::span(&next, 1)));
  (void)mem.read(node + 8, std::as_writable_bytes(std::span(&prev, 1)));
  next &= ~std::uint64_t{3};
  prev &= ~std::uint64_t{3};
  mem.put_u64(RemoteAddr(prev), next);
  mem.put_u64(RemoteAddr(next) + 8, prev);
}

void Heap::finish() {
  mem.put_u64(runtime + layout.rt_interpreters_head, interp.value());
  mem.put_u64(runtime + layout.rt_interpreters_main, interp.value());
  mem.put_u64(interp + layout.interp_next, 0);
}

}  // namespace fake
