// sys.getsizeof from outside, over synthetic heaps built to each layout: the formulas of the
// builtins (list, tuple-like, dict and its key table, set, instances with a pre-header), the
// __sizeof__ found through the MRO, an unknown __sizeof__ marked estimated, memory that does
// not read as a live object counted at its fixed size; by both census methods. (The exact
// match with the target's own sys.getsizeof is tests/integration/sizes_test.cpp.)
#include <doctest/doctest.h>

#include "fake_python.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/output/duration.hpp"
#include "objspy/process/scattered.hpp"

using objspy::RemoteAddr;

namespace {

struct Expect {
  std::uint64_t bytes = 0;
  bool estimated = false;
};

// One of each kind, every object in a pymalloc pool (the scan reads its words with the
// header) or outside any (the walk, and the scan's objects outside pools, read them after).
struct SizedHeap {
  explicit SizedHeap(int minor) : h(*objspy::builtin_layout(objspy::PyVersion{3, minor, 0})) {}
  fake::Heap h;
  std::map<std::string, Expect> want;
  std::optional<fake::Heap::Pool> pool;

  std::uint64_t pre(std::uint64_t flags) const { return 16 + ((flags & h.layout.sizes.preheader_flags) ? 16 : 0); }
  void set_sizes(RemoteAddr t, std::uint64_t basic, std::uint64_t item = 0) {
    h.mem.put_u64(t + 32, basic);
    h.mem.put_u64(t + 40, item);
  }
  // An object of `type` on generation 2; its PyObject start.
  RemoteAddr object(RemoteAddr type, bool pooled) {
    RemoteAddr g;
    if (pooled) {
      if (!pool || next_block == pool->capacity) { pool = h.new_pool(15); next_block = 0; }
      g = h.add_pooled_object_to(h.heads[2], type, *pool, next_block++);
    } else {
      g = h.add_object_to(h.heads[2], type, 256);
    }
    return g + 16;
  }
  std::uint32_t next_block = 0;
};

void build(SizedHeap& s, bool pooled) {
  fake::Heap& h = s.h;
  auto& mem = h.mem;
  const auto& l = h.layout;
  const int minor = l.version.minor;
  // list: tp_basicsize + 8 * allocated.
  s.set_sizes(h.list_type, 40);
  RemoteAddr lst = s.object(h.list_type, pooled);
  mem.put_u64(lst + 16, 5);  // ob_size
  mem.put_u64(lst + 32, 7);  // allocated
  s.want["list"].bytes += 40 + 56 + 16;
  // A list whose allocated word is no list's: counted at its fixed part.
  RemoteAddr bad = s.object(h.list_type, pooled);
  mem.put_u64(bad + 32, 1ULL << 50);
  s.want["list"].bytes += 40 + 16;
  // A var-sized type without its own __sizeof__: tp_basicsize + ob_size * tp_itemsize.
  RemoteAddr tup = h.static_type("tuple");
  const std::uint64_t tuple_basic = minor >= 14 ? 32 : 24;
  s.set_sizes(tup, tuple_basic, 8);
  for (std::uint64_t n : {0, 3, 9}) {
    RemoteAddr t = s.object(tup, pooled);
    mem.put_u64(t + 16, n);
    s.want["tuple"].bytes += tuple_basic + 8 * n + 16;
  }
  // dict: its own key table (refcount 1) is charged, a shared one (refcount 2) is not; split
  // values are charged by the keys' usable size.
  s.set_sizes(h.dict_type, 48);
  auto keys = [&](std::uint64_t refcnt) {
    RemoteAddr k = h.alloc(64);
    mem.put_u64(k, refcnt);
    if (l.dict_keys_object.log2_sizes) {
      mem.put_u64(k + 8, 3 | (3 << 8) | (1 << 16));  // 8 slots, 8 index bytes, unicode keys
      mem.put_u64(k + 16, 2);                          // dk_usable
      mem.put_u64(k + 24, 3);                          // dk_nentries
    } else {
      mem.put_u64(k + 8, 8);  // dk_size
    }
    return k;
  };
  const std::uint64_t keys_bytes = l.dict_keys_object.log2_sizes ? 32 + 8 + 5 * 16 : 40 + 8 + 5 * 24;
  const std::uint64_t values_bytes = l.dict_keys_object.log2_sizes ? (3 + 2) * 8 : 5 * 8;
  RemoteAddr own = s.object(h.dict_type, pooled);
  mem.put_u64(own + l.dict_keys, keys(1).value());
  s.want["dict"].bytes += 48 + keys_bytes + 16;
  RemoteAddr split = s.object(h.dict_type, pooled);
  mem.put_u64(split + l.dict_keys, keys(2).value());
  mem.put_u64(split + l.dict_values, h.alloc(64).value());
  s.want["dict"].bytes += 48 + values_bytes + 16;
  // set: the small table inside the object is free; a table of its own costs (mask + 1) * 16.
  RemoteAddr set_type = h.static_type("set");
  s.set_sizes(set_type, 200);
  RemoteAddr small = s.object(set_type, pooled);
  mem.put_u64(small + 32, 7);
  mem.put_u64(small + 40, (small + 64).value());
  RemoteAddr big = s.object(set_type, pooled);
  mem.put_u64(big + 32, 31);
  mem.put_u64(big + 40, h.alloc(512).value());
  s.want["set"].bytes += (200 + 16) + (200 + 32 * 16 + 16);
  // A class whose instances carry a pre-header (3.11+: managed dict), no __sizeof__ of its own.
  RemoteAddr plain = h.heap_type("Plain", "app");
  const std::uint64_t plain_flags = objspy::kTpFlagsHeapType | objspy::kTpFlagsHaveGc | (1ULL << 12) | (1ULL << 4);
  mem.put_u64(plain + l.tp_flags, plain_flags);
  s.set_sizes(plain, 16);
  for (int i = 0; i < 4; ++i) s.object(plain, pooled);
  s.want["Plain"].bytes += 4 * (16 + s.pre(plain_flags));
  // A list subclass: its MRO (Sub, list, object) finds list.__sizeof__.
  RemoteAddr object_type = h.static_type("object", 0);
  RemoteAddr sub = h.heap_type("SubList", "app");
  s.set_sizes(sub, 56);
  RemoteAddr mro = h.alloc(64);
  mem.put_u64(mro + 16, 3);
  for (std::uint64_t k = 0; k < 3; ++k) mem.put_u64(mro + l.sizes.tuple_items + 8 * k, (k == 0 ? sub : k == 1 ? h.list_type : object_type).value());
  mem.put_u64(sub + l.sizes.tp_mro, mro.value());
  RemoteAddr sl = s.object(sub, pooled);
  mem.put_u64(sl + 32, 4);
  s.want["SubList"].bytes += 56 + 32 + 16;
  // A class whose __sizeof__ is Python code: object.__sizeof__ stands in, marked estimated.
  RemoteAddr fn_type = h.static_type("function");
  RemoteAddr fn = h.alloc(64);
  mem.put_u64(fn + l.ob_type, fn_type.value());
  RemoteAddr odd = h.heap_type("OwnSizeof", "app");
  mem.put_u64(odd + l.tp_dict, h.dict({{h.str("__module__"), h.str("app")}, {h.str("__sizeof__"), fn}}).value());
  s.set_sizes(odd, 32);
  s.object(odd, pooled);
  s.object(odd, pooled);
  s.want["OwnSizeof"] = {2 * (32 + 16), true};
}

}  // namespace

TEST_CASE("bytes per type are what sys.getsizeof sums, on every layout, by both methods, pooled or not") {
  for (int minor = objspy::kMinMinor; minor <= objspy::kMaxMinor; ++minor) {
    for (auto method : {objspy::CensusMethod::walk, objspy::CensusMethod::scan}) {
      for (bool pooled : {false, true}) {
        CAPTURE(minor);
        CAPTURE(method == objspy::CensusMethod::scan);
        CAPTURE(pooled);
        SizedHeap s(minor);
        build(s, pooled);
        s.h.finish();
        auto c = objspy::take_census(s.h.mem, s.h.mem, &s.h.map, s.h.layout, s.h.runtime, false, method);
        REQUIRE(c.ok());
        CHECK(c->measured_bytes);
        CHECK(c->bytes_unmeasured == 1);  // the bad list
        std::map<std::string, Expect> got;
        std::uint64_t sum = 0;
        for (const auto& t : c->types) {
          got[t.name] = {t.bytes, t.bytes_estimated};
          sum += t.bytes;
        }
        CHECK(sum == c->bytes);
        for (const auto& [name, e] : s.want) {
          CAPTURE(name);
          REQUIRE(got.count(name));
          CHECK(got[name].bytes == e.bytes);
          CHECK(got[name].estimated == e.estimated);
        }
        // Without bytes: counts alone, nothing measured.
        auto plain = objspy::take_census(s.h.mem, s.h.mem, &s.h.map, s.h.layout, s.h.runtime, false, method, nullptr, false);
        REQUIRE(plain.ok());
        CHECK_FALSE(plain->measured_bytes);
        CHECK(plain->bytes == 0);
        CHECK(plain->total == c->total);
      }
    }
  }
}

TEST_CASE("scattered reads: nearby addresses in one read, each address told whether it was read") {
  objspy::SyntheticMemory mem;
  mem.map(RemoteAddr(0x1000), 0x3000);
  mem.map(RemoteAddr(0x10000), 0x1000);
  for (std::uint64_t a = 0x1000; a < 0x4000; a += 8) mem.put_u64(RemoteAddr(a), a);
  for (std::uint64_t a = 0x10000; a < 0x11000; a += 8) mem.put_u64(RemoteAddr(a), a);
  // Sorted, with repeats, a gap read through, one in a hole, one crossing the end of a region.
  std::vector<std::uint64_t> addrs{0x1000, 0x1000, 0x1010, 0x2000, 0x3ff8, 0x5000, 0x10000, 0x10ff8, 0x10ffc};
  for (std::size_t max_piece : {std::size_t{16}, std::size_t{256 << 10}}) {
    CAPTURE(max_piece);
    std::vector<int> seen(addrs.size(), -1);
    objspy::ScatterLimits lim;
    lim.max_piece = max_piece;
    auto st = objspy::read_scattered(mem, addrs, 8, [&](std::size_t k, const std::byte* p) {
      REQUIRE(k < addrs.size());
      if (!p) { seen[k] = 0; return; }
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      seen[k] = v == addrs[k] ? 1 : 2;
    }, lim);
    REQUIRE(st.ok());
    CHECK(seen == std::vector<int>{1, 1, 1, 1, 1, 0, 1, 1, 0});
  }
}

TEST_CASE("human sizes") {
  CHECK(objspy::human_bytes(0) == "0B");
  CHECK(objspy::human_bytes(1023) == "1023B");
  CHECK(objspy::human_bytes(1536) == "1.5KiB");
  CHECK(objspy::human_bytes(200ULL << 20) == "200MiB");
  CHECK(objspy::human_bytes(~0ULL) == "16.0EiB");
}
