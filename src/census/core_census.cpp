#include "objspy/census/core_census.hpp"

#include <chrono>

#include <fmt/format.h>

#include "objspy/python/allocator.hpp"
#include "objspy/python/gc_state.hpp"

namespace objspy {

Result<std::unique_ptr<CoreSampler>> CoreSampler::open(const std::string& path, SampleOptions opts) {
  std::unique_ptr<CoreSampler> s(new CoreSampler());
  s->opts_ = opts;
  OBJSPY_ASSIGN(s->core_, CoreFile::open(path));
  s->mem_ = std::make_unique<CoreReader>(*s->core_);
  OBJSPY_ASSIGN(s->target_, locate_python_in_core(*s->core_, *s->mem_));
  const MemoryMap& map = s->core_->map();
  OBJSPY_ASSIGN(Interpreters interps, find_interpreters(*s->mem_, &map, s->target_.layout, s->target_.image.runtime, opts.limits.max_interpreters));
  s->notes_ = interps.notes;
  // 3.8-3.10 export no version number; the sys module has it, and whether this is a debug build.
  if (auto facts = read_sys_facts(*s->mem_, s->target_.layout, interps.main); facts.ok()) {
    Layout& l = s->target_.layout;
    if (facts->hexversion && !l.version.exact()) {
      PyVersion v = PyVersion::from_hex(*facts->hexversion);
      if (v.major == l.version.major && v.minor == l.version.minor) l.version = v;
    }
    l.version.debug_build = facts->debug_build;
  }
  return s;
}

std::vector<std::string> CoreSampler::notes() const {
  std::vector<std::string> out = notes_;
  const CoreProcess& p = core_->process();
  out.push_back(fmt::format("core {}: process {} ({}), {} threads, {} segments, {} mapped files{}", core_->path(), p.pid, p.command, p.threads.size(),
                            core_->segments().size(), core_->files().size(),
                            core_->truncated_segments() ? fmt::format(", {} segments cut short", core_->truncated_segments()) : ""));
  for (const auto& problem : mem_->problems()) out.push_back("mapped file not used: " + problem);
  return out;
}

Result<Census> CoreSampler::sample() {
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t calls0 = mem_->reads(), bytes0 = mem_->bytes_read();
  CensusBudget budget(opts_.limits);
  // The process in a core is still: nothing to wait for, nothing to retry.
  OBJSPY_ASSIGN(Census c, take_census(*mem_, *mem_, &core_->map(), target_.layout, target_.image.runtime, true, opts_.method, &budget,
                                      opts_.measure_bytes));
  c.pid = core_->process().pid;
  c.python_binary = target_.image.path;
  c.timestamp = core_->written_at();
  c.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  c.read_calls = mem_->reads() - calls0;
  c.bytes_read = mem_->bytes_read() - bytes0;
  if (c.main_interpreter) {
    const auto* globals = target_.image.allocator ? &*target_.image.allocator : nullptr;
    OBJSPY_ASSIGN(c.allocator, read_allocator(*mem_, target_.layout, globals, RemoteAddr(c.main_interpreter)));
  }
  return c;
}

}  // namespace objspy
