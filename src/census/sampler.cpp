#include "objspy/census/sampler.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "objspy/census/type_table.hpp"
#include "objspy/census/collector_stat.hpp"
#include "objspy/process/cached_reader.hpp"
#include "objspy/process/live_reader.hpp"
#include "objspy/process/pause.hpp"
#include "objspy/process/snapshot_reader.hpp"
#include "objspy/process/proc.hpp"
#include "objspy/python/allocator.hpp"
#include "objspy/python/gc_scan.hpp"
#include "objspy/python/gc_state.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/python/sizes.hpp"
#include "objspy/python/type_names.hpp"

namespace objspy {
namespace {

double now_unix() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// A collection in progress rewrites _gc_prev and moves objects between lists (some onto
// lists on the collector's stack). Which of the `collecting` flags (one per interpreter) still
// read nonzero after waiting up to `wait_ms` in all for them to clear: every flag in one
// batched read per poll, 2 ms apart, so that thousands of interpreters wait no longer than one.
Result<std::vector<bool>> collections_running(MemoryReader& fresh, const std::vector<RemoteAddr>& flags, int wait_ms, CensusBudget* budget) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  std::vector<bool> busy(flags.size(), true);
  std::vector<std::uint32_t> value(flags.size());
  std::vector<ReadRequest> reqs;
  std::vector<std::size_t> which;
  for (;;) {
    reqs.clear();
    which.clear();
    for (std::size_t i = 0; i < flags.size(); ++i) {
      if (!busy[i]) continue;
      reqs.push_back({flags[i], std::as_writable_bytes(std::span(&value[i], 1))});
      which.push_back(i);
    }
    if (reqs.empty()) return busy;
    OBJSPY_TRY(fresh.read_batch(reqs));
    bool any = false;
    for (std::size_t k = 0; k < reqs.size(); ++k) {
      if (!reqs[k].ok) return make_error(Errc::corrupt_target, fmt::format("the collecting flag at {:#x} is unreadable", reqs[k].addr.value()));
      if (value[which[k]] == 0) busy[which[k]] = false;
      else any = true;
    }
    if (!any || std::chrono::steady_clock::now() >= until || (budget && budget->expired())) return busy;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool any_of(const std::vector<bool>& v) { return std::find(v.begin(), v.end(), true) != v.end(); }

struct Hold {
  std::unique_ptr<ProcessPause> pause;  // null without --pause
  MemoryMap map;
};

// The target ready for a census: with --pause, held outside any collection. A target held
// inside one cannot finish it and its lists are half rewritten, so it is let go until the
// collection is over and held again. Bounded (20 holds, and half the time the census has):
// one that is always collecting is walked anyway, and the walk reports the collection.
Result<Hold> hold_for_census(pid_t pid, bool pause, int pause_timeout_ms, MemoryReader& fresh, const Layout& layout, RemoteAddr runtime,
                             CensusBudget& budget) {
  std::vector<RemoteAddr> collecting;  // every interpreter's flag, found once
  const auto now = CensusBudget::Clock::now();
  const auto give_up = budget.counting_deadline() == CensusBudget::Clock::time_point::max()
                           ? CensusBudget::Clock::time_point::max()
                           : now + (std::max(budget.counting_deadline(), now) - now) / 2;
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
    if (!pause || hold == 20 || ProcessPause::ending() || ProcessPause::stop_signal() != 0 || CensusBudget::Clock::now() >= give_up) return h;
    if (collecting.empty()) {
      auto interps = find_interpreters(fresh, &h.map, layout, runtime, budget.limits().max_interpreters);
      if (!interps.ok()) return h;  // the census will say what is wrong
      for (const auto& s : interps->gc_states) collecting.push_back(s.collecting);
    }
    auto busy = collections_running(fresh, collecting, 0, nullptr);
    if (!busy.ok() || !any_of(*busy)) return h;
    h.pause.reset();  // resumes the target
    (void)collections_running(fresh, collecting, 200, &budget);  // up to 200 ms for it to end, unheld
  }
}

// The lists followed node by node (the method of the first release; also what a census without
// a memory map, or past the scan's memory budget, uses). One bound on nodes for all lists.
Status count_by_walk(Census& c, MemoryReader& mem, const MemoryMap* map, const Layout& layout, const Interpreters& interps,
                     TypeValidator& validator, TypeCounter& counts, TypeCounter& frozen, CensusBudget& budget, SizeMeter* meter) {
  HeadSet heads;
  for (const auto& s : interps.gc_states) {
    for (RemoteAddr h : s.heads) heads.add(h);
    heads.add(s.permanent);
  }
  // Every GC object takes at least 32 bytes (PyGC_Head + PyObject) and is on one list, so the
  // writable memory bounds how many nodes all lists together can have.
  std::uint64_t max_steps = budget.limits().max_steps;
  if (!max_steps) max_steps = map ? map->writable_bytes() / 32 + 1024 : (1ULL << 32);
  c.walk.method = "walk";
  std::size_t not_walked = 0;
  for (const auto& s : interps.gc_states) {
    InterpreterStat& is = c.interpreters[static_cast<std::size_t>(&s - interps.gc_states.data())];
    for (std::size_t gen = 0; gen < 4; ++gen) {
      if (budget.steps >= max_steps || budget.expired()) {
        if (budget.steps >= max_steps)
          budget.hit(CensusBudget::Kind::steps, fmt::format("the walk reached its bound of {} objects over all lists (the target's writable memory / 32)", max_steps));
        ++not_walked;
        continue;
      }
      RemoteAddr head = gen < 3 ? s.heads[gen] : s.permanent;
      WalkContext ctx{mem, map, layout, validator, heads, budget, max_steps, meter, gen == 3};
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
  if (not_walked) {
    c.walk.complete = false;
    c.walk.torn = true;
    c.walk.warnings.push_back(fmt::format("{} lists were not walked: the census's budget ran out", not_walked));
  }
  return {};
}

}  // namespace

Result<Census> take_census(MemoryReader& mem, MemoryReader& fresh, const MemoryMap* map, const Layout& layout, RemoteAddr runtime,
                           bool target_held, CensusMethod method, CensusBudget* budget_in, bool measure_bytes) {
  CensusBudget local;
  CensusBudget& budget = budget_in ? *budget_in : local;
  const CensusLimits& lim = budget.limits();
  Census c;
  c.python_version = layout.version.str();
  c.python_hexversion = layout.version.hex();
  c.debug_build = layout.version.debug_build;
  c.layout_source = layout.source;
  OBJSPY_ASSIGN(Interpreters interps, find_interpreters(mem, map, layout, runtime, lim.max_interpreters, &fresh));
  c.main_interpreter = interps.main.value();
  if (interps.truncated)
    budget.hit(CensusBudget::Kind::interpreters,
               fmt::format("the target has more than {} interpreters: the first {} were counted", lim.max_interpreters, interps.gc_states.size()));
  std::vector<RemoteAddr> flags;
  for (const auto& s : interps.gc_states) {
    InterpreterStat is;
    is.index = s.interpreter_index;
    c.interpreters.push_back(is);
    flags.push_back(s.collecting);
  }
  // A held target cannot end a collection: it is reported without waiting.
  OBJSPY_ASSIGN(std::vector<bool> busy, collections_running(fresh, flags, target_held ? 0 : lim.collection_wait_ms, &budget));
  for (std::size_t k = 0; k < busy.size(); ++k) {
    if (!busy[k]) continue;
    c.walk.complete = false;
    c.walk.torn = true;
    c.walk.warnings.push_back(fmt::format("interpreter {}: a garbage collection was running during the census", interps.gc_states[k].interpreter_index));
  }
  // The collector's own figures, read fresh once no collection runs (or the wait gave up).
  std::vector<CollectorFigures> collectors;
  for (const auto& s : interps.gc_states) {
    OBJSPY_ASSIGN(CollectorFigures f, read_collector(fresh, layout, s));
    collectors.push_back(std::move(f));
  }

  // Bounded tables: a hostile target's million types cost the first max_types of them.
  TypeValidator validator(mem, map, layout, lim.max_types + 4096);
  TypeCounter counts(lim.max_types), frozen(lim.max_types);
  // Sizes (sys.getsizeof) measured with the count: the scan reads the words they need with
  // each header; a walk that replaces a scan starts over with a fresh meter.
  std::optional<SizeMeter> meter;
  SizeLimits size_limits;
  size_limits.max_types = lim.max_types;
  if (measure_bytes) meter.emplace(mem, layout, size_limits, &fresh, &budget);
  bool walked = method == CensusMethod::walk || !map;
  if (!walked) {
    OBJSPY_ASSIGN(ScanCounts sc, census_by_scan(fresh, fresh, *map, layout, interps, validator, {}, &mem != &fresh ? &mem : nullptr, &budget,
                                                meter ? &*meter : nullptr));
    if (sc.over_budget && !sc.stopped && !budget.deadline_passed()) {
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
  if (walked) {
    if (meter) meter.emplace(mem, layout, size_limits, &fresh, &budget);
    OBJSPY_TRY(count_by_walk(c, mem, map, layout, interps, validator, counts, frozen, budget, meter ? &*meter : nullptr));
  }
  if (meter) {
    OBJSPY_TRY(meter->finish(counts, &budget));
    c.measured_bytes = true;
    c.bytes_unmeasured = meter->unmeasured();
    if (c.bytes_unmeasured)
      c.walk.warnings.push_back(fmt::format("{} objects did not read as live objects when sized (freed during the census?): counted at their types' fixed size",
                                            c.bytes_unmeasured));
  }
  for (auto& is : c.interpreters) {
    is.objects = is.generations[0] + is.generations[1] + is.generations[2];
    for (std::size_t g = 0; g < 3; ++g) c.generations[g] += is.generations[g];
  }
  c.total = counts.total();
  c.frozen = frozen.total();

  ObjectReader objs(mem, layout);
  OBJSPY_TRY(name_types(c, counts, frozen, objs, budget, meter ? &*meter : nullptr));
  for (const TypeStat& t : c.types) c.bytes += t.bytes;
  // The types gc.garbage holds, named under the same budget.
  TypeNamer namer(objs, &budget);
  for (std::size_t k = 0; k < c.interpreters.size() && k < collectors.size(); ++k) {
    OBJSPY_ASSIGN(c.interpreters[k].gc, collector_stat(collectors[k], namer));
    for (auto& w : collector_warnings(c.interpreters[k])) c.walk.warnings.push_back(std::move(w));
  }
  // A census that ran out of any budget stopped early somewhere: a partial count.
  if (budget.any_hit()) {
    c.walk.complete = false;
    c.walk.torn = true;
    c.walk.limits = budget.reasons();
    for (const auto& r : budget.reasons()) c.walk.warnings.push_back("the census stopped early: " + r);
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
    auto interps = find_interpreters(cache, &map, s->target_.layout, s->target_.image.runtime, opts.limits.max_interpreters, &s->impl_->live);
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
  Result<Census> c = census_with_retries();
  // Once, for the census given back, after any hold: the kernel walks the target's page tables
  // for this, and it is no part of the census's duration. Unreadable (Linux before 4.14)
  // leaves it out.
  if (c.ok()) {
    if (auto mem = read_process_memory(target_.pid); mem.ok()) c->memory = *mem;
    // pymalloc's figures, unheld too: they describe the allocator, not one object.
    if (c->main_interpreter) {
      const auto* globals = target_.image.allocator ? &*target_.image.allocator : nullptr;
      auto a = read_allocator(impl_->live, target_.layout, globals, RemoteAddr(c->main_interpreter));
      if (!a.ok()) return a.take_error();
      c->allocator = std::move(*a);
    }
  }
  return c;
}

Result<Census> Sampler::census_with_retries() {
  const pid_t pid = target_.pid;
  Result<Census> last = make_error(Errc::internal, "no census taken");
  std::optional<Census> best;  // the least uncertain census of the attempts
  // One deadline for the census, retries included.
  const auto deadline = CensusBudget(opts_.limits).deadline();
  for (int attempt = 0; attempt <= opts_.retries; ++attempt) {
    CensusBudget budget(opts_.limits, deadline);
    auto t0 = std::chrono::steady_clock::now();
    std::uint64_t calls0 = impl_->live.syscalls(), bytes0 = impl_->live.bytes_read();
    // --pause: room for the copy is made before the hold, from the map as it is now: as much
    // as the target has in memory there (not the size of its mappings, which cost it nothing).
    std::optional<SnapshotReader> copy;
    if (opts_.pause) {
      if (auto pre = read_memory_map(pid); pre.ok()) {
        std::uint64_t mapped = 0, need = 0;
        (void)SnapshotReader::resident(pid, SnapshotReader::plan(*pre, &mapped), &need);
        if (need <= opts_.copy_budget) {
          auto r = SnapshotReader::reserve(impl_->live, need + need / 16 + (16ULL << 20));  // room to grow until the hold
          if (r.ok()) copy.emplace(std::move(*r));
        }
      }
    }
    OBJSPY_ASSIGN(Hold held, hold_for_census(pid, opts_.pause, opts_.pause_timeout_ms, impl_->live, target_.layout, target_.image.runtime, budget));
    bool from_copy = false;
    if (held.pause && copy) {
      std::uint64_t mapped = 0, need = 0;
      auto planned = SnapshotReader::plan(held.map, &mapped);
      auto ranges = SnapshotReader::resident(pid, planned, &need);
      OBJSPY_ASSIGN(bool fits, copy->copy(planned, ranges));
      if (fits) {
        held.pause->resume();  // the hold ends with the copy
        from_copy = true;
      }
    }
    if (from_copy) {
      last = take_census(*copy, *copy, &held.map, target_.layout, target_.image.runtime, true, opts_.method, &budget, opts_.measure_bytes);
    } else {
      CachedReader cache(impl_->live, &held.map, opts_.cache_budget, opts_.cache_chunk);
      last = take_census(cache, impl_->live, &held.map, target_.layout, target_.image.runtime, held.pause != nullptr, opts_.method, &budget,
                         opts_.measure_bytes);
    }
    double pause_ms = -1;
    if (held.pause) {
      held.pause->resume();
      pause_ms = held.pause->held_ms();
    }
    if (!last.ok()) {
      // A census that fails on a bad read while the process is gone means it exited mid-walk.
      if (!process_alive(pid)) return make_error(Errc::target_exited, fmt::format("process {} exited during the census", pid));
      if (last.error().code != Errc::corrupt_target || attempt == opts_.retries || budget.expired()) return best ? Result<Census>(*best) : last;
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
    // A census that ran out of its budget is not tried again: it would run out again.
    if (!c.walk.limits.empty()) break;
  }
  return *best;
}

}  // namespace objspy
