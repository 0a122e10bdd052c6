// serve: a Prometheus exporter. Censuses run on the interval on a worker thread; each one is
// rendered once, and scrapes are answered from that text on the io thread, so a scrape never
// waits for a census. The HTTP server (http_server.hpp) bounds what clients can hold.
#include <csignal>
#include <cstdio>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include "objspy/census/series.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/cli/following.hpp"
#include "objspy/cli/http_server.hpp"
#include "objspy/cli/periodic.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/output/duration.hpp"
#include "objspy/output/prometheus.hpp"

namespace objspy::cli {
namespace {

void note(const std::string& line) { std::fputs(fmt::format("objspy: {}\n", escape_for_terminal(line)).c_str(), stderr); }

}  // namespace

Status run_serve(const ServeOptions& o) {
  OBJSPY_ASSIGN(auto endpoint, parse_listen_address(o.listen));
  OBJSPY_ASSIGN(auto follower, FollowingSampler::attach(o.target));

  namespace asio = boost::asio;
  asio::io_context io;
  ExporterState state;
  state.top_types = o.top_types;
  state.names = o.names;
  std::optional<Census> latest;   // the newest census, of any quality
  std::optional<Census> counted;  // the newest trusted one: the counts served
  std::string metrics;  // the exposition of the latest state, rendered once per census
  std::unique_ptr<MetricsServer> server;
  std::optional<Error> failure;

  // Room for the server's connection caps among the open files (a soft limit of 1024 is common).
  ServerLimits limits;
  if (auto lowered = fit_open_file_limit(limits); !lowered.empty()) note(lowered);

  auto start_serving = [&]() -> Status {
    MetricsServer::Log log;
    if (o.verbose) log = [](const std::string& line) { note(line); };
    OBJSPY_ASSIGN(server, MetricsServer::listen(io, endpoint, [&] { return metrics; }, log, limits));
    auto at = server->local_endpoint();
    const auto host = at.address().is_v6() ? "[" + at.address().to_string() + "]" : at.address().to_string();
    // The line tools wait for: the port is known (also with port 0) and a census is in.
    note(fmt::format("serving metrics of pid {} at http://{}:{}/metrics, a census every {}", o.target.pid, host, at.port(),
                     human_span(o.interval_s)));
    return {};
  };

  FailureLog failure_log;
  PeriodicCensus periodic(io, *follower, o.interval_s, [&](FollowedCensus t) {
    if (t.attached) {
      state.reattaches = follower->reattaches();
      note(fmt::format("{}; attached to its new image (Python {})", t.attached->reason, t.attached->python_version));
    }
    Result<Census>& r = t.census;
    if (r.ok()) {
      state.up = true;
      ++state.censuses;
      if (!r->walk.complete) ++state.incomplete;
      // A torn census never replaces the counts served: the type series keep the last good
      // census, and coverage and the counters tell how the latest one went.
      if (trusted_census(*r)) counted = *r;
      else ++state.skipped;
      latest = std::move(*r);
      failure_log.succeeded();
    } else {
      // objspy_up 0 and no per-type series until a census of the image running now is in.
      state.up = false;
      ++state.failures;
      latest.reset();
      if (r.error().code == Errc::target_exited) {
        // Keep answering with objspy_up 0, so the target's end shows in Prometheus and can alert.
        note(fmt::format("target {} exited; serving objspy_up 0", o.target.pid));
        periodic.stop();
      } else if (auto line = failure_log.failed(user_facing(r.error()).message); line && server) {
        note("census failed: " + *line);
      }
    }
    metrics = render_prometheus(counted ? &*counted : nullptr, latest ? &*latest : nullptr, state);
    if (!server) {
      if (!state.up) {  // no first census: refuse to start, as dump would
        failure = r.take_error();
        periodic.stop();
        return io.stop();
      }
      if (auto st = start_serving(); !st.ok()) {
        failure = st.error();
        periodic.stop();
        return io.stop();
      }
    }
  });

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    periodic.stop();
    if (server) server->close();
    io.stop();
  });
  periodic.start();
  io.run();
  if (failure) return *failure;
  note("exporter stopped");
  return {};
}

}  // namespace objspy::cli
