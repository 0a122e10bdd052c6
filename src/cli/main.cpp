// The command line: parse options (CLI11), dispatch, and turn an error into one line on
// stderr and its exit code. Nothing else happens here.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "objspy/cli/commands.hpp"
#include "objspy/core/escape.hpp"

namespace {

int fail(const objspy::Error& e) {
  // Messages may quote text from the target (paths, names): escape them too.
  std::fputs(fmt::format("objspy: error: {}\n", objspy::escape_for_terminal(e.message)).c_str(), stderr);
  return objspy::exit_code(e.code);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace objspy;
  CLI::App app{"objspy: count the objects of a running CPython process from outside, read-only"};
  app.set_version_flag("--version", std::string("objspy ") + OBJSPY_VERSION_STRING);
  app.require_subcommand(1);

  cli::DumpOptions dump;
  std::string format = "table";
  auto* d = app.add_subcommand("dump", "Print the census of a Python process's GC-tracked objects, like objgraph.show_most_common_types()");
  auto* pid_opt = d->add_option("-p,--pid", dump.pid, "PID of a running Python process")->check(CLI::PositiveNumber);
  d->add_option("--format", format, "Output format")->check(CLI::IsMember({"table", "json", "ndjson"}))->capture_default_str();
  auto* limit_opt = d->add_option("-l,--limit", dump.render.limit, "How many types to show (0: all; JSON shows all unless given)")->capture_default_str();

  bool qualified = false;
  d->add_flag("--qualified", qualified, "Name types module.name, like objgraph's shortnames=False");
  d->add_option("--delay", dump.delay, "Launch mode: seconds to let the program build its heap after its interpreter starts")->capture_default_str();
  d->add_option("--cache-mib", dump.cache_mib, "Read cache budget in MiB")->check(CLI::Range(1, 4096))->capture_default_str();
  d->add_option("--retries", dump.retries, "Retries when the lists change under the walk")->check(CLI::Range(0, 10))->capture_default_str();
  d->add_flag("--pause", dump.pause, "Hold the target's threads during the census for an exact snapshot (ptrace; never SIGSTOP)");
  d->add_flag("-v,--verbose", dump.verbose, "Print where the layout came from and what was discovered, to stderr");
  d->add_flag("-q,--quiet", dump.quiet, "No summary line on stderr");
  d->add_option("command", dump.command, "Launch mode: the program to start, after --")->expected(-1);
  d->positionals_at_end();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : exit_code(Errc::usage);
  }

  if (d->parsed()) {
    dump.format = format == "json" ? cli::Format::json : format == "ndjson" ? cli::Format::ndjson : cli::Format::table;
    dump.limit_given = limit_opt->count() > 0;
    dump.render.names = qualified ? NameForm::qualified : NameForm::short_name;
    if ((pid_opt->count() > 0) == !dump.command.empty())
      return fail(make_error(Errc::usage, "dump needs either --pid PID or a program to launch after --"));
    auto st = cli::run_dump(dump);
    if (!st.ok()) return fail(st.error());
  }
  return 0;
}
