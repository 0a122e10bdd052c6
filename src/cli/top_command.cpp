// top: a live view of the census, like py-spy top. On a terminal it redraws in place and
// takes single-key commands; otherwise it writes a plain table per sample.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>
#include <map>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include "objspy/census/live.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/cli/periodic.hpp"
#include "objspy/cli/following.hpp"
#include "objspy/cli/tree_sampler.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/cli/terminal.hpp"
#include "objspy/output/top.hpp"

namespace objspy::cli {
namespace {

void write_plain(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  out += "\n";
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
}

// The orders top offers: the key that picks one live and its --sort name.
struct SortChoice {
  char key;
  const char* name;
  LiveSort sort;
};
constexpr SortChoice kSorts[] = {{'g', "growth", LiveSort::growth}, {'d', "recent", LiveSort::recent}, {'c', "count", LiveSort::count},
                                 {'t', "rate", LiveSort::rate},     {'n', "name", LiveSort::name},
                                 {'b', "bytes", LiveSort::bytes}};

std::optional<LiveSort> sort_for_key(char k) {
  for (const auto& c : kSorts)
    if (c.key == k) return c.sort;
  return std::nullopt;
}

}  // namespace

std::map<std::string, LiveSort> sort_names() {
  std::map<std::string, LiveSort> out;
  for (const auto& c : kSorts) out.emplace(c.name, c.sort);
  return out;
}

Status run_top(const TopOptions& o) {
  std::unique_ptr<CensusSource> follower;
  if (o.subprocesses) {
    OBJSPY_ASSIGN(follower, TreeSampler::attach(o.target));
  } else {
    OBJSPY_ASSIGN(follower, FollowingSampler::attach(o.target));
  }

  namespace asio = boost::asio;
  asio::io_context io;
  // A terminal that understands cursor movement gets the live view; TERM=dumb (Emacs shells,
  // some CI consoles) gets the plain tables.
  const char* term = std::getenv("TERM");
  const bool live = is_terminal(STDOUT_FILENO) && term && *term && std::string_view(term) != "dumb";
  const bool keys = live && is_terminal(STDIN_FILENO);
  std::unique_ptr<Screen> screen;
  if (live) screen = std::make_unique<Screen>(keys);

  LiveSeries series(o.render.names, o.max_types);
  std::optional<Census> latest;
  TopView view;
  view.sort = o.sort;
  view.interval_s = o.interval_s;
  view.keys = keys;
  std::optional<Error> failure;
  bool target_gone = false;
  long taken = 0;

  asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  asio::signal_set winch(io, SIGWINCH);
  asio::posix::stream_descriptor in(io);
  char key = 0;

  auto redraw = [&] {
    if (!latest || !screen) return;
    auto [cols, rows] = screen->size();
    view.width = cols;
    view.max_rows = rows > 5 ? rows - 5 : 1;
    screen->draw(render_top(series, *latest, view));
  };
  std::unique_ptr<PeriodicCensus> periodic;
  auto finish = [&] {
    if (periodic) periodic->stop();
    io.stop();
  };
  long failed = 0;
  bool failing = false;  // the status line says why the view is not current
  bool restart_series = false;
  auto clock_time = [] {
    std::time_t now = std::time(nullptr);
    char buf[16];
    std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&now));
    return std::string(buf);
  };
  // Plain tables are written only with a census: failures and re-attaches also go to stderr.
  auto note = [](const std::string& line) { std::fputs(fmt::format("objspy: {}\n", escape_for_terminal(line)).c_str(), stderr); };
  FailureLog failure_log;
  periodic = std::make_unique<PeriodicCensus>(io, *follower, o.interval_s, [&](FollowedCensus t) {
    if (t.attached) {
      // A new image has a new heap: the counts since the start restart with its first census
      // (until then the view shows the last census of the old one, and this line).
      restart_series = true;
      view.status = fmt::format("{} {}; attached to its new image (Python {}), series restarted", clock_time(), t.attached->reason,
                                t.attached->python_version);
      if (!screen) note(view.status);
    }
    Result<Census>& r = t.census;
    if (!r.ok()) {
      if (r.error().code == Errc::target_exited) {
        target_gone = true;
        return finish();
      }
      if (!latest) {  // no first census: end, as dump would
        failure = r.take_error();
        return finish();
      }
      // The view stays up with the last census and says why there is no newer one.
      ++failed;
      failing = true;
      const std::string message = user_facing(r.error()).message;
      view.status = fmt::format("{} census failed ({} so far): {}", clock_time(), failed, message);
      if (auto line = failure_log.failed(message); line && !screen) note("census failed: " + *line);
      return redraw();
    }
    if (failing && !t.attached) view.status.clear();  // a newer census is in
    failing = false;
    failure_log.succeeded();
    if (restart_series) series = LiveSeries(o.render.names, o.max_types);
    restart_series = false;
    series.add(*r);
    latest = std::move(*r);
    ++taken;
    if (screen) {
      redraw();
    } else {
      TopView plain = view;
      plain.max_rows = o.render.limit;
      write_plain(render_top(series, *latest, plain));
    }
    if (o.count && taken >= o.count) finish();
  });

  stop_signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) finish();
  });
  std::function<void()> on_winch = [&] {
    winch.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      redraw();
      on_winch();
    });
  };
  if (screen) on_winch();
  std::function<void()> read_key = [&] {
    in.async_read_some(asio::buffer(&key, 1), [&](const boost::system::error_code& ec, std::size_t n) {
      if (ec || n == 0) return;  // stdin closed: no more keys, the view goes on
      if (key == 'q' || key == 'Q') return finish();
      if (auto s = sort_for_key(key)) view.sort = *s;
      else if (key == 'r') view.reverse = !view.reverse;
      else if (key == ' ') periodic->now();
      redraw();
      read_key();
    });
  };
  if (keys) {
    in.assign(::dup(STDIN_FILENO));
    read_key();
  }

  periodic->start();
  io.run();
  periodic.reset();  // joins a census in flight before the screen goes away
  screen.reset();    // the terminal is restored before anything else is printed
  if (failure) return *failure;
  if (target_gone) {
    // The view vanishes with the alternate screen; leave the last table where it can be read.
    if (live && latest) {
      view.width = 0;
      view.max_rows = o.render.limit;
      view.keys = false;
      write_plain(render_top(series, *latest, view));
    }
    std::fputs(fmt::format("objspy: target {} exited; top ended after {} samples\n", o.target.pid, taken).c_str(), stderr);
  }
  return {};
}

}  // namespace objspy::cli
