#include "objspy/python/gc_scan.hpp"

#include "scan_nodes.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <system_error>
#include <thread>

#include <fmt/format.h>

namespace objspy {
namespace {

using namespace scan;

struct Sentinel {
  std::uint64_t addr = 0, next = 0, prev = 0;
  std::size_t state = 0;
  int list = 0;  // 0-2 generations, 3 permanent
};

// A link to an address no node has yet: from node or list head `src`, forward (src.next) or
// backward (src.prev).
struct Lead {
  std::int64_t src;
  std::uint64_t at;
  bool back = false;
};
using Leads = std::vector<Lead>;


struct Header {
  std::uint64_t w[4];
};

class Census {
 public:
  Census(MemoryReader& fresh, MemoryReader* near, const MemoryMap& map, const Layout& l, const Interpreters& interps, HeadCandidates& c,
         const ScanLimits& lim, CensusBudget& budget, ScanCounts& out)
      : fresh_(fresh), near_(near), map_(map), l_(l), c_(c), lim_(lim), budget_(budget), out_(out) {
    for (std::size_t s = 0; s < interps.gc_states.size(); ++s) {
      const GcState& g = interps.gc_states[s];
      for (int k = 0; k < 4; ++k) sent_.push_back({(k < 3 ? g.heads[static_cast<std::size_t>(k)] : g.permanent).value(), 0, 0, s, k});
      if (g.interpreter_index == 0) main_state_ = s;
    }
    std::sort(sent_.begin(), sent_.end(), [](const Sentinel& a, const Sentinel& b) { return a.addr < b.addr; });
    std::vector<std::uint64_t> addrs;
    for (const auto& s : sent_) addrs.push_back(s.addr);
    flags_.assign(c_.size(), 0);
    dir_.emplace(c_, flags_, std::move(addrs), std::countr_zero(l.pymalloc.pool_size));
    n_states_ = interps.gc_states.size();
  }

  Status run(TypeValidator& types, SizeMeter* meter) {
    meter_ = meter;
    OBJSPY_TRY(read_sentinels());
    Leads unknown;
    confirm_all(&unknown);
    OBJSPY_TRY(follow(std::move(unknown)));
    OBJSPY_TRY(confirm_touched());
    bool touched = false;
    near_ = nullptr;  // re-reads must see the target as it is now, not a cached chunk
    for (int round = 0; round < lim_.refresh_rounds && !out_of_time(); ++round) {
      OBJSPY_ASSIGN(bool any, refresh_round());
      if (!any) break;
      touched = true;
    }
    if (touched) confirm_all(nullptr);  // flags from scratch over the final data
    attribute();
    return count(types);
  }

 private:
  // Past the census's deadline: what was read so far is counted, nothing more is read.
  bool out_of_time() {
    if (!budget_.expired()) return false;
    out_.stopped = true;
    return true;
  }

  std::uint64_t addr_of(std::int64_t r) const { return is_sentinel(r) ? sent_[sentinel_index(r)].addr : c_.addr[static_cast<std::size_t>(r)]; }

  std::int64_t resolve(std::uint64_t a) const { return dir_->resolve(a); }

  bool plausible(const Header& h) const { return (h.w[0] & kMask) && (h.w[1] & kMask) && plausible_object(h.w[2], h.w[3], l_); }

  Status read_sentinels() {
    std::vector<ReadRequest> reqs;
    std::vector<Header> hs(sent_.size());
    for (std::size_t s = 0; s < sent_.size(); ++s)
      reqs.push_back({RemoteAddr(sent_[s].addr), std::as_writable_bytes(std::span(hs[s].w, 2))});
    OBJSPY_TRY(fresh_.read_batch(reqs));
    for (std::size_t s = 0; s < sent_.size(); ++s) {
      if (!reqs[s].ok) return make_error(Errc::corrupt_target, fmt::format("GC list head {:#x} is unreadable", sent_[s].addr));
      sent_[s].next = hs[s].w[0] & kMask;
      sent_[s].prev = hs[s].w[1] & kMask;
    }
    return {};
  }

  // Whether node i's out-link is confirmed by its target's back-link; sets the flags.
  void confirm_out(std::size_t i, Leads* unknown) {
    std::int64_t r = resolve(c_.next[i]);
    if (r >= 0) {
      auto j = static_cast<std::size_t>(r);
      if (c_.prev[j] == c_.addr[i] && j != i) { flags_[i] |= kOut; flags_[j] |= kIn; }
    } else if (is_sentinel(r)) {
      if (sent_[sentinel_index(r)].prev == c_.addr[i]) flags_[i] |= kOut;
    } else if (r == kUnknown && unknown) {
      unknown->push_back({static_cast<std::int64_t>(i), c_.next[i]});
    }
  }

  void confirm_sentinel(std::size_t s, Leads* unknown) {
    const Sentinel& st = sent_[s];
    if (st.next == st.addr) return;  // empty list
    std::int64_t r = resolve(st.next);
    if (r >= 0) {
      if (c_.prev[static_cast<std::size_t>(r)] == st.addr) flags_[static_cast<std::size_t>(r)] |= kIn;
    } else if (r == kUnknown && unknown) {
      unknown->push_back({sentinel_code(s), st.next});
    }
    // The tail too: the newest objects, and the part of a list past a break, are found from it.
    std::int64_t t = resolve(st.prev);
    if (t >= 0) {
      if (c_.next[static_cast<std::size_t>(t)] == st.addr) flags_[static_cast<std::size_t>(t)] |= kOut;
    } else if (t == kUnknown && unknown) {
      unknown->push_back({sentinel_code(s), st.prev, true});
    }
  }

  // Confirm the out-links of nodes [from, to): out[i] and in[j] are set, flags_ only read, so
  // that two threads can each take a half.
  void confirm_range(std::size_t from, std::size_t to, Bytes& in, Bytes& out, Leads* unknown) const {
    // In groups, so that the cache misses of one node overlap with the others' (the targets
    // are all over the heap): find each target, prefetch its back-link, then compare.
    constexpr std::size_t kGroup = 16;
    std::int64_t r[kGroup];
    for (std::size_t b = from; b < to; b += kGroup) {
      const std::size_t e = std::min(to, b + kGroup);
      for (std::size_t i = b; i < e; ++i) {
        if (std::uint32_t p = dir_->pool_index(c_.next[i]); p != kNone) {
          const ScannedPool& sp = c_.pools[p];
          // A pool re-read after pymalloc freed it has no heads and no block size.
          if (sp.count) {
            std::uint64_t k = (c_.next[i] - sp.base) / sp.block_size;
            __builtin_prefetch(&c_.addr[sp.first + std::min<std::uint64_t>(k * sp.count / (sp.blocks + 1), sp.count - 1)]);
          }
        }
      }
      for (std::size_t i = b; i < e; ++i) {
        r[i - b] = (flags_[i] & kDead) ? kNoHead : resolve(c_.next[i]);
        if (r[i - b] >= 0) __builtin_prefetch(&c_.prev[static_cast<std::size_t>(r[i - b])]);
      }
      for (std::size_t i = b; i < e; ++i) {
        if (flags_[i] & kDead) continue;
        const std::int64_t t = r[i - b];
        if (t >= 0) {
          auto j = static_cast<std::size_t>(t);
          if (c_.prev[j] == c_.addr[i] && j != i) {
            out[i] = 1;
            std::atomic_ref<std::uint8_t>(in[j]).store(1, std::memory_order_relaxed);
          }
        } else if (is_sentinel(t)) {
          if (sent_[sentinel_index(t)].prev == c_.addr[i]) out[i] = 1;
        } else if (t == kUnknown && unknown) {
          unknown->push_back({static_cast<std::int64_t>(i), c_.next[i]});
        }
      }
    }
  }

  void confirm_all(Leads* unknown) {
    const std::size_t n = c_.size();
    Bytes in(n, 0), out(n, 0);
    Leads other;
    std::optional<std::thread> helper;
    const std::size_t half = n > (1u << 16) ? n / 2 : n;  // a second core for big heaps
    if (half < n) {
      try {
        helper.emplace([&] { confirm_range(half, n, in, out, unknown ? &other : nullptr); });
      } catch (const std::system_error&) {
        // No thread to be had: this one does both halves.
      }
    }
    confirm_range(0, helper ? half : n, in, out, unknown);
    if (helper) helper->join();
    if (unknown) unknown->insert(unknown->end(), other.begin(), other.end());
    for (std::size_t i = 0; i < n; ++i)
      flags_[i] = static_cast<std::uint8_t>((flags_[i] & ~(kIn | kOut)) | (in[i] ? kIn : 0) | (out[i] ? kOut : 0));
    for (std::size_t s = 0; s < sent_.size(); ++s) confirm_sentinel(s, unknown);
  }

  std::size_t add_node(std::uint64_t a, const Header& h) {
    c_.push(a, h.w[0] & kMask, h.w[1] & kMask, h.w[3]);
    flags_.push_back(kTouched | kNoBody);
    return c_.size() - 1;
  }

  // Confirm the links of every node read after the scan (followed or re-read), following
  // links into the unknown; repeated until no new node appears.
  Status confirm_touched() {
    std::size_t from = 0;
    for (int pass = 0; pass < 64 && !out_of_time(); ++pass) {
      Leads unknown;
      const std::size_t n = c_.size();
      for (std::size_t i = from; i < n; ++i) {
        if ((flags_[i] & (kTouched | kDead)) != kTouched) continue;
        confirm_out(i, &unknown);
        std::int64_t r = resolve(c_.prev[i]);
        if (r >= 0 && static_cast<std::size_t>(r) != i && c_.next[static_cast<std::size_t>(r)] == c_.addr[i]) { flags_[i] |= kIn; flags_[static_cast<std::size_t>(r)] |= kOut; }
        else if (is_sentinel(r) && sent_[sentinel_index(r)].next == c_.addr[i]) flags_[i] |= kIn;
        else if (r == kUnknown) unknown.push_back({static_cast<std::int64_t>(i), c_.prev[i], true});
      }
      for (std::size_t s = 0; s < sent_.size(); ++s) confirm_sentinel(s, &unknown);
      from = n;  // later passes: only the nodes the last one added
      if (unknown.empty()) return {};
      OBJSPY_TRY(follow(std::move(unknown)));
    }
    return {};
  }

  // Objects outside the scanned pools, reached by following links from where the scan ended:
  // read in batches, each accepted only when its back-link names the node that led to it.
  Status follow(Leads frontier) {
    std::vector<Header> hs;
    std::vector<ReadRequest> reqs;
    // A lead outside every mapping is most often raw data that only looked like an object:
    // dropped unless the node it comes from is confirmed on the other side (then it may point
    // into memory mapped since the map was read, and is read alone).
    auto keep = [&](const Lead& ld) {
      if (map_.readable(RemoteAddr(ld.at), 32)) return true;
      if (is_sentinel(ld.src)) return true;
      return (flags_[static_cast<std::size_t>(ld.src)] & (ld.back ? kOut : kIn)) != 0;
    };
    frontier.erase(std::remove_if(frontier.begin(), frontier.end(), [&](const Lead& ld) { return !keep(ld); }), frontier.end());
    while (!frontier.empty() && !out_of_time()) {
      if (out_.external + frontier.size() > lim_.max_external) {
        out_.warnings.push_back(fmt::format("more than {} objects outside pymalloc pools: the rest were not followed", lim_.max_external));
        out_.over_budget = true;
        return {};
      }
      hs.assign(frontier.size(), Header{});
      reqs.clear();
      for (std::size_t k = 0; k < frontier.size(); ++k)
        reqs.push_back({RemoteAddr(frontier[k].at), std::as_writable_bytes(std::span(hs[k].w))});
      // A few chains followed step by step (consecutive large objects) read through the
      // cache, which holds their neighbours; many leads at once go in one batch.
      if (near_ && frontier.size() < 16) {
        for (auto& rq : reqs) {
          auto st = near_->read(rq.addr, rq.out);
          rq.ok = st.ok();
          if (!st.ok() && st.error().code != Errc::bad_address) return st;
        }
      } else {
        OBJSPY_TRY(fresh_.read_batch(reqs));
      }
      Leads next_frontier;
      for (std::size_t k = 0; k < frontier.size(); ++k) {
        const Lead& ld = frontier[k];
        const Header& h = hs[k];
        // Accepted only when the node links back to where it was reached from.
        std::uint64_t back = ld.back ? (h.w[0] & kMask) : (h.w[1] & kMask);
        if (!reqs[k].ok || !plausible(h) || back != addr_of(ld.src)) continue;
        if (dir_->has_external(ld.at)) continue;  // reached twice in one round
        // The census's bound on distinct types holds here too: a target whose objects outside
        // pools have a million types costs the first max_types of them, not a million nodes.
        const std::uint64_t type = h.w[3];
        if (!ext_types_.bump(type)) {
          if (ext_types_.full()) {
            budget_.hit(CensusBudget::Kind::types,
                        fmt::format("more than {} distinct types among the objects outside pymalloc pools: the rest were not followed",
                                    budget_.limits().max_types));
            out_.stopped = true;
            return {};
          }
          ext_types_.add(type);
        }
        std::size_t e = add_node(ld.at, h);
        dir_->add_external(static_cast<std::uint32_t>(e));
        ++out_.external;
        std::uint64_t onward = ld.back ? c_.prev[e] : c_.next[e];
        if (resolve(onward) == kUnknown) next_frontier.push_back({static_cast<std::int64_t>(e), onward, ld.back});
      }
      // A followed node is confirmed on the side it was reached from (its leads are kept).
      for (const Lead& ld : next_frontier) flags_[static_cast<std::size_t>(ld.src)] |= ld.back ? kOut : kIn;
      frontier = std::move(next_frontier);
      frontier.erase(std::remove_if(frontier.begin(), frontier.end(), [&](const Lead& ld) { return !keep(ld); }), frontier.end());
    }
    return {};
  }

  // Replace the possible heads of the pool at `base` by a fresh read of it.
  void rescan_pool(std::uint64_t base, const std::byte* bytes) {
    std::uint32_t p = dir_->pool_index(base);
    if (p != kNone) {
      const ScannedPool& sp = c_.pools[p];
      for (std::uint32_t k = 0; k < sp.count; ++k) flags_[sp.first + k] |= kDead;
      dir_->mark_dead();
    }
    HeadCandidates fresh;
    fresh.with_body = c_.with_body;
    PoolHeader h;
    if (parse_pool_header(bytes, base, l_.pymalloc, &h)) scan_one_pool(bytes, base, h, l_, map_, dir_->sentinels(), fresh);
    ScannedPool np{base, h.block_size, static_cast<std::uint32_t>(c_.size()), static_cast<std::uint32_t>(fresh.size()), h.used_blocks};
    for (std::size_t k = 0; k < fresh.size(); ++k) {
      c_.push(fresh.addr[k], fresh.next[k], fresh.prev[k], fresh.type[k], c_.with_body ? &fresh.body[3 * k] : nullptr);
      flags_.push_back(kTouched);
    }
    if (p != kNone) {
      c_.pools[p] = np;
    } else {
      c_.pools.push_back(np);
      dir_->add_pool(base, static_cast<std::uint32_t>(c_.pools.size() - 1));
    }
  }

  // One round of repair: every node with one confirmed link of two is re-read, with the node
  // its other link names; a link into a pool where the scan saw no head (an object allocated
  // after the pool was read) re-reads that pool. Returns whether anything was re-read.
  Result<bool> refresh_round() {
    std::vector<std::size_t> nodes;
    std::vector<std::uint64_t> pools;
    auto want_node = [&](std::int64_t r) { if (r >= 0 && !(flags_[static_cast<std::size_t>(r)] & kTouched)) nodes.push_back(static_cast<std::size_t>(r)); };
    auto want_pool = [&](std::uint64_t a) { pools.push_back(a & ~(l_.pymalloc.pool_size - 1)); };
    const std::size_t n = c_.size();
    for (std::size_t i = 0; i < n; ++i) {
      std::uint8_t f = flags_[i];
      if (f & kDead) continue;
      bool in = f & kIn, outl = f & kOut;
      if (in == outl) continue;
      if (!(f & kTouched)) nodes.push_back(i);
      std::uint64_t other = in ? c_.next[i] : c_.prev[i];
      std::int64_t r = resolve(other);
      if (r == kNoHead) want_pool(other);
      else want_node(r);
    }
    // List heads whose neighbours do not answer: the newest objects (appended at the tail of
    // generation 0 after their pool was read) are found from the head.
    OBJSPY_TRY(read_sentinels());
    for (const Sentinel& s : sent_) {
      for (std::uint64_t a : {s.next, s.prev}) {
        if (a == s.addr) continue;
        std::int64_t r = resolve(a);
        if (r == kNoHead) want_pool(a);
      }
    }
    std::sort(pools.begin(), pools.end());
    pools.erase(std::unique(pools.begin(), pools.end()), pools.end());
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    if (nodes.empty() && pools.empty()) return false;
    if (refresh_reads_ + nodes.size() + pools.size() > lim_.max_refresh_reads) return false;
    refresh_reads_ += nodes.size() + pools.size();

    // Nodes: 32 bytes each, in batches.
    std::vector<Header> hs(nodes.size());
    std::vector<ReadRequest> reqs;
    for (std::size_t k = 0; k < nodes.size(); ++k) reqs.push_back({RemoteAddr(c_.addr[nodes[k]]), std::as_writable_bytes(std::span(hs[k].w))});
    OBJSPY_TRY(fresh_.read_batch(reqs));
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      std::size_t i = nodes[k];
      flags_[i] |= kTouched;
      if (!reqs[k].ok || !plausible(hs[k]) || !(hs[k].w[0] & kMask)) { flags_[i] |= kDead; dir_->mark_dead(); continue; }
      if ((hs[k].w[0] & kMask) != c_.next[i] || (hs[k].w[1] & kMask) != c_.prev[i]) ++out_.recovered;
      c_.next[i] = hs[k].w[0] & kMask;
      c_.prev[i] = hs[k].w[1] & kMask;
      c_.type[i] = hs[k].w[3];
    }
    // Pools: whole, in batches of a few MiB.
    const std::size_t ps = l_.pymalloc.pool_size;
    constexpr std::size_t kPoolsPerBatch = 128;
    std::vector<std::byte> buf(std::min(pools.size(), kPoolsPerBatch) * ps);
    for (std::size_t b = 0; b < pools.size(); b += kPoolsPerBatch) {
      std::size_t e = std::min(pools.size(), b + kPoolsPerBatch);
      reqs.clear();
      for (std::size_t k = b; k < e; ++k) reqs.push_back({RemoteAddr(pools[k]), std::span<std::byte>(buf.data() + (k - b) * ps, ps)});
      OBJSPY_TRY(fresh_.read_batch(reqs));
      for (std::size_t k = b; k < e; ++k)
        if (reqs[k - b].ok) rescan_pool(pools[k], buf.data() + (k - b) * ps);
    }
    OBJSPY_TRY(confirm_touched());
    return true;
  }

  // Which list each counted object is on: every list but the main interpreter's oldest
  // generation (the big one) is followed through the table; what no list reached is there.
  void attribute() {
    list_of_.assign(c_.size(), 0xFFFF);
    for (std::size_t s = 0; s < sent_.size(); ++s) {
      const Sentinel& st = sent_[s];
      if (st.state == main_state_ && st.list == 2) continue;
      const auto code = static_cast<std::uint16_t>(s);
      auto label = [&](std::uint64_t start, bool forward) {
        std::uint64_t a = start;
        for (std::size_t steps = 0; a != st.addr && steps <= c_.size(); ++steps) {
          std::int64_t r = resolve(a);
          if (r < 0) return false;
          auto i = static_cast<std::size_t>(r);
          if (!(flags_[i] & (kIn | kOut))) return false;
          if (list_of_[i] != 0xFFFF) return list_of_[i] == code;  // met the other walk
          list_of_[i] = code;
          a = forward ? c_.next[i] : c_.prev[i];
        }
        return a == st.addr;
      };
      if (!label(st.next, true)) label(st.prev, false);  // the rest from the tail back
    }
  }

  Status count(TypeValidator& types) {
    out_.per_state.assign(n_states_, {});
    // Each distinct type validated once (raw data that slipped through has no valid type),
    // remembered for at most max_types types: past that (a hostile target), the validator's
    // own bounded cache, then a fresh check per object.
    FlatMap valid;
    const std::size_t max_types = budget_.limits().max_types;
    std::uint64_t bad_type = 0;
    for (std::size_t i = 0; i < c_.size(); ++i) {
      std::uint8_t f = flags_[i];
      if (f & kDead) continue;
      if (!(f & (kIn | kOut))) { ++out_.rejected; continue; }
      const std::uint64_t t = c_.type[i];
      // 0: not a type; 1: a type whose objects all have one size; 2: sized one by one.
      std::uint32_t v = t ? valid.find(t) : 0;
      if (v == kNone) {
        OBJSPY_ASSIGN(bool ok, types.valid(RemoteAddr(t)));
        v = ok ? 1 : 0;
        if (ok && meter_) {
          OBJSPY_ASSIGN(const TypeSizing* sz, meter_->sizing(t));
          if (sz->per_object()) v = 2;
        }
        if (valid.size() < max_types) valid.put(t, v);
      }
      if (!v) {
        // On a list but not an object: the target's memory is inconsistent (or hostile).
        ++out_.rejected;
        ++bad_type;
        continue;
      }
      if ((f & (kIn | kOut)) != (kIn | kOut)) ++out_.uncertain;
      std::size_t state = main_state_;
      int list = 2;
      if (list_of_[i] != 0xFFFF) { state = sent_[list_of_[i]].state; list = sent_[list_of_[i]].list; }
      auto& ps = out_.per_state[state];
      TypeCounter& into = list == 3 ? out_.frozen : out_.live;
      into.add(t);
      if (lim_.collect_objects) out_.objects.push_back({c_.addr[i] + l_.gc_head_size, t});
      if (list == 3) ++ps.frozen;
      else ++ps.generations[static_cast<std::size_t>(list)];
      if (v == 2) {
        const BodyWords* w = nullptr;
        BodyWords words;
        if (c_.with_body && !(f & kNoBody)) {
          words = {c_.body[3 * i], c_.body[3 * i + 1], c_.body[3 * i + 2]};
          w = &words;
        }
        OBJSPY_TRY(meter_->object(c_.addr[i] + l_.gc_head_size, t, w, into));
      }
    }
    // A list whose first or last node does not link back to its head was not reconciled.
    for (const Sentinel& st : sent_) {
      if (st.next == st.addr && st.prev == st.addr) continue;
      std::int64_t f = resolve(st.next), t = resolve(st.prev);
      bool ok = f >= 0 && t >= 0 && c_.prev[static_cast<std::size_t>(f)] == st.addr && c_.next[static_cast<std::size_t>(t)] == st.addr;
      if (!ok) {
        ++out_.uncertain;
        out_.warnings.push_back(fmt::format("the list at {:#x} does not link back to its head at both ends", st.addr));
      }
    }
    if (bad_type) {
      out_.uncertain += bad_type;
      out_.warnings.push_back(fmt::format("{} linked objects have no valid type (left out)", bad_type));
    }
    return {};
  }

  MemoryReader& fresh_;
  MemoryReader* near_;
  const MemoryMap& map_;
  const Layout& l_;
  HeadCandidates& c_;
  const ScanLimits& lim_;
  CensusBudget& budget_;
  ScanCounts& out_;
  std::vector<Sentinel> sent_;  // by address, as the directory numbers them
  std::size_t main_state_ = 0;
  std::size_t n_states_ = 0;
  Bytes flags_;
  std::vector<std::uint16_t> list_of_;
  std::optional<NodeDirectory> dir_;  // made once flags_ is
  TypeCounter ext_types_{budget_.limits().max_types};  // distinct type words outside pools
  std::size_t refresh_reads_ = 0;
  SizeMeter* meter_ = nullptr;
};

}  // namespace

Result<ScanCounts> census_by_scan(MemoryReader& bulk, MemoryReader& fresh, const MemoryMap& map, const Layout& l,
                                  const Interpreters& interps, TypeValidator& types, const ScanLimits& lim_in, MemoryReader* near,
                                  CensusBudget* budget_in, SizeMeter* meter) {
  CensusBudget local;
  CensusBudget& budget = budget_in ? *budget_in : local;
  ScanLimits lim = lim_in;
  lim.pools.deadline = std::min(lim.pools.deadline, budget.counting_deadline());
  ScanCounts out;
  out.live = TypeCounter(budget.limits().max_types);
  out.frozen = TypeCounter(budget.limits().max_types);
  std::vector<std::uint64_t> sentinels;
  for (const auto& g : interps.gc_states) {
    for (RemoteAddr h : g.heads) sentinels.push_back(h.value());
    sentinels.push_back(g.permanent.value());
  }
  std::sort(sentinels.begin(), sentinels.end());
  HeadCandidates cand;
  cand.with_body = meter != nullptr;
  OBJSPY_ASSIGN(out.pools, scan_pools(bulk, map, l, lim.pools, sentinels, cand));
  // Past the deadline the pools read so far are still counted (a partial census, flagged).
  if (out.pools.timed_out) {
    out.stopped = true;
    (void)budget.expired();
  }
  if (out.pools.over_budget) {
    out.over_budget = true;
    out.warnings.push_back(fmt::format("more than {} possible objects in pymalloc pools", lim.pools.max_candidates));
    return out;
  }
  const std::size_t candidates = cand.size();
  Census census(fresh, near, map, l, interps, cand, lim, budget, out);
  OBJSPY_TRY(census.run(types, meter));
  if (std::getenv("OBJSPY_DEBUG_SCAN"))
    std::fprintf(stderr, "scan: %zu regions, %zu pools probed, %zu used, %zu blocks, %zu MiB; %zu candidates, %zu external, %zu rejected, %zu uncertain, %zu recovered\n",
                 (size_t)out.pools.regions, (size_t)out.pools.pools_probed, (size_t)out.pools.pools_used, (size_t)out.pools.blocks,
                 (size_t)(out.pools.bytes_scanned >> 20), candidates, (size_t)out.external, (size_t)out.rejected, (size_t)out.uncertain,
                 (size_t)out.recovered);
  return out;
}

}  // namespace objspy
