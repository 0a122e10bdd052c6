// objspy info: what objspy knows of a target, in one place: the process, the interpreter and
// how objspy read it (binary, symbols, layout), the target's memory, and every interpreter's
// collector; the object count of one census, without the type table.
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/census/core_census.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/output/render.hpp"

namespace objspy::cli {
namespace {

std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

}  // namespace

// What info shows of the process, from /proc or from a core file's notes.
struct ProcessFacts {
  pid_t pid = 0;
  std::string comm, exe, state;
  std::size_t threads = 0;
  std::uint64_t start_time = 0;
  bool main_thread_exited = false;
  std::string core;  // the core file, when read from one
  std::string arguments;
  double written_at = 0;
};

Status run_info(const InfoOptions& o) {
  PythonTarget t;
  std::vector<std::string> notes;
  ProcessFacts p;
  Census c;
  if (!o.target.core.empty()) {
    SampleOptions so;
    so.method = o.target.method;
    so.limits.timeout_s = o.target.census_timeout_s;
    so.measure_bytes = !o.target.no_bytes;
    OBJSPY_ASSIGN(auto sampler, CoreSampler::open(o.target.core, so));
    OBJSPY_ASSIGN(c, sampler->sample());
    t = sampler->target();
    notes = sampler->notes();
    const CoreProcess& cp = sampler->core().process();
    p = {cp.pid, cp.command, "", "core", cp.threads.size(), 0, false, o.target.core, cp.arguments, sampler->core().written_at()};
  } else {
    OBJSPY_ASSIGN(auto sampler, attach_target(o.target, o.target.pid));
    OBJSPY_ASSIGN(c, sampler->sample());
    t = sampler->target();
    notes = sampler->notes();
    const auto& pi = sampler->process();
    p = {o.target.pid, pi.comm, executable_path(o.target.pid), std::string(1, pi.state), list_tasks(o.target.pid).size(), pi.start_time,
         pi.main_thread_exited, "", "", 0};
  }
  const pid_t pid = p.pid;
  const std::size_t threads = p.threads;
  const std::string& exe = p.exe;
  const std::string symbols = image_source_name(t.image.source);

  std::string out;
  if (o.json) {
    using nlohmann::json;
    json j;
    j["pid"] = pid;
    j["process"] = {{"comm", sanitize_utf8(p.comm)}, {"exe", sanitize_utf8(exe)}, {"state", p.state},
                    {"threads", threads}, {"start_time_ticks", p.start_time}, {"main_thread_exited", p.main_thread_exited}};
    if (!p.core.empty()) j["core"] = {{"file", sanitize_utf8(p.core)}, {"arguments", sanitize_utf8(p.arguments)}, {"written_at", p.written_at}};
    j["python"] = {{"version", c.python_version},
                   {"hexversion", c.python_hexversion},
                   {"debug_build", c.debug_build},
                   {"binary", sanitize_utf8(t.image.path)},
                   {"opened_from", sanitize_utf8(t.image.opened_from)},
                   {"symbols_from", symbols},
                   {"symbols_detail", sanitize_utf8(t.image.source_detail)},
                   {"runtime_address", fmt::format("{:#x}", t.image.runtime.value())},
                   {"layout_source", t.layout.source}};
    const json census = census_to_json(c, RenderOptions{o.names, 1});
    j["memory"] = census.at("memory");
    j["allocator"] = census.at("allocator");
    j["explained"] = census.at("explained");
    j["objects"] = {{"total", c.total}, {"frozen", c.frozen}, {"generations", c.generations}, {"complete", c.walk.complete},
                    {"coverage", census.at("walk").at("coverage")}, {"method", c.walk.method}, {"bytes", census.at("total_bytes")}};
    j["interpreters"] = census.at("interpreters");
    json fields = json::array();
    for (const auto& f : describe_layout(t.layout)) fields.push_back({{"field", f.name}, {"offset", f.value}, {"source", f.source}});
    j["layout_fields"] = fields;
    j["notes"] = notes;
    out = j.dump(2, ' ', true) + "\n";
  } else {
    if (!p.core.empty())
      out += fmt::format("core         {}: process {} ({}), {} thread{}\n", escape_for_terminal(p.core), pid, escape_for_terminal(p.arguments), threads,
                         threads == 1 ? "" : "s");
    else
      out += fmt::format("process      {} ({}), {} thread{}, state {}{}\n", pid, escape_for_terminal(p.comm), threads, threads == 1 ? "" : "s",
                         p.state, p.main_thread_exited ? ", main thread exited" : "");
    if (!exe.empty()) out += fmt::format("executable   {}\n", escape_for_terminal(exe));
    out += fmt::format("python       {}{}, _PyRuntime at {:#x}\n", c.python_version, c.debug_build ? " (debug build)" : " (release build)",
                       t.image.runtime.value());
    out += fmt::format("binary       {}\n", escape_for_terminal(t.image.path));
    out += fmt::format("symbols      from {} ({})\n", symbols, escape_for_terminal(t.image.opened_from));
    out += fmt::format("layout       {}\n", t.layout.source);
    if (o.fields)
      for (const auto& f : describe_layout(t.layout)) out += fmt::format("  {:<42} {:>6}  {}\n", f.name, f.value, f.source);
    if (c.memory)
      out += fmt::format("memory       RSS {}, PSS {}, anonymous {}, swap {}\n", mib(c.memory->rss_bytes), mib(c.memory->pss_bytes),
                         mib(c.memory->anonymous_bytes), mib(c.memory->swap_bytes));
    else
      out += p.core.empty() ? "memory       unknown (no /proc/PID/smaps_rollup)\n" : "memory       unknown (a core file has no RSS)\n";
    out += fmt::format("objects      {} GC-tracked in {} interpreter{} (generations {}/{}/{}), {} frozen; {}\n", c.total, c.interpreters.size(),
                       c.interpreters.size() == 1 ? "" : "s", c.generations[0], c.generations[1], c.generations[2], c.frozen,
                       c.walk.complete ? "complete" : fmt::format("coverage {:.2f}%", coverage(c.walk, c.total) * 100));
    if (c.measured_bytes) out += fmt::format("bytes        {} in GC-tracked objects (sum of sys.getsizeof)\n", c.bytes);
    if (c.allocator) out += fmt::format("pymalloc     {}\n", escape_for_terminal(render_allocator_line(*c.allocator)));
    if (auto line = render_explained_line(explain_memory(c)); !line.empty()) out += fmt::format("explained    {}\n", line);
    for (const auto& line : render_gc_summary(c)) out += fmt::format("collector    {}\n", escape_for_terminal(line));
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  for (const auto& w : c.walk.warnings) std::fputs(fmt::format("objspy: warning: {}\n", escape_for_terminal(w)).c_str(), stderr);
  return {};
}

}  // namespace objspy::cli
