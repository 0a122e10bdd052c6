// The man pages and completions generator: what it reads from a CLI11 App (kinds of values,
// choices, defaults, ranges, hidden commands), and what the renderers make of it. The pages
// and scripts generated from objspy's own App are checked where they are used, by
// tools/check_deb.sh (man, bash, fish and zsh in a clean Debian).
#include <doctest/doctest.h>

#include <map>

#include <CLI/CLI.hpp>

#include "objspy/cli/docs.hpp"

using namespace objspy::cli::docs;

namespace {

// An App with each kind of option objspy's main uses.
struct Fixture {
  CLI::App app{"tool: does things"};
  int pid = 0, timeout = 200, method = 0;
  double interval = 30, duration = 0;
  unsigned limit = 10;
  bool flag = false, pause = false, qualified = false;
  double delay = 2;
  std::string format = "table", listen = "127.0.0.1:9464", state, before, hidden_dir;
  std::vector<std::string> command;
  Fixture() {
    app.set_version_flag("--version", "tool 1");
    auto* d = app.add_subcommand("dump", "Print a census");
    d->add_option("-p,--pid", pid, "PID of a process")->check(CLI::PositiveNumber)->required();
    d->add_option("--pause-timeout", timeout, "Milliseconds")->check(CLI::Range(1, 60000))->capture_default_str();
    d->add_option("--method", method, "How")
        ->transform(CLI::CheckedTransformer(std::map<std::string, int>{{"scan", 0}, {"walk", 1}}))
        ->capture_default_str();
    d->add_option("--format", format, "Output format")->check(CLI::IsMember({"table", "json", "ndjson"}))->capture_default_str();
    d->add_option("-l,--limit", limit, "Rows")->capture_default_str();
    d->add_flag("--growth", flag, "What grew");
    d->add_flag("--pause", pause, "Hold the threads");
    d->add_flag("--qualified", qualified, "module.name");
    d->add_option("--delay", delay, "Seconds")->capture_default_str();
    d->add_option("--state", state, "State file");
    d->add_option("--listen", listen, "Address")->capture_default_str();
    const std::map<std::string, double> units{{"s", 1}, {"m", 60}};
    auto* dur = d->add_option("-d,--duration", duration, "How long")->transform(CLI::AsNumberWithUnit(units));
    d->add_option("-i,--interval", interval, "Between")
        ->transform(CLI::AsNumberWithUnit(units))
        ->check(CLI::Range(0.0, 86400.0))
        ->capture_default_str()
        ->excludes(dur);
    d->add_option("command", command, "Program to launch, after --")->expected(-1);
    d->positionals_at_end();
    auto* df = app.add_subcommand("diff", "Compare two files");
    df->add_option("before", before, "Earlier")->required()->check(CLI::ExistingFile);
    auto* h = app.add_subcommand("_docs", "hidden")->group("");
    h->add_option("dir", hidden_dir);
  }
};

const OptionDoc& option(const CommandDoc& c, const std::string& long_name) {
  for (const auto& o : c.options)
    if (!o.longs.empty() && o.longs.front() == long_name) return o;
  FAIL("no option --" << long_name);
  static OptionDoc none;
  return none;
}

}  // namespace

TEST_CASE("docs: the model reads each kind of option, and leaves hidden commands out") {
  Fixture f;
  const ProgramDoc doc = describe(f.app, "1.2.3");
  CHECK(doc.name == "objspy");
  CHECK(doc.version == "1.2.3");
  REQUIRE(doc.commands.size() == 2);  // not _docs
  CHECK(doc.commands[0].name == "dump");
  CHECK(doc.commands[1].name == "diff");
  const CommandDoc& d = doc.commands[0];

  const auto& pid = option(d, "pid");
  CHECK(pid.kind == ValueKind::pid);
  CHECK(pid.shorts == std::vector<std::string>{"p"});
  CHECK(pid.metavar == "PID");
  CHECK(pid.required);

  const auto& timeout = option(d, "pause-timeout");
  CHECK(timeout.kind == ValueKind::number);
  CHECK(timeout.metavar == "PAUSE_TIMEOUT");
  CHECK(timeout.range == "1 to 60000");
  CHECK(timeout.default_value == "200");

  const auto& method = option(d, "method");
  CHECK(method.kind == ValueKind::choice);
  CHECK(method.choices == std::vector<std::string>{"scan", "walk"});
  CHECK(method.default_value == "scan");  // the word, not the mapped 0

  const auto& format = option(d, "format");
  CHECK(format.kind == ValueKind::choice);
  CHECK(format.choices == std::vector<std::string>{"table", "json", "ndjson"});
  CHECK(format.default_value == "table");

  CHECK(option(d, "limit").kind == ValueKind::number);
  CHECK(option(d, "growth").kind == ValueKind::none);
  CHECK(option(d, "state").kind == ValueKind::file);
  CHECK(option(d, "listen").kind == ValueKind::text);
  CHECK(option(d, "listen").default_value == "127.0.0.1:9464");
  CHECK(option(d, "interval").kind == ValueKind::duration);
  CHECK(option(d, "interval").default_value == "30s");
  CHECK(option(d, "interval").range == "0s to 86400s");
  CHECK(option(d, "interval").excludes == std::vector<std::string>{"--duration"});
  CHECK(option(d, "duration").excludes == std::vector<std::string>{"--interval"});

  REQUIRE(d.positionals.size() == 1);
  CHECK(d.positionals[0].name == "command");
  CHECK(d.positionals[0].kind == ValueKind::command);
  CHECK(d.positionals[0].repeatable);

  const CommandDoc& diff = doc.commands[1];
  REQUIRE(diff.positionals.size() == 1);
  CHECK(diff.positionals[0].kind == ValueKind::file);
  CHECK(diff.positionals[0].required);
}

TEST_CASE("docs: choices from CLI11 type names") {
  CHECK(choices_from_type_name("TEXT:{table,json,ndjson}") == std::vector<std::string>{"table", "json", "ndjson"});
  CHECK(choices_from_type_name("ENUM:value in {scan->0,walk->1} OR {0,1}") == std::vector<std::string>{"scan", "walk"});
  CHECK(choices_from_type_name("INT:INT in [1 - 60000]").empty());
  CHECK(choices_from_type_name("TEXT").empty());
}

TEST_CASE("docs: man pages, one per command, in roff that cannot be misread") {
  Fixture f;
  ProgramDoc doc = describe(f.app, "1.2.3");
  // Text from the definitions that roff would take as markup.
  doc.commands[1].description = ".starts with a dot, has a \\ backslash";
  auto pages = man_pages(doc);
  REQUIRE(pages.ok());
  REQUIRE(pages.value().size() == 3);
  CHECK(pages.value()[0].path == "man/objspy.1");
  CHECK(pages.value()[1].path == "man/objspy-dump.1");
  CHECK(pages.value()[2].path == "man/objspy-diff.1");
  const std::string& top = pages.value()[0].text;
  CHECK(top.find(".TH \"OBJSPY\" \"1\"") != std::string::npos);
  CHECK(top.find("\\fBobjspy\\-dump\\fR(1)") != std::string::npos);
  CHECK(top.find("objspy\\-_docs") == std::string::npos);
  const std::string& dump = pages.value()[1].text;
  CHECK(dump.find("objspy\\-dump \\- Print a census\n") != std::string::npos);
  CHECK(dump.find("\\fB\\-\\-format\\fR \\fBtable\\fR|\\fBjson\\fR|\\fBndjson\\fR") != std::string::npos);
  CHECK(dump.find("(default 200; 1 to 60000)") != std::string::npos);
  CHECK(dump.find("(default 30s; 0s to 86400s; not with \\-\\-duration)") != std::string::npos);
  CHECK(dump.find("(required)") != std::string::npos);
  CHECK(dump.find(".SH EXIT STATUS") != std::string::npos);
  CHECK(dump.find(".B 13\n") != std::string::npos);  // pause timeout
  CHECK(dump.find(".B 11\n") == std::string::npos);  // bad_address never reaches the user
  const std::string& diff = pages.value()[2].text;
  CHECK(diff.find("\n\\&\\&.starts with a dot, has a \\e backslash.\n") == std::string::npos);
  CHECK(diff.find("\n\\&.starts with a dot, has a \\e backslash.\n") != std::string::npos);
}

TEST_CASE("docs: a hand-written example with an option the command lacks fails the build") {
  Fixture f;
  ProgramDoc doc = describe(f.app, "1");
  auto& opts = doc.commands[0].options;
  opts.erase(std::remove_if(opts.begin(), opts.end(), [](const OptionDoc& o) { return !o.longs.empty() && o.longs.front() == "growth"; }),
             opts.end());
  auto pages = man_pages(doc);
  REQUIRE_FALSE(pages.ok());
  CHECK(pages.error().code == objspy::Errc::internal);
  CHECK(pages.error().message.find("--growth") != std::string::npos);
}

TEST_CASE("docs: completions name every command, option and choice") {
  Fixture f;
  const ProgramDoc doc = describe(f.app, "1");
  const std::string bash = bash_completion(doc);
  CHECK(bash.find("dump|diff) cmd=") != std::string::npos);
  CHECK(bash.find("compgen -W 'dump diff'") != std::string::npos);
  CHECK(bash.find("--format) COMPREPLY=($(compgen -W 'table json ndjson'") != std::string::npos);
  CHECK(bash.find("-p|--pid) COMPREPLY=($(compgen -W \"$(_objspy_pids)\"") != std::string::npos);
  CHECK(bash.find("--state) _objspy_files") != std::string::npos);
  CHECK(bash.find("complete -F _objspy objspy") != std::string::npos);
  CHECK(bash.find("|_docs") == std::string::npos);

  const std::string zsh = zsh_completion(doc);
  CHECK(zsh.rfind("#compdef objspy\n", 0) == 0);
  CHECK(zsh.find("'(-p --pid)'{-p+,--pid=}'[PID of a process]:PID:_pids'") != std::string::npos);
  CHECK(zsh.find("--format=[Output format]:format:(table json ndjson)") != std::string::npos);
  CHECK(zsh.find("'*::command:_normal'") != std::string::npos);

  const std::string fish = fish_completion(doc);
  CHECK(fish.find("complete -c objspy -n __fish_use_subcommand -a dump -d 'Print a census'") != std::string::npos);
  CHECK(fish.find("-l format -x -a 'table json ndjson'") != std::string::npos);
  CHECK(fish.find("-a _docs") == std::string::npos);
}

TEST_CASE("docs: quotes in descriptions stay inside their shell strings") {
  Fixture f;
  ProgramDoc doc = describe(f.app, "1");
  doc.commands[0].options[1].description = "the target's ] [threads] \\ end";
  const std::string zsh = zsh_completion(doc);
  CHECK(zsh.find("[the target'\\''s \\] \\[threads\\] \\\\ end]") != std::string::npos);
  const std::string fish = fish_completion(doc);
  CHECK(fish.find("-d 'the target\\'s ] [threads] \\\\ end'") != std::string::npos);
}
