// agent: discovery of Python processes, a census of each on its own schedule within the CPU
// budget, one /metrics for all of them (output/agent_metrics.hpp).
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/census/series.hpp"
#include "objspy/cli/agent.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/cli/following.hpp"
#include "objspy/cli/http_server.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/elf/elf_file.hpp"
#include "objspy/output/agent_metrics.hpp"
#include "objspy/output/pprof.hpp"
#include "objspy/process/cgroup.hpp"
#include "objspy/process/proc.hpp"
#include "objspy/process/process_labels.hpp"
#include "objspy/process/process_tree.hpp"

namespace objspy::cli {
namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using Key = std::pair<pid_t, std::uint64_t>;  // PID and start time: one process, whatever reuses the PID

void note(const std::string& line) { std::fputs(fmt::format("objspy: {}\n", escape_for_terminal(line)).c_str(), stderr); }

double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double process_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

struct Watched {
  ProcessEntry proc;
  ProcessLabels labels;
  std::unique_ptr<FollowingSampler> sampler;  // used on the worker only
  std::optional<Census> counted, latest;
  std::uint64_t censuses = 0, failures = 0, skipped = 0;
  double cpu_seconds = 0;
  double cpu_per_census = 0;  // moving average
  double interval_s = 0;
  clock::time_point due;
  FailureLog failure_log;
  // The census before the OOM kill: a crossed threshold waits for the first census after it.
  std::optional<MemoryTrigger> trigger;
  std::optional<std::string> pending;
  double pending_since = 0;  // Unix time of the crossing
  std::uint64_t pending_rss = 0;
  std::optional<std::uint64_t> pending_limit;
  std::uint64_t triggered = 0;
};

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

struct CompiledFilter {
  AgentFilter::Field field;
  std::regex re;
};

}  // namespace

Status run_agent(const AgentOptions& o) {
  OBJSPY_ASSIGN(auto endpoint, parse_listen_address(o.listen));
  std::vector<CompiledFilter> include, exclude;
  for (auto [from, to] : {std::pair{&o.include, &include}, std::pair{&o.exclude, &exclude}}) {
    for (const auto& f : *from) {
      try {
        to->push_back({f.field, std::regex(f.pattern, std::regex::ECMAScript)});
      } catch (const std::regex_error& e) {
        return make_error(Errc::usage, fmt::format("bad filter pattern {}: {}", f.pattern, e.what()));
      }
    }
  }
  auto field_of = [](AgentFilter::Field f, const ProcessLabels& l) -> const std::string& {
    return f == AgentFilter::Field::cmdline ? l.command : f == AgentFilter::Field::unit ? l.unit : l.cgroup;
  };
  auto wanted = [&](const ProcessLabels& l) {
    auto any = [&](const std::vector<CompiledFilter>& fs) {
      for (const auto& f : fs)
        if (std::regex_search(field_of(f.field, l), f.re)) return true;
      return false;
    };
    return (include.empty() || any(include)) && !any(exclude);
  };

  asio::io_context io;
  asio::thread_pool worker(1);
  std::map<Key, std::shared_ptr<Watched>> watched;
  // Not Python, or filtered out, with the executable it ran then: a process that execs (a
  // shell entrypoint's `exec python app.py`) is looked at again.
  std::map<Key, std::pair<dev_t, ino_t>> ignored;
  std::map<std::pair<dev_t, ino_t>, bool> exe_has_runtime;  // executables checked for _PyRuntime
  AgentStats stats;
  stats.cpu_budget = o.cpu_budget;
  stats.interval_s = o.interval_s;
  stats.top_types = o.top_types;
  stats.max_series = o.max_series;
  stats.names = o.names;
  std::deque<std::pair<double, double>> cpu_history;  // (monotonic s, process CPU s) over a minute
  std::string metrics;
  bool busy = false;
  asio::steady_timer discover_timer(io), census_timer(io);
  std::unique_ptr<MetricsServer> server;

  auto now_s = [] { return std::chrono::duration<double>(clock::now().time_since_epoch()).count(); };
  auto render = [&] {
    const double t = now_s(), cpu = process_cpu();
    cpu_history.emplace_back(t, cpu);
    while (cpu_history.size() > 2 && cpu_history.front().first < t - 60) cpu_history.pop_front();
    const auto& [t0, c0] = cpu_history.front();
    stats.cpu_seconds = cpu;
    stats.cpu_usage = t > t0 ? (cpu - c0) / (t - t0) : 0;
    stats.ignored = ignored.size();
    std::vector<AgentProcess> rows;
    rows.reserve(watched.size());
    for (const auto& [key, w] : watched)
      rows.push_back({w->proc.pid, w->labels, w->counted ? &*w->counted : nullptr, w->latest ? &*w->latest : nullptr, w->censuses, w->failures,
                      w->skipped, w->interval_s, w->cpu_seconds, w->triggered});
    metrics = render_agent_metrics(rows, stats);
  };

  // Is this a Python process? Cheap first: a mapped file named like Python; else the
  // executable exports _PyRuntime (a static embedding), checked once per executable file.
  auto candidate = [&](pid_t pid) {
    if (maps_mention_python(read_small_file(fmt::format("/proc/{}/maps", pid), 4 << 20).value_or(""))) return true;
    struct stat st {};
    const std::string exe = fmt::format("/proc/{}/exe", pid);
    if (::stat(exe.c_str(), &st) != 0) return false;
    auto [it, added] = exe_has_runtime.try_emplace({st.st_dev, st.st_ino}, false);
    if (added) {
      auto elf = ElfFile::open(exe);
      it->second = elf.ok() && elf->symbol("_PyRuntime").has_value();
    }
    return it->second;
  };

  auto exe_of = [](pid_t pid) -> std::pair<dev_t, ino_t> {
    struct stat st {};
    if (::stat(fmt::format("/proc/{}/exe", pid).c_str(), &st) != 0) return {0, 0};
    return {st.st_dev, st.st_ino};
  };
  std::function<void()> schedule;
  auto discover = [&] {
    ++stats.discoveries;
    bool truncated = false;
    const auto all = list_processes(kMaxProcesses, &truncated);
    std::set<Key> present;
    const pid_t self = ::getpid();
    std::set<pid_t> tree;  // serve --subprocesses: the root and its descendants only
    if (o.root)
      for (const auto& p : process_tree(all, o.root)) tree.insert(p.pid);
    for (const auto& p : all) {
      if (o.root && tree.count(p.pid) == 0) continue;
      const Key key{p.pid, p.start_time};
      present.insert(key);
      if (p.pid == self || watched.count(key) || p.state == 'Z') continue;
      if (auto it = ignored.find(key); it != ignored.end()) {
        if (exe_of(p.pid) == it->second) continue;
        ignored.erase(it);  // it exec'd since
      }
      if (!candidate(p.pid)) {
        ignored.emplace(key, exe_of(p.pid));
        continue;
      }
      auto labels = read_process_labels(p.pid, p.comm);
      if (!wanted(labels)) {
        ignored.emplace(key, exe_of(p.pid));
        continue;
      }
      auto w = std::make_shared<Watched>();
      w->proc = p;
      w->labels = std::move(labels);
      w->interval_s = o.interval_s;
      w->due = clock::now();
      if (o.trigger.any()) w->trigger.emplace(o.trigger);
      if (o.verbose) note(fmt::format("watching pid {} ({})", p.pid, w->labels.service));
      watched.emplace(key, std::move(w));
    }
    // Gone: their series go with them.
    for (auto it = watched.begin(); it != watched.end();) {
      if (present.count(it->first)) { ++it; continue; }
      if (o.verbose) note(fmt::format("pid {} ended", it->first.first));
      ++stats.exited;
      it = watched.erase(it);
    }
    for (auto it = ignored.begin(); it != ignored.end();) it = present.count(it->first) ? std::next(it) : ignored.erase(it);
    // Keep the cache of executables bounded: a host does not have more than this many.
    if (exe_has_runtime.size() > 65536) exe_has_runtime.clear();
    render();
    schedule();
  };

  std::function<void()> discover_loop = [&] {
    discover();
    discover_timer.expires_after(std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(o.discover_s)));
    discover_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) discover_loop();
    });
  };

  schedule = [&] {
    if (busy || watched.empty()) return;
    auto next = watched.begin();
    for (auto it = watched.begin(); it != watched.end(); ++it)
      if (it->second->due < next->second->due) next = it;
    if (next->second->due > clock::now()) {
      census_timer.expires_at(next->second->due);
      census_timer.async_wait([&](const boost::system::error_code& ec) {
        if (!ec) schedule();
      });
      return;
    }
    busy = true;
    const Key key = next->first;
    std::shared_ptr<Watched> w = next->second;
    asio::post(worker, [&, key, w] {
      const double cpu0 = thread_cpu();
      auto result = std::make_shared<FollowedCensus>();
      if (!w->sampler) {
        TargetOptions t;
        t.pid = key.first;
        t.cache_mib = o.cache_mib;
        t.census_timeout_s = o.census_timeout_s;
        t.no_bytes = o.no_bytes;
        auto s = FollowingSampler::attach(t);
        if (s.ok()) w->sampler = std::move(*s);
        else result->census = s.take_error();
      }
      if (w->sampler) *result = w->sampler->sample();
      const double cpu = thread_cpu() - cpu0;
      asio::post(io, [&, key, w, result, cpu] {
        busy = false;
        if (watched.count(key) == 0 || watched.at(key) != w) return schedule();  // ended meanwhile
        w->cpu_seconds += cpu;
        w->cpu_per_census = w->censuses + w->failures == 0 ? cpu : 0.7 * w->cpu_per_census + 0.3 * cpu;
        Result<Census>& r = result->census;
        if (result->attached) w->labels = read_process_labels(key.first, w->proc.comm);  // it exec'd: a new command line
        if (w->pending) {
          if (r.ok() && r->timestamp - r->duration_ms / 1000 < w->pending_since) {
            w->due = clock::now();  // this census began before the crossing: a fresh one next
          } else {
            nlohmann::json j = {{"event", "trigger"}, {"pid", key.first}, {"reason", *w->pending}, {"rss_bytes", w->pending_rss},
                                {"limit_bytes", w->pending_limit ? nlohmann::json(*w->pending_limit) : nlohmann::json(nullptr)},
                                {"crossed_at", w->pending_since}, {"timestamp", unix_now()}};
            if (r.ok()) {
              auto path = write_triggered(o.trigger.dir, *r, RenderOptions{o.names, 0}, j);
              note(fmt::format("pid {}: {}: {}", key.first, *w->pending, path.ok() ? "census written to " + *path : path.error().message));
              if (path.ok()) ++w->triggered;
            } else {
              note(fmt::format("pid {}: {}: no census: {}", key.first, *w->pending, r.error().message));
            }
            w->trigger->fired(now_s());
            w->pending.reset();
          }
        }
        if (r.ok()) {
          ++w->censuses;
          if (trusted_census(*r)) w->counted = *r;
          else ++w->skipped;
          w->latest = std::move(*r);
          w->failure_log.succeeded();
        } else {
          const Errc code = r.error().code;
          if (code == Errc::target_exited || code == Errc::no_such_process) {
            ++stats.exited;
            watched.erase(key);
            render();
            return schedule();
          }
          if (!w->sampler && (code == Errc::not_python || code == Errc::unsupported_version)) {
            // Python-like names, but no interpreter objspy can read: not watched.
            if (o.verbose) note(fmt::format("pid {}: {}", key.first, r.error().message));
            ignored.emplace(key, exe_of(key.first));
            watched.erase(key);
            render();
            return schedule();
          }
          ++w->failures;
          if (auto line = w->failure_log.failed(user_facing(r.error()).message)) note(fmt::format("pid {}: census failed: {}", key.first, *line));
        }
        // Each process keeps within its share of the budget: a costly (or hostile) one waits
        // longer, the others keep their interval.
        const double share = o.cpu_budget / static_cast<double>(std::max<std::size_t>(watched.size(), 1));
        w->interval_s = std::max(o.interval_s, w->cpu_per_census / share);
        if (!w->pending) w->due = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(w->interval_s));
        render();
        schedule();
      });
    });
  };

  // The memory poll of the triggers: statm of every watched process (and its cgroup's limit
  // when a share is asked for) on the io thread; a crossing puts its process first in line.
  asio::steady_timer poll_timer(io);
  std::function<void()> poll = [&] {
    poll_timer.expires_after(std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(o.trigger.poll_s)));
    poll_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      bool fired = false;
      for (auto& [key, w] : watched) {
        if (!w->trigger || w->pending) continue;
        auto rss = read_rss_bytes(key.first);
        if (!rss.ok()) continue;
        MemoryReading reading{now_s(), *rss, std::nullopt};
        if (o.trigger.limit_share)
          if (auto cg = read_cgroup_memory(key.first); cg.ok()) reading.limit = cg->limit;
        if (auto why = w->trigger->observe(reading)) {
          w->pending = *why;
          w->pending_since = unix_now();
          w->pending_rss = reading.rss;
          w->pending_limit = reading.limit;
          w->due = clock::now() - std::chrono::hours(1);  // ahead of every planned census
          note(fmt::format("pid {} ({}): {}: taking a census now", key.first, w->labels.service, *why));
          fired = true;
        }
      }
      if (fired) schedule();
      poll();
    });
  };
  if (o.trigger.any()) {
    struct stat st {};
    if (o.trigger.dir.empty()) return make_error(Errc::usage, "a --trigger-* threshold needs --trigger-dir DIR: where its censuses are written");
    if (::stat(o.trigger.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return make_error(Errc::io, fmt::format("--trigger-dir {}: not a directory", o.trigger.dir));
    poll();
  }

  ServerLimits limits;
  if (auto lowered = fit_open_file_limit(limits); !lowered.empty()) note(lowered);
  MetricsServer::Log log;
  if (o.verbose) log = [](const std::string& line) { note(line); };
  // /pprof: the newest trusted census of every process as one pprof profile (each sample
  // labelled pid), or of one with ?pid=N; gzip'd, as Go's net/http/pprof serves profiles.
  http::Extra pprof = [&](std::string_view path, std::string_view query) -> std::optional<http::Document> {
    if (path != "/pprof") return std::nullopt;
    pid_t only = 0;
    if (query.rfind("pid=", 0) == 0) {
      const std::string_view v = query.substr(4, query.find('&') == std::string_view::npos ? std::string_view::npos : query.find('&') - 4);
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), only);
      if (ec != std::errc() || end != v.data() + v.size() || only <= 0) return http::Document{"text/plain; charset=utf-8", "pid= takes a PID\n", 400};
    }
    std::vector<const Census*> cs;
    for (const auto& [key, w] : watched)
      if (w->counted && (!only || key.first == only)) cs.push_back(&*w->counted);
    if (cs.empty()) return http::Document{"text/plain; charset=utf-8", only ? "no census of that process\n" : "no census yet\n", 404};
    auto profile = render_pprof(cs, o.names);
    if (!profile.ok()) return http::Document{"text/plain; charset=utf-8", profile.error().message + "\n", 500};
    return http::Document{"application/octet-stream", std::move(*profile), 200};
  };
  OBJSPY_ASSIGN(server, MetricsServer::listen(io, endpoint, [&] { return metrics; }, log, limits, pprof));
  discover_loop();
  {
    auto at = server->local_endpoint();
    const auto host = at.address().is_v6() ? "[" + at.address().to_string() + "]" : at.address().to_string();
    note(fmt::format("{} serving metrics at http://{}:{}/metrics: {} Python process{} found{}, a census of each every {:g} s within {:g}% of a core",
                     o.what, host, at.port(), watched.size(), watched.size() == 1 ? "" : "es",
                     o.root ? fmt::format(" in the tree of pid {}", o.root) : std::string(), o.interval_s, o.cpu_budget * 100));
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    discover_timer.cancel();
    census_timer.cancel();
    poll_timer.cancel();
    server->close();
    io.stop();
  });
  io.run();
  worker.join();
  note(o.what + " stopped");
  return {};
}

}  // namespace objspy::cli
