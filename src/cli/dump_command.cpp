#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "objspy/census/core_census.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/census/series.hpp"
#include "objspy/cli/state_file.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/cli/dump_parts.hpp"
#include "objspy/cli/safe_file.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/output/pprof.hpp"
#include "objspy/output/render.hpp"

namespace objspy::cli {

void note(const std::string& s) { std::fputs(fmt::format("objspy: {}\n", escape_for_terminal(s)).c_str(), stderr); }

Status check_output(const DumpOptions& o) {
  // A profile is gzip bytes: a terminal would show garbage.
  if (o.format == Format::pprof && o.output.empty() && ::isatty(STDOUT_FILENO))
    return make_error(Errc::usage, "--format pprof writes a binary profile: redirect stdout to a file or give --output FILE");
  return {};
}

Status write_output(const DumpOptions& o, const std::string& data) {
  std::FILE* f = stdout;
  if (!o.output.empty() && o.output != "-") {
    OBJSPY_ASSIGN(f, open_for_writing(o.output));
  }
  const bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  const bool flushed = std::fflush(f) == 0;
  if (f != stdout && std::fclose(f) != 0) return make_error(Errc::io, fmt::format("cannot write {}", o.output));
  if (!ok || !flushed) return make_error(Errc::io, f == stdout ? std::string("cannot write to stdout") : fmt::format("cannot write {}", o.output));
  return {};
}

Status incomplete_error(const Census& c, pid_t pid) {
  // Exit 8 by the same rule: an estimated census within tolerance is a result, not a failure.
  if (trusted_census(c)) return {};
  if (!c.walk.limits.empty())
    return make_error(Errc::incomplete, fmt::format("the census of process {} is incomplete: it stopped early: {}{} (counts above are partial)", pid,
                                                    c.walk.limits.front(), c.walk.limits.size() > 1 ? fmt::format(" (and {} more limits)", c.walk.limits.size() - 1) : ""));
  if (c.walk.uncertain > 0)
    return make_error(Errc::incomplete, fmt::format("the census of process {} is incomplete: coverage {:.1f}%, below {:g}% (counts above are approximate)",
                                                    pid, coverage(c.walk, c.total) * 100, kMinCoverage * 100));
  return make_error(Errc::incomplete, fmt::format("the census of process {} is incomplete: its GC lists changed during the walk{} (counts above are partial)",
                                                  pid, c.walk.retried ? " and again on retry" : ""));
}

namespace {

Status dump_pid(pid_t pid, const DumpOptions& o) {
  OBJSPY_ASSIGN(auto sampler, attach_target(o.target, pid));
  if (o.verbose) {
    const auto& t = sampler->target();
    note(fmt::format("python {} in {} (opened as {}), _PyRuntime at {:#x}, layout: {}", t.layout.version.str(), t.image.path,
                     t.image.opened_from, t.image.runtime.value(), t.layout.source));
    note(fmt::format("symbols read from {}: {}", image_source_name(t.image.source), t.image.source_detail));
    for (const auto& n : sampler->notes()) note(n);
  }
  OBJSPY_ASSIGN(Census c, sampler->sample());
  return emit_census(c, o, pid, sampler->process().start_time);
}

// A core file's census: rendered like a live one (--growth, --pause and --subprocesses are
// refused before: a core has no next census, nothing to hold, no children).
Status dump_core(const DumpOptions& o) {
  SampleOptions so;
  so.method = o.target.method;
  so.limits.timeout_s = o.target.census_timeout_s;
  so.measure_bytes = !o.target.no_bytes;
  OBJSPY_ASSIGN(auto sampler, CoreSampler::open(o.target.core, so));
  if (o.verbose) {
    const auto& t = sampler->target();
    note(fmt::format("python {} in {} (opened as {}), _PyRuntime at {:#x}, layout: {}", t.layout.version.str(), t.image.path,
                     t.image.opened_from, t.image.runtime.value(), t.layout.source));
    note(fmt::format("symbols read from {}: {}", image_source_name(t.image.source), t.image.source_detail));
  }
  OBJSPY_ASSIGN(Census c, sampler->sample());
  if (o.verbose)
    for (const auto& n : sampler->notes()) note(n);
  return emit_census(c, o, c.pid, 0);
}

}  // namespace

Status emit_census(const Census& c, const DumpOptions& o, pid_t pid, std::uint64_t start_time) {
  const RenderOptions& r = o.render;
  RenderOptions all = r;
  all.limit = 0;
  const RenderOptions& json_opts = o.limit_given ? r : all;  // JSON lists every type by default
  const bool pretty = o.format == Format::json;
  std::string out;
  if (o.growth) {
    // Like objgraph.show_growth(), against the census the previous run saved. The state is
    // locked from read to write so that overlapping cron runs do not interleave.
    std::string path = o.state_path;
    if (path.empty()) {
      OBJSPY_ASSIGN(path, default_state_path(pid, start_time, r.names));
    }
    OBJSPY_ASSIGN(StateFile state, StateFile::open(path));
    OBJSPY_ASSIGN(auto previous, state.load());
    if (previous && !previous->trusted()) {  // only written by hand or by another tool: objspy saves trusted ones
      note(fmt::format("the census in {} is incomplete and is not used as a baseline", path));
      previous.reset();
    }
    // --sort bytes: the growth of bytes per type; a baseline without bytes is no baseline.
    if (previous && r.sort == SortBy::bytes && !previous->has_bytes) {
      note(fmt::format("the census in {} has no bytes per type: growth in bytes is counted from zero", path));
      previous.reset();
    }
    if (!previous) note(fmt::format("no previous census in {}: growth is counted from zero", path));
    Snapshot before;
    before.has_bytes = true;
    OBJSPY_ASSIGN(Snapshot was, measured_by(previous ? *previous : before, r.sort));
    OBJSPY_ASSIGN(Snapshot now, measured_by(snapshot_of(c, r.names), r.sort));
    auto rows = growth(was, now, r.limit);
    out = o.format == Format::table ? render_growth(rows)
                                    : render_growth_json(c, json_opts, rows, previous ? &*previous : nullptr, pretty, r.sort);
    // Only a trusted census becomes the baseline (the rule of every series reader, series.hpp).
    if (trusted_census(c)) OBJSPY_TRY(state.save(render_json(c, all, false)));
  } else if (o.format == Format::pprof) {
    OBJSPY_ASSIGN(out, render_pprof({&c}, r.names));
  } else {
    out = o.format == Format::table ? render_table(c, r) : render_json(c, json_opts, pretty);
  }
  OBJSPY_TRY(write_output(o, out));
  if (!o.quiet) {
    note(render_summary(c));
    for (const auto& line : render_gc_summary(c)) note(line);
  }
  for (const auto& w : c.walk.warnings) note("warning: " + w);
  return incomplete_error(c, pid);
}

Result<std::unique_ptr<Sampler>> attach_target(const TargetOptions& t, pid_t pid) {
  SampleOptions so;
  so.cache_budget = t.cache_mib << 20;
  so.retries = t.retries;
  so.pause = t.pause;
  so.method = t.method;
  so.pause_timeout_ms = t.pause_timeout_ms;
  so.limits.timeout_s = t.census_timeout_s;
  so.measure_bytes = !t.no_bytes;
  return Sampler::attach(pid ? pid : t.pid, so);
}

Status run_dump(const DumpOptions& o) {
  OBJSPY_TRY(check_output(o));
  if (!o.target.core.empty()) return dump_core(o);
  auto one = [&](pid_t pid) { return o.subprocesses ? dump_tree(pid, o) : dump_pid(pid, o); };
  if (!o.command.empty()) return run_launched(o.command, o.delay, o.start_timeout, o.verbose, one);
  return one(o.target.pid);
}

}  // namespace objspy::cli
