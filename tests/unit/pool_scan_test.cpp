// The scan's pool path over synthetic pymalloc pools: pool headers, which pools and blocks
// are read, and the census by scan against the census by walk and the known truth, with
// objects in pools (every head offset) and outside them, free-list blocks whose stale
// contents still look linked, never-used blocks holding garbage, raw data that looks like
// objects, several lists and two interpreters; then inconsistent links, as a busy target
// shows them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>

#include "fake_python.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/python/gc_scan.hpp"
#include "objspy/python/gc_state.hpp"
#include "objspy/python/pool_scan.hpp"

using objspy::NameForm;
using objspy::PyVersion;
using objspy::RemoteAddr;

namespace {

objspy::Layout layout_for(int minor, int micro = 0) {
  auto l = objspy::builtin_layout(PyVersion{3, minor, micro});
  REQUIRE(l.ok());
  return *l;
}

struct V {
  int minor, micro;
};
const V kVersions[] = {V{8, 18}, V{9, 18}, V{10, 13}, V{11, 7}, V{12, 1}, V{13, 0}, V{14, 2}, V{14, 10}, V{15, 2}};

std::map<std::string, std::uint64_t> counts(const objspy::Census& c, NameForm f) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& r : objspy::most_common(c, f)) m[r.name] = r.count;
  return m;
}

std::uint64_t u64_at(fake::Heap& h, RemoteAddr a) {
  std::uint64_t v = 0;
  REQUIRE(h.mem.read(a, std::as_writable_bytes(std::span(&v, 1))).ok());
  return v;
}

// A 48-byte pool_header as pymalloc writes it.
struct RawHeader {
  std::uint32_t count = 1;
  std::uint64_t freeblock = 0;
  std::uint32_t szidx = 0, nextoffset = 0, maxnextoffset = 0;
  std::array<std::byte, 48> bytes() const {
    std::array<std::byte, 48> b{};
    std::memcpy(b.data(), &count, 4);
    std::memcpy(b.data() + 8, &freeblock, 8);
    std::memcpy(b.data() + 36, &szidx, 4);
    std::memcpy(b.data() + 40, &nextoffset, 4);
    std::memcpy(b.data() + 44, &maxnextoffset, 4);
    return b;
  }
};

// The heap every census test counts: which objects are where, and what a census must say.
struct Truth {
  std::map<std::string, std::uint64_t> live, frozen;  // qualified name -> count
  std::map<std::uint64_t, std::uint64_t> per_list;    // sentinel -> objects on it
  std::vector<RemoteAddr> pooled;                     // PyGC_Heads of objects in pools
  std::vector<RemoteAddr> not_objects;                // addresses that look like heads but are not objects
  std::uint64_t unpooled = 0;                         // objects outside pools
};

struct Built {
  fake::Heap::Interp other;
  std::vector<fake::Heap::Pool> used, unused;
};

// Objects in pools at head offsets 0, 16 and 32 and outside pools, in every list of two
// interpreters; a collected cycle freed onto a free list (its stale links still agree with
// each other); a confirmed-looking pair in never-used blocks; raw item arrays.
Built build_mixed(fake::Heap& h, Truth& t) {
  Built b;
  auto list_t = h.static_type("list");
  auto foo_t = h.heap_type("Foo", "app.models");
  auto bar_t = h.heap_type("Bar", "app.models");
  b.other = h.add_interpreter();
  // 3.8 has one GC state for all interpreters: the other one's lists are the main ones.
  const std::array<RemoteAddr, 4>& main = h.heads;
  const std::array<RemoteAddr, 4>& oth = b.other.heads;
  auto note = [&](RemoteAddr head, RemoteAddr type, RemoteAddr g) {
    std::string name = type == list_t ? "builtins.list" : type == foo_t ? "app.models.Foo" : "app.models.Bar";
    bool frozen = head == main[3] || head == oth[3];
    (frozen ? t.frozen : t.live)[name]++;
    t.per_list[head.value()]++;
    (void)g;
  };
  auto pooled = [&](RemoteAddr head, RemoteAddr type, const fake::Heap::Pool& p, std::uint32_t k, std::uint32_t off) {
    RemoteAddr g = h.add_pooled_object_to(head, type, p, k, off);
    note(head, type, g);
    t.pooled.push_back(g);
    return g;
  };
  auto big = [&](RemoteAddr head, RemoteAddr type) {
    note(head, type, h.add_object_to(head, type, 1024));
    ++t.unpooled;
  };

  // Plain GC objects, 64-byte blocks.
  auto p0 = h.new_pool(3);
  // Objects behind a pre-header (3.11+) or a debug prefix, 96-byte blocks.
  auto p16 = h.new_pool(5);
  // Behind both, 128-byte blocks.
  auto p32 = h.new_pool(7);
  // Raw data: item arrays and other non-objects that look like them.
  auto praw = h.new_pool(1);
  // A pool pymalloc emptied (count 0): stale objects inside, never scanned.
  auto pempty = h.new_pool(3);
  b.used = {p0, p16, p32, praw};
  b.unused = {pempty};

  const std::array<RemoteAddr, 3> types = {list_t, foo_t, bar_t};
  for (std::uint32_t k = 0; k < 12; ++k) {
    pooled(main[k % 4], types[k % 3], p0, k, 0);
    if (k % 3 == 0) big(main[(k + 1) % 4], types[(k + 1) % 3]);
  }
  for (std::uint32_t k = 0; k < 8; ++k) {
    pooled(oth[k % 4], types[k % 3], p16, k, 16);
    if (k % 2) big(oth[(k + 2) % 4], foo_t);
  }
  for (std::uint32_t k = 0; k < 6; ++k) pooled(k % 2 ? main[1] : oth[0], bar_t, p32, k, 32);

  // A cycle the collector found unreachable: moved to a list of its own, then freed in
  // reverse so that the free list runs A -> B -> C. Their stale links still agree (A.next ==
  // B, B.prev == A, ...), so only the free list tells them from objects.
  for (std::uint32_t off : {0u, 16u}) {
    const auto& p = off ? p16 : p0;
    std::uint32_t first = off ? 8 : 12;
    RemoteAddr unreachable = h.alloc(16);
    h.mem.put_u64(unreachable, unreachable.value());
    h.mem.put_u64(unreachable + 8, unreachable.value());
    std::vector<RemoteAddr> cyc;
    for (std::uint32_t k = first; k < first + 3; ++k) cyc.push_back(h.add_pooled_object_to(unreachable, foo_t, p, k, off));
    for (std::uint32_t k = first + 3; k-- > first;) h.free_block(p, k);
    for (auto g : cyc) t.not_objects.push_back(g);
  }
  // One object of the main generation 0 freed the ordinary way: unlinked, then freed.
  {
    RemoteAddr g = h.add_pooled_object_to(main[0], list_t, p0, 15, 0);
    h.unlink(g);
    h.free_block(p0, 15);
    t.not_objects.push_back(g);
  }
  // Past nextoffset: blocks pymalloc never handed out, holding a pair whose links agree.
  {
    std::uint32_t k = h.carved(p0) + 2;
    RemoteAddr g1 = h.block(p0, k), g2 = h.block(p0, k + 1);
    h.mem.put_u64(g1, g2.value());
    h.mem.put_u64(g1 + 8, g2.value());
    h.mem.put_u64(g1 + 16, 1);
    h.mem.put_u64(g1 + 16 + h.layout.ob_type, list_t.value());
    h.mem.put_u64(g2, g1.value());
    h.mem.put_u64(g2 + 8, g1.value());
    h.mem.put_u64(g2 + 16, 1);
    h.mem.put_u64(g2 + 16 + h.layout.ob_type, list_t.value());
    t.not_objects.push_back(g1);
    t.not_objects.push_back(g2);
  }
  // Item arrays: [PyObject*, PyObject*, small number, a real GC type], in allocated blocks.
  // Pointers to real objects, and to the list heads, in every order.
  for (std::uint32_t k = 0; k < 10; ++k) {
    RemoteAddr a = h.take_block(praw, k);
    RemoteAddr x = t.pooled[k % t.pooled.size()], y = t.pooled[(k * 7 + 3) % t.pooled.size()];
    std::uint64_t w0 = (k % 3 == 0) ? main[k % 4].value() : x.value() + 16 * (k % 2);
    h.mem.put_u64(a, w0);
    h.mem.put_u64(a + 8, y.value());
    h.mem.put_u64(a + 16, k + 2);
    h.mem.put_u64(a + 24, (k % 2 ? foo_t : list_t).value());
    t.not_objects.push_back(a);
  }
  // The emptied pool: an object's stale image with links that name real neighbours.
  {
    RemoteAddr g = h.add_pooled_object_to(main[2], list_t, pempty, 0, 0);
    h.unlink(g);
    h.free_block(pempty, 0);
    t.not_objects.push_back(g);
  }
  return b;
}

// The interpreters in CPython's order (newest first): the other one, then the main one.
void link_two(fake::Heap& h, const Built& b) {
  h.finish();
  if (h.layout.rt_gc) return;  // 3.8: the other interpreter's lists are the main one's
  h.mem.put_u64(h.runtime + h.layout.rt_interpreters_head, b.other.addr.value());
  h.mem.put_u64(b.other.addr + h.layout.interp_next, h.interp.value());
  h.mem.put_u64(h.interp + h.layout.interp_next, 0);
}

objspy::Result<objspy::Census> take(fake::Heap& h, objspy::CensusMethod m) {
  return objspy::take_census(h.mem, h.mem, &h.map, h.layout, h.runtime, false, m);
}

std::vector<std::uint64_t> sentinels_of(const fake::Heap& h, const Built& b) {
  std::vector<std::uint64_t> s;
  for (auto a : h.heads) s.push_back(a.value());
  if (!h.layout.rt_gc)
    for (auto a : b.other.heads) s.push_back(a.value());
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return s;
}

}  // namespace

TEST_CASE("parse_pool_header accepts what pymalloc writes and rejects every inconsistent field") {
  for (std::uint64_t ps : {4096u, 16384u}) {
    CAPTURE(ps);
    objspy::PymallocLayout pm;
    pm.pool_size = ps;
    const std::uint64_t base = 0x20000000;
    for (std::uint32_t szidx : {0u, 3u, 31u}) {
      CAPTURE(szidx);
      const std::uint32_t size = (szidx + 1) * 16;
      const std::uint32_t cap = static_cast<std::uint32_t>((ps - 48) / size);
      RawHeader good;
      good.count = 2;
      good.szidx = szidx;
      good.nextoffset = 48 + 3 * size;  // blocks 0, 1 allocated, block 2 carved and free
      good.maxnextoffset = static_cast<std::uint32_t>(ps - size);
      good.freeblock = base + 48 + 2 * size;
      objspy::PoolHeader h;
      auto bytes = good.bytes();
      REQUIRE(objspy::parse_pool_header(bytes.data(), base, pm, &h));
      CHECK(h.count == 2);
      CHECK(h.block_size == size);
      CHECK(h.used_blocks == 3);
      CHECK(h.freeblock == base + 48 + 2 * size);
      // A full pool: nextoffset at the last block's end, no free block.
      RawHeader full = good;
      full.count = cap;
      full.nextoffset = 48 + cap * size;
      full.freeblock = 0;
      bytes = full.bytes();
      REQUIRE(objspy::parse_pool_header(bytes.data(), base, pm, &h));
      CHECK(h.used_blocks == cap);

      struct Bad {
        const char* what;
        RawHeader h;
      };
      std::vector<Bad> bad;
      auto with = [&](const char* what, auto f) { RawHeader x = good; f(x); bad.push_back({what, x}); };
      with("count 0 (an empty pool)", [](RawHeader& x) { x.count = 0; });
      with("count above the blocks carved", [](RawHeader& x) { x.count = 4; });
      with("size class past the last", [](RawHeader& x) { x.szidx = 32; });
      with("size class that disagrees with maxnextoffset", [&](RawHeader& x) { x.szidx = szidx == 31 ? 30 : szidx + 1; });
      with("maxnextoffset off by one", [](RawHeader& x) { x.maxnextoffset += 1; });
      with("maxnextoffset zero", [](RawHeader& x) { x.maxnextoffset = 0; });
      with("nextoffset inside the header", [&](RawHeader& x) { x.nextoffset = 32; });
      with("nextoffset between blocks", [&](RawHeader& x) { x.nextoffset += 8; });
      with("nextoffset past the pool", [&](RawHeader& x) { x.nextoffset = static_cast<std::uint32_t>(48 + (cap + 1) * size); });
      with("freeblock inside the header", [&](RawHeader& x) { x.freeblock = base + 16; });
      with("freeblock below the pool", [&](RawHeader& x) { x.freeblock = base - size; });
      with("freeblock past the pool", [&](RawHeader& x) { x.freeblock = base + ps; });
      for (const Bad& c : bad) {
        CAPTURE(c.what);
        auto bb = c.h.bytes();
        CHECK_FALSE(objspy::parse_pool_header(bb.data(), base, pm, &h));
      }
    }
  }
}

TEST_CASE("scan_pools reads exactly the used pools and offers only allocated blocks") {
  for (V v : kVersions) {
    CAPTURE(v.minor);
    CAPTURE(v.micro);
    fake::Heap h(layout_for(v.minor, v.micro));
    Truth t;
    Built b = build_mixed(h, t);
    link_two(h, b);
    objspy::HeadCandidates cand;
    auto st = objspy::scan_pools(h.mem, h.map, h.layout, {}, sentinels_of(h, b), cand);
    REQUIRE(st.ok());
    const std::uint64_t ps = h.layout.pymalloc.pool_size;
    CHECK(st->regions == 2);  // the brk-like heap and the arena
    CHECK(st->pools_probed == fake::Heap::kSize / ps + fake::Heap::kArenaPools);
    CHECK(st->pools_used == b.used.size());
    CHECK(st->bytes_scanned == b.used.size() * ps);
    std::set<std::uint64_t> used, seen;
    for (const auto& p : b.used) used.insert(p.base.value());
    for (const auto& sp : cand.pools) seen.insert(sp.base);
    // Every used pool but the raw one holds objects; the raw one may offer lookalikes.
    for (const auto& p : b.used)
      if (p.base != b.used.back().base) CHECK(seen.count(p.base.value()) == 1);
    for (auto s : seen) CHECK(used.count(s) == 1);
    CHECK(std::is_sorted(cand.addr.begin(), cand.addr.end()));
    std::set<std::uint64_t> heads(cand.addr.begin(), cand.addr.end());
    for (auto g : t.pooled) CHECK(heads.count(g.value()) == 1);
    // Free-list blocks, never-used blocks and the emptied pool are not offered; raw data
    // (allocated blocks) may be, and is for the links to refuse.
    std::size_t raw_offered = 0;
    for (auto g : t.not_objects) {
      bool in_raw = g.value() >= b.used.back().base.value() && g.value() < b.used.back().base.value() + ps;
      if (in_raw) raw_offered += heads.count(g.value());
      else CHECK_MESSAGE(heads.count(g.value()) == 0, "offered " << std::hex << g.value());
    }
    CHECK(raw_offered > 0);  // the lookalikes pass the cheap tests: the links must refuse them
  }
}

TEST_CASE("census by scan equals the census by walk and the truth, pooled and unpooled, every layout") {
  for (V v : kVersions) {
    CAPTURE(v.minor);
    CAPTURE(v.micro);
    fake::Heap h(layout_for(v.minor, v.micro));
    Truth t;
    Built b = build_mixed(h, t);
    link_two(h, b);
    auto scan = take(h, objspy::CensusMethod::scan);
    auto walk = take(h, objspy::CensusMethod::walk);
    REQUIRE(scan.ok());
    REQUIRE(walk.ok());
    CHECK(scan->walk.method == "scan");
    CHECK(walk->walk.method == "walk");
    CHECK(scan->walk.complete);
    CHECK(walk->walk.complete);
    CHECK(scan->walk.uncertain == 0);
    CHECK_MESSAGE(scan->walk.warnings.empty(), (scan->walk.warnings.empty() ? "" : scan->walk.warnings[0]));

    std::uint64_t live = 0, frozen = 0;
    for (auto& [n, c] : t.live) live += c;
    for (auto& [n, c] : t.frozen) frozen += c;
    CHECK(scan->total == live);
    CHECK(scan->frozen == frozen);
    CHECK(walk->total == live);
    CHECK(walk->frozen == frozen);
    CHECK(counts(*scan, NameForm::qualified) == t.live);
    CHECK(counts(*walk, NameForm::qualified) == t.live);
    std::map<std::string, std::uint64_t> sf, wf;
    for (const auto& ts : scan->types) if (ts.frozen) sf[ts.qualified] += ts.frozen;
    for (const auto& ts : walk->types) if (ts.frozen) wf[ts.qualified] += ts.frozen;
    CHECK(sf == t.frozen);
    CHECK(wf == t.frozen);

    CHECK(scan->generations == walk->generations);
    REQUIRE(scan->interpreters.size() == walk->interpreters.size());
    REQUIRE(scan->interpreters.size() == (h.layout.rt_gc ? 1u : 2u));
    for (std::size_t i = 0; i < scan->interpreters.size(); ++i) {
      CAPTURE(i);
      CHECK(scan->interpreters[i].index == walk->interpreters[i].index);
      CHECK(scan->interpreters[i].generations == walk->interpreters[i].generations);
      CHECK(scan->interpreters[i].frozen == walk->interpreters[i].frozen);
      CHECK(scan->interpreters[i].objects == walk->interpreters[i].objects);
      // The truth, list by list: main first, then the other interpreter.
      const auto& heads = i == 0 ? h.heads : b.other.heads;
      for (std::size_t g = 0; g < 3; ++g) {
        CAPTURE(g);
        std::uint64_t want = t.per_list[heads[g].value()];
        CHECK(scan->interpreters[i].generations[g] == want);
      }
      CHECK(scan->interpreters[i].frozen == t.per_list[heads[3].value()]);
    }
    // The pooled objects come from the scan (every head offset), only the others from links.
    auto interps = objspy::find_interpreters(h.mem, &h.map, h.layout, h.runtime);
    REQUIRE(interps.ok());
    objspy::TypeValidator types(h.mem, &h.map, h.layout);
    auto sc = objspy::census_by_scan(h.mem, h.mem, h.map, h.layout, *interps, types);
    REQUIRE(sc.ok());
    CHECK(sc->external == t.unpooled);
    CHECK(sc->uncertain == 0);
    CHECK(sc->recovered == 0);
    CHECK(sc->rejected >= 1);  // the raw lookalikes offered by the pool scan
  }
}

// A busy target shows links that do not agree. Here they are crafted: an object freed while a
// neighbour still links to it, and one appended at the tail of generation 0 in a pool that
// was not a used pool when the probe read it (and whose predecessor was read before the
// append). The census counts what the links confirm and says it is unsure.
TEST_CASE("scan of inconsistent links: counts what the links confirm, flags it, ends") {
  for (V v : kVersions) {
    CAPTURE(v.minor);
    CAPTURE(v.micro);
    fake::Heap h(layout_for(v.minor, v.micro));
    auto t = h.static_type("list");
    auto p = h.new_pool(3);
    auto spare = h.new_pool(3);  // count 0 at probe time
    std::vector<RemoteAddr> o;
    for (std::uint32_t k = 0; k < 6; ++k) o.push_back(h.add_pooled_object_to(h.heads[0], t, p, k, 0));
    for (std::uint32_t k = 0; k < 4; ++k) h.add_object(t, 1);  // a quiet list, outside pools
    // o[2] freed with its neighbours still naming it.
    h.free_block(p, 2);
    // n appended at the tail after o[5] was read: o[5].next still names the head.
    RemoteAddr head = h.heads[0];
    RemoteAddr n = h.block(spare, 0);
    h.mem.put_u64(n, head.value());
    h.mem.put_u64(n + 8, o[5].value());
    h.mem.put_u64(n + 16, 1);
    h.mem.put_u64(n + 16 + h.layout.ob_type, t.value());
    h.mem.put_u64(head + 8, n.value());
    REQUIRE(u64_at(h, o[5]) == head.value());
    h.finish();
    auto c = take(h, objspy::CensusMethod::scan);
    REQUIRE(c.ok());
    CHECK(c->walk.method == "scan");
    // o[0], o[1], o[3], o[4], o[5], n in generation 0; the freed block is not an object.
    CHECK(c->generations[0] == 6);
    CHECK(c->generations[1] == 4);
    CHECK(c->total == 10);
    CHECK(c->walk.uncertain > 0);
    CHECK_FALSE(c->walk.complete);
    // The walk, for contrast, cannot pass the freed block.
    auto w = take(h, objspy::CensusMethod::walk);
    REQUIRE(w.ok());
    CHECK_FALSE(w->walk.complete);
  }
}

TEST_CASE("scan of pooled lists that loop, point at themselves or at garbage ends") {
  auto l = layout_for(12, 1);
  auto setup = [&](fake::Heap& h, std::vector<RemoteAddr>& o) {
    auto t = h.static_type("list");
    auto p = h.new_pool(3);
    for (std::uint32_t k = 0; k < 5; ++k) o.push_back(h.add_pooled_object_to(h.heads[k % 2], t, p, k, k % 2 ? 16 : 0));
    return p;
  };
  SUBCASE("a loop inside a pool") {
    fake::Heap h(l);
    std::vector<RemoteAddr> o;
    setup(h, o);
    h.mem.put_u64(o[4], o[0].value());  // the last of gen 0 back to its first
    h.mem.put_u64(o[0] + 8, o[4].value());
    h.finish();
    auto c = take(h, objspy::CensusMethod::scan);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->total == 5);
  }
  SUBCASE("every link of a pool at one block") {
    fake::Heap h(l);
    std::vector<RemoteAddr> o;
    setup(h, o);
    for (auto g : o) { h.mem.put_u64(g, o[1].value()); h.mem.put_u64(g + 8, o[1].value()); }
    h.finish();
    auto c = take(h, objspy::CensusMethod::scan);
    REQUIRE(c.ok());
    CHECK_FALSE(c->walk.complete);
    CHECK(c->total <= 5);
  }
  SUBCASE("a free list that loops") {
    fake::Heap h(l);
    std::vector<RemoteAddr> o;
    auto p = setup(h, o);
    REQUIRE(h.carved(p) == 6);  // block 5 is carved and free
    h.mem.put_u64(h.block(p, 5), h.block(p, 5).value());
    h.finish();
    auto c = take(h, objspy::CensusMethod::scan);
    REQUIRE(c.ok());
    CHECK(c->walk.complete);
    CHECK(c->total == 5);
  }
}

namespace {

// Memory that changes once while the census reads it: `change` runs right after the first
// read that covers all of [from, to) (a whole pool: the scan's bulk read, not the probe).
class ChurnReader final : public objspy::MemoryReader {
 public:
  ChurnReader(objspy::SyntheticMemory& m, std::uint64_t from, std::uint64_t to, std::function<void()> change)
      : m_(m), from_(from), to_(to), change_(std::move(change)) {}
  objspy::Status read(RemoteAddr a, std::span<std::byte> out) override {
    auto st = m_.read(a, out);
    if (change_ && a.value() <= from_ && a.value() + out.size() >= to_) {
      auto c = std::move(change_);
      change_ = nullptr;
      c();
    }
    return st;
  }

 private:
  objspy::SyntheticMemory& m_;
  std::uint64_t from_, to_;
  std::function<void()> change_;
};

}  // namespace

// After the scan read a pool, the target empties it (pymalloc frees a pool whose last block
// is freed) while the list head now names a block in it: the re-read finds no pool there.
// (Once a division by the block size of such a pool, 0: UB that -O2 happened to hide.)
TEST_CASE("scan: a pool freed between the scan and its re-read") {
  for (V v : kVersions) {
    CAPTURE(v.minor);
    CAPTURE(v.micro);
    fake::Heap h(layout_for(v.minor, v.micro));
    auto t = h.static_type("list");
    auto p1 = h.new_pool(3);
    (void)h.new_pool(3);  // a gap: the two pools are read apart
    auto p2 = h.new_pool(3);
    h.add_pooled_object_to(h.heads[0], t, p1, 0, 0);  // its next names the object in p2
    h.add_pooled_object_to(h.heads[0], t, p2, 0, 0);
    for (int k = 0; k < 3; ++k) h.add_object(t, 1);
    h.finish();
    const std::uint64_t ps = h.layout.pymalloc.pool_size;
    RemoteAddr head = h.heads[0];
    ChurnReader r(h.mem, p2.base.value(), p2.base.value() + ps, [&] {
      h.mem.put_u32(p2.base, 0);                          // the pool is empty now
      h.mem.put_u64(head + 8, h.block(p2, 5).value());    // and the tail names a block in it
    });
    auto c = objspy::take_census(r, r, &h.map, h.layout, h.runtime, false, objspy::CensusMethod::scan);
    REQUIRE(c.ok());
    CHECK(c->walk.method == "scan");
    CHECK(c->generations[1] == 3);
    CHECK(c->generations[0] <= 2);
    CHECK(c->walk.uncertain > 0);
    CHECK_FALSE(c->walk.complete);
  }
}

// The newest object is appended at the tail of generation 0 after the scan read the old tail,
// in a pool that was not a used pool when the probe read its header.
TEST_CASE("scan: an object appended after its pool was probed is found from the list head") {
  for (V v : kVersions) {
    CAPTURE(v.minor);
    CAPTURE(v.micro);
    fake::Heap h(layout_for(v.minor, v.micro));
    auto t = h.static_type("list");
    auto p1 = h.new_pool(3);
    (void)h.new_pool(3);
    auto spare = h.new_pool(3);  // empty at probe time
    std::vector<RemoteAddr> o;
    for (std::uint32_t k = 0; k < 4; ++k) o.push_back(h.add_pooled_object_to(h.heads[0], t, p1, k, 0));
    h.finish();
    const std::uint64_t ps = h.layout.pymalloc.pool_size;
    ChurnReader r(h.mem, p1.base.value(), p1.base.value() + ps, [&] { h.add_pooled_object_to(h.heads[0], t, spare, 0, 0); });
    auto c = objspy::take_census(r, r, &h.map, h.layout, h.runtime, false, objspy::CensusMethod::scan);
    REQUIRE(c.ok());
    // The four the scan read, and the new one: its links agree once the old tail is re-read.
    CHECK(c->generations[0] == 5);
    CHECK(c->total == 5);
    CHECK(c->walk.uncertain == 0);
    CHECK(c->walk.recovered >= 1);
  }
}
