#include <cstdio>

#include <fmt/format.h>

#include "objspy/census/sampler.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/core/escape.hpp"

namespace objspy::cli {
namespace {

void note(const std::string& s) { std::fputs(fmt::format("objspy: {}\n", escape_for_terminal(s)).c_str(), stderr); }

Status dump_pid(pid_t pid, const DumpOptions& o) {
  SampleOptions so;
  so.cache_budget = o.cache_mib << 20;
  so.retries = o.retries;
  so.pause = o.pause;
  OBJSPY_ASSIGN(auto sampler, Sampler::attach(pid, so));
  if (o.verbose) {
    const auto& t = sampler->target();
    note(fmt::format("python {} in {} (opened as {}), _PyRuntime at {:#x}, layout: {}", t.layout.version.str(), t.image.path,
                     t.image.opened_from, t.image.runtime.value(), t.layout.source));
    for (const auto& n : sampler->notes()) note(n);
  }
  OBJSPY_ASSIGN(Census c, sampler->sample());
  RenderOptions r = o.render;
  std::string out;
  switch (o.format) {
    case Format::table: out = render_table(c, r); break;
    case Format::json:
    case Format::ndjson:
      if (!o.limit_given) r.limit = 0;
      out = render_json(c, r, o.format == Format::json);
      break;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (!o.quiet) note(render_summary(c));
  for (const auto& w : c.walk.warnings) note("warning: " + w);
  if (!c.walk.complete)
    return make_error(Errc::incomplete, fmt::format("the census of process {} is incomplete: its GC lists changed during the walk{} (counts above are partial)",
                                                    pid, c.walk.retried ? " and again on retry" : ""));
  return {};
}

}  // namespace

Status run_dump(const DumpOptions& o) {
  if (!o.command.empty())
    return run_launched(o.command, o.delay, o.start_timeout, o.verbose, [&](pid_t pid) { return dump_pid(pid, o); });
  return dump_pid(o.pid, o);
}

}  // namespace objspy::cli
