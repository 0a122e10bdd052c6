#include "objspy/cli/image_target.hpp"

#include <fmt/format.h>

#include "objspy/process/held_copy.hpp"
#include "objspy/python/gc_state.hpp"
#include "objspy/python/gc_walk.hpp"
#include "objspy/process/proc.hpp"

namespace objspy::cli {

Result<std::unique_ptr<ImageTarget>> open_image(const TargetOptions& t, std::uint64_t copy_budget) {
  auto img = std::make_unique<ImageTarget>();
  if (!t.core.empty()) {
    SampleOptions so;
    OBJSPY_ASSIGN(img->core, CoreSampler::open(t.core, so));
    img->target = img->core->target();
    img->map = img->core->core().map();
    img->core_cache = std::make_unique<CachedReader>(img->core->memory(), &img->map, 256u << 20, 128u << 10);
    img->mem = img->core_cache.get();
    img->pid = img->core->core().process().pid;
    return img;
  }
  const pid_t pid = t.pid;
  OBJSPY_ASSIGN(auto sampler, attach_target(t, pid));
  img->target = sampler->target();
  img->pid = pid;
  img->live = std::make_unique<LiveReader>(pid);
  OBJSPY_ASSIGN(HeldCopy held, copy_while_held(pid, *img->live, copy_budget, t.pause_timeout_ms));
  img->map = std::move(held.map);
  if (!held.copy) {
    img->warnings.push_back(fmt::format("process {} has {} MiB of object-holding memory, more than --copy-budget ({} MiB): it was read live, "
                                        "not held, and a busy process may give references that changed meanwhile",
                                        pid, held.need >> 20, copy_budget >> 20));
    img->live_cache = std::make_unique<CachedReader>(*img->live, &img->map, 64u << 20, 128u << 10);
    img->mem = img->live_cache.get();
    return img;
  }
  img->copy.emplace(std::move(*held.copy));
  img->held_ms = held.held_ms;
  img->copied = img->copy->bytes_copied();
  img->mem = &*img->copy;
  return img;
}

Result<std::vector<ScanCounts::Object>> gc_objects(ImageTarget& img, CensusBudget& budget, std::vector<std::string>& warnings) {
  const Layout& l = img.target.layout;
  OBJSPY_ASSIGN(Interpreters interps, find_interpreters(*img.mem, &img.map, l, img.target.image.runtime, budget.limits().max_interpreters));
  TypeValidator validator(*img.mem, &img.map, l, budget.limits().max_types + 4096);
  ScanLimits sl;
  sl.collect_objects = true;
  OBJSPY_ASSIGN(ScanCounts sc, census_by_scan(*img.mem, *img.mem, img.map, l, interps, validator, sl, nullptr, &budget, nullptr));
  if (sc.over_budget || sc.pools.regions_capped || sc.stopped) {
    // More memory than the scan reads in its time (an ASan build's shadow, huge
    // reservations): the GC lists followed instead, as the census does, with a deadline of
    // their own (probing the reservations may have spent the first).
    budget = CensusBudget(budget.limits());
    HeadSet heads;
    for (const auto& s : interps.gc_states) {
      for (RemoteAddr h : s.heads) heads.add(h);
      heads.add(s.permanent);
    }
    std::vector<std::pair<std::uint64_t, std::uint64_t>> found;
    TypeCounter counts(budget.limits().max_types), frozen(budget.limits().max_types);
    const std::uint64_t max_steps = img.map.writable_bytes() / 32 + 1024;
    bool complete = true;
    for (const auto& s : interps.gc_states)
      for (std::size_t gen = 0; gen < 4; ++gen) {
        WalkContext ctx{*img.mem, &img.map, l, validator, heads, budget, max_steps, nullptr, gen == 3, &found};
        OBJSPY_ASSIGN(ListResult r, walk_gc_list(ctx, gen < 3 ? s.heads[gen] : s.permanent, gen < 3 ? counts : frozen));
        complete = complete && r.complete;
      }
    if (!complete) warnings.push_back("the GC lists changed while they were followed: some objects may be missing");
    std::vector<ScanCounts::Object> out;
    out.reserve(found.size());
    for (auto [a, t] : found) out.push_back({a, t});
    return out;
  }
  if (sc.over_budget || sc.stopped || sc.uncertain) warnings.push_back("the census of the image is incomplete: some objects may be missing");
  return std::move(sc.objects);
}

}  // namespace objspy::cli
