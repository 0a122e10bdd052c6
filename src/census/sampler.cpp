#include "objspy/census/sampler.hpp"

#include <chrono>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "objspy/census/collector_stat.hpp"
#include "objspy/process/cached_reader.hpp"
#include "objspy/process/live_reader.hpp"
#include "objspy/process/pause.hpp"
#include "objspy/process/snapshot_reader.hpp"
#include "objspy/process/proc.hpp"
#include "objspy/python/gc_scan.hpp"
#include "objspy/python/gc_state.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/python/type_names.hpp"

namespace objspy {
namespace {

double now_unix() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// A collection in progress rewrites _gc_prev and moves objects between lists (some onto
// lists on the collector's stack). Whether every flag in `collecting` reads 0, polling up to
// `tries` times 2 ms apart: a walk waits briefly for a collection to end (only once when the
// target is held: it cannot end then).
Result<bool> no_collection(MemoryReader& fresh, const std::vector<RemoteAddr>& collecting, int tries) {
  for (int i = 0; i < tries; ++i) {
    bool busy = false;
    for (RemoteAddr flag : collecting) {
      OBJSPY_ASSIGN(std::uint32_t c, fresh.u32(flag));
      busy = busy || c != 0;
    }
    if (!busy) return true;
    if (i + 1 < tries) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

struct Hold {
  std::unique_ptr<ProcessPause> pause;  // null without --pause
  MemoryMap map;
};

// The target ready for a census: with --pause, held outside any collection. A target held
// inside one cannot finish it and its lists are half rewritten, so it is let go until the
// collection is over and held again. Bounded: one that is always collecting is walked anyway,
// and the walk reports the collection.
Result<Hold> hold_for_census(pid_t pid, bool pause, int pause_timeout_ms, MemoryReader& fresh, const Layout& layout, RemoteAddr runtime) {
  std::vector<RemoteAddr> collecting;  // every interpreter's flag, found once
  for (int hold = 0;; ++hold) {
    Hold h;
    if (pause) {
      OBJSPY_ASSIGN(h.pause, ProcessPause::freeze(pid, pause_timeout_ms));
    }
    auto map = read_memory_map(pid);
    if (!map.ok()) {
      if (map.error().code == Errc::no_such_process) return make_error(Errc::target_exited, fmt::format("process {} exited", pid));
      return map.take_error();
    }
    h.map = std::move(*map);
    // objspy on its way out (a stop signal, or its command ending) holds nothing again.
    if (!pause || hold == 20 || ProcessPause::ending() || ProcessPause::stop_signal() != 0) return h;
    if (collecting.empty()) {
      auto interps = find_interpreters(fresh, &h.map, layout, runtime);
      if (!interps.ok()) return h;  // the census will say what is wrong
      for (const auto& s : interps->gc_states) collecting.push_back(s.collecting);
    }
    auto quiet = no_collection(fresh, collecting, 1);
    if (!quiet.ok() || *quiet) return h;
    h.pause.reset();  // resumes the target
    (void)no_collection(fresh, collecting, 100);  // up to ~200 ms for it to end, unheld
  }
}

}  // namespace

namespace {

// The lists followed node by node (the method of the first release; also what a census without
// a memory map, or past the scan's memory budget, uses).
Status count_by_walk(Census& c, MemoryReader& mem, const MemoryMap* map, const Layout& layout, const Interpreters& interps,
                     TypeValidator& validator, TypeCounter& counts, TypeCounter& frozen) {
  std::vector<RemoteAddr> heads;
  for (const auto& s : interps.gc_states) {
    heads.insert(heads.end(), s.heads.begin(), s.heads.end());
    heads.push_back(s.permanent);
  }
  // Every GC object takes at least 32 bytes (PyGC_Head + PyObject), so the writable memory
  // bounds how many there can be.
  std::uint64_t max_steps = map ? map->writable_bytes() / 32 + 1024 : (1ULL << 32);
  c.walk.method = "walk";
  for (const auto& s : interps.gc_states) {
    InterpreterStat& is = c.interpreters[static_cast<std::size_t>(&s - interps.gc_states.data())];
    for (std::size_t gen = 0; gen < 4; ++gen) {
      RemoteAddr head = gen < 3 ? s.heads[gen] : s.permanent;
      std::vector<RemoteAddr> others;
      for (RemoteAddr h : heads)
        if (h != head) others.push_back(h);
      WalkContext ctx{mem, map, layout, validator, std::move(others), max_steps};
      std::uint64_t before = (gen < 3 ? counts : frozen).total();
      OBJSPY_ASSIGN(ListResult r, walk_gc_list(ctx, head, gen < 3 ? counts : frozen));
      std::uint64_t added = (gen < 3 ? counts : frozen).total() - before;
      c.walk.objects_reached += r.objects;
      c.walk.broken_links += r.broken_links;
      if (!r.complete) {
        c.walk.complete = false;
        c.walk.torn = r.objects < 2 || r.problem.find("back links") == std::string::npos;
        const char* which = gen < 3 ? "generation" : "permanent generation";
        c.walk.warnings.push_back(gen < 3 ? fmt::format("interpreter {}, {} {}: {}", s.interpreter_index, which, gen, r.problem)
                                          : fmt::format("interpreter {}, {}: {}", s.interpreter_index, which, r.problem));
      }
      if (gen < 3) is.generations[gen] = added;
      else is.frozen = added;
    }
  }
  return {};
}

}  // namespace

Result<Census> take_census(MemoryReader& mem, MemoryReader& fresh, const MemoryMap* map, const Layout& layout, RemoteAddr runtime,
                           bool target_held, CensusMethod method) {
  Census c;
  c.python_version = layout.version.str();
  c.python_hexversion = layout.version.hex();
  c.debug_build = layout.version.debug_build;
  c.layout_source = layout.source;
  OBJSPY_ASSIGN(Interpreters interps, find_interpreters(mem, map, layout, runtime));
  for (const auto& s : interps.gc_states) {
    InterpreterStat is;
    is.index = s.interpreter_index;
    c.interpreters.push_back(is);
    OBJSPY_ASSIGN(bool quiet, no_collection(fresh, {s.collecting}, target_held ? 1 : 50));
    if (!quiet) {
      c.walk.complete = false;
      c.walk.torn = true;
      c.walk.warnings.push_back(fmt::format("interpreter {}: a garbage collection was running during the census", s.interpreter_index));
    }
  }
  // The collector's own figures, read fresh once no collection runs (or the wait gave up).
  std::vector<CollectorFigures> collectors;
  for (const auto& s : interps.gc_states) {
    OBJSPY_ASSIGN(CollectorFigures f, read_collector(fresh, layout, s));
    collectors.push_back(std::move(f));
  }

  TypeValidator validator(mem, map, layout);
  TypeCounter counts, frozen;
  bool walked = method == CensusMethod::walk || !map;
  if (!walked) {
    OBJSPY_ASSIGN(ScanCounts sc, census_by_scan(fresh, fresh, *map, layout, interps, validator, {}, &mem != &fresh ? &mem : nullptr));
    if (sc.over_budget) {
      c.walk.warnings.push_back("the heap is larger than the scan's memory budget: the lists were followed instead");
      walked = true;
    } else {
      c.walk.method = "scan";
      c.walk.uncertain = sc.uncertain;
      c.walk.recovered = sc.recovered;
      if (sc.uncertain) c.walk.complete = false;
      for (auto& w : sc.warnings) c.walk.warnings.push_back(std::move(w));
      for (std::size_t k = 0; k < sc.per_state.size() && k < c.interpreters.size(); ++k) {
        c.interpreters[k].generations = sc.per_state[k].generations;
        c.interpreters[k].frozen = sc.per_state[k].frozen;
      }
      counts = std::move(sc.live);
      frozen = std::move(sc.frozen);
      c.walk.objects_reached = counts.total() + frozen.total();
    }
  }
  if (walked) OBJSPY_TRY(count_by_walk(c, mem, map, layout, interps, validator, counts, frozen));
  for (auto& is : c.interpreters) {
    is.objects = is.generations[0] + is.generations[1] + is.generations[2];
    for (std::size_t g = 0; g < 3; ++g) c.generations[g] += is.generations[g];
  }
  c.total = counts.total();
  c.frozen = frozen.total();

  ObjectReader objs(mem, layout);
  TypeNamer namer(objs);
  std::unordered_map<std::uint64_t, std::size_t> index;
  auto stat_for = [&](std::uint64_t type) -> Result<TypeStat*> {
    if (auto it = index.find(type); it != index.end()) return &c.types[it->second];
    OBJSPY_ASSIGN(TypeName n, namer.name(RemoteAddr(type)));
    TypeStat t;
    t.type_addr = type;
    t.name = std::move(n.name);
    t.qualified = std::move(n.qualified);
    t.truncated = n.truncated;
    if (t.truncated) { t.name += "..."; t.qualified += "..."; }
    if (!n.readable) c.walk.warnings.push_back(fmt::format("the name of type {:#x} could not be read", type));
    index.emplace(type, c.types.size());
    c.types.push_back(std::move(t));
    return &c.types.back();
  };
  std::vector<std::pair<std::uint64_t, std::uint64_t>> live, cold;
  counts.for_each([&](std::uint64_t t, std::uint64_t n) { live.emplace_back(t, n); });
  frozen.for_each([&](std::uint64_t t, std::uint64_t n) { cold.emplace_back(t, n); });
  for (auto [t, n] : live) { OBJSPY_ASSIGN(TypeStat* s, stat_for(t)); s->count += n; }
  for (auto [t, n] : cold) { OBJSPY_ASSIGN(TypeStat* s, stat_for(t)); s->frozen += n; }
  for (std::size_t k = 0; k < c.interpreters.size() && k < collectors.size(); ++k) {
    OBJSPY_ASSIGN(c.interpreters[k].gc, collector_stat(collectors[k], namer));
    for (auto& w : collector_warnings(c.interpreters[k])) c.walk.warnings.push_back(std::move(w));
  }
  return c;
}

struct Sampler::Impl {
  explicit Impl(pid_t pid) : live(pid) {}
  LiveReader live;
};

Sampler::~Sampler() = default;

Result<std::unique_ptr<Sampler>> Sampler::attach(pid_t pid, SampleOptions opts) {
  OBJSPY_ASSIGN(ProcessInfo info, inspect_process(pid));
  std::unique_ptr<Sampler> s(new Sampler());
  s->process_ = info;
  s->opts_ = opts;
  s->impl_ = std::make_unique<Impl>(pid);
  // A growing heap maps new arenas while objspy reads: a list head pointing outside the map
  // read a moment ago is a reason to read the map again, not proof of a wrong layout. Only
  // metadata that stays wrong across fresh maps is.
  constexpr int kMapTries = 5;
  for (int attempt = 0;; ++attempt) {
    OBJSPY_ASSIGN(MemoryMap map, read_memory_map(pid));
    CachedReader cache(s->impl_->live, &map, opts.cache_budget, opts.cache_chunk);
    if (attempt == 0) { OBJSPY_ASSIGN(s->target_, locate_python(pid, map, cache)); }
    // 3.8-3.10 export no version number; the target's sys module has it. Every version: the
    // presence of sys.gettotalrefcount tells a Py_DEBUG build.
    auto interps = find_interpreters(cache, &map, s->target_.layout, s->target_.image.runtime);
    if (!interps.ok()) {
      if (interps.error().code == Errc::corrupt_target && attempt + 1 < kMapTries) continue;
      return interps.take_error();
    }
    s->notes_ = interps->notes;
    auto facts = read_sys_facts(cache, s->target_.layout, interps->main);
    if (facts.ok()) {
      Layout& l = s->target_.layout;
      if (facts->hexversion && !l.version.exact()) {
        PyVersion v = PyVersion::from_hex(*facts->hexversion);
        if (v.major == l.version.major && v.minor == l.version.minor) l.version = v;
      }
      l.version.debug_build = facts->debug_build;
    } else if (facts.error().code == Errc::target_exited || facts.error().code == Errc::permission_denied) {
      return facts.take_error();
    }
    return s;
  }
}

Result<Census> Sampler::sample() {
  const pid_t pid = target_.pid;
  Result<Census> last = make_error(Errc::internal, "no census taken");
  std::optional<Census> best;  // the least uncertain census of the attempts
  for (int attempt = 0; attempt <= opts_.retries; ++attempt) {
    auto t0 = std::chrono::steady_clock::now();
    std::uint64_t calls0 = impl_->live.syscalls(), bytes0 = impl_->live.bytes_read();
    // --pause: room for the copy is made before the hold, from the map as it is now.
    std::optional<SnapshotReader> copy;
    if (opts_.pause) {
      if (auto pre = read_memory_map(pid); pre.ok()) {
        std::uint64_t need = 0;
        (void)SnapshotReader::plan(*pre, &need);
        if (need <= opts_.copy_budget) {
          auto r = SnapshotReader::reserve(impl_->live, need + need / 16 + (16ULL << 20));  // room to grow until the hold
          if (r.ok()) copy.emplace(std::move(*r));
        }
      }
    }
    OBJSPY_ASSIGN(Hold held, hold_for_census(pid, opts_.pause, opts_.pause_timeout_ms, impl_->live, target_.layout, target_.image.runtime));
    bool from_copy = false;
    if (held.pause && copy) {
      std::uint64_t need = 0;
      auto plan = SnapshotReader::plan(held.map, &need);
      OBJSPY_ASSIGN(bool fits, copy->copy(plan));
      if (fits) {
        held.pause->resume();  // the hold ends with the copy
        from_copy = true;
      }
    }
    if (from_copy) {
      last = take_census(*copy, *copy, &held.map, target_.layout, target_.image.runtime, true, opts_.method);
    } else {
      CachedReader cache(impl_->live, &held.map, opts_.cache_budget, opts_.cache_chunk);
      last = take_census(cache, impl_->live, &held.map, target_.layout, target_.image.runtime, held.pause != nullptr, opts_.method);
    }
    double pause_ms = -1;
    if (held.pause) {
      held.pause->resume();
      pause_ms = held.pause->held_ms();
    }
    if (!last.ok()) {
      // A census that fails on a bad read while the process is gone means it exited mid-walk.
      if (!process_alive(pid)) return make_error(Errc::target_exited, fmt::format("process {} exited during the census", pid));
      if (last.error().code != Errc::corrupt_target || attempt == opts_.retries) return best ? Result<Census>(*best) : last;
      continue;
    }
    Census& c = *last;
    c.pid = pid;
    c.python_binary = target_.image.path;
    c.timestamp = now_unix();
    c.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    c.read_calls = impl_->live.syscalls() - calls0;
    c.bytes_read = impl_->live.bytes_read() - bytes0;
    c.walk.retried = attempt > 0;
    c.pause_ms = pause_ms;
    if (accurate(c.walk, c.total, opts_.tolerance)) return last;
    auto worse = [](const Census& a, const Census& b) {  // a less trustworthy than b
      if (a.walk.torn != b.walk.torn) return a.walk.torn;
      return coverage(a.walk, a.total) < coverage(b.walk, b.total);
    };
    if (!best || worse(*best, c)) best = c;
  }
  return *best;
}

}  // namespace objspy
