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
}

void Heap::set_generations_at(std::uint64_t off) {
  for (std::size_t i = 0; i < 3; ++i) {
    heads[i] = gc_state + off + i * 24;
    mem.put_u64(heads[i], heads[i].value());
    mem.put_u64(heads[i] + 8, heads[i].value());
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

RemoteAddr Heap::add_object_to(RemoteAddr head, RemoteAddr type) {
  RemoteAddr g = alloc(48);
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
  }
  return in;
}

void Heap::finish() {
  mem.put_u64(runtime + layout.rt_interpreters_head, interp.value());
  mem.put_u64(runtime + layout.rt_interpreters_main, interp.value());
  mem.put_u64(interp + layout.interp_next, 0);
}

}  // namespace fake
