// Man pages and shell completions, generated from the command line itself (the CLI11 App that
// main builds) by the hidden `objspy _docs DIR` at build time, so that they cannot drift from
// what objspy accepts. The App is first read into a plain model (what each command and option
// is, and what kind of value it takes); the renderers work from the model only.
#pragma once
#include <string>
#include <vector>

#include "objspy/core/result.hpp"

namespace CLI {
class App;
}

namespace objspy::cli::docs {

// What an option's value is, for completion and for the man page's placeholder.
enum class ValueKind {
  none,      // a flag
  number,    // INT, UINT, FLOAT: nothing to complete
  duration,  // a number with a unit (30s, 5m)
  choice,    // one of `choices`
  pid,       // a process ID: complete running processes
  file,      // a path
  text,      // free text (complete its default, if any)
  command,   // the rest of the line is a command to run (dump's launch mode)
};

struct OptionDoc {
  std::vector<std::string> shorts;  // "p" for -p
  std::vector<std::string> longs;   // "pid" for --pid
  std::string name;                 // a positional's name ("before")
  std::string description;
  ValueKind kind = ValueKind::none;
  std::string metavar;               // PID, LIMIT, ... (empty for flags and choices)
  std::vector<std::string> choices;  // ValueKind::choice
  std::string default_value;         // shown as the user would write it; empty: none
  std::string range;                 // "1 to 60000" for a checked range
  bool required = false;
  bool repeatable = false;             // a positional that takes the rest of the line
  std::vector<std::string> excludes;  // "--duration"
};

struct CommandDoc {
  std::string name;  // "dump"
  std::string description;
  std::string footer;
  std::vector<OptionDoc> options;      // in the order --help lists them
  std::vector<OptionDoc> positionals;  // likewise
};

struct ProgramDoc {
  std::string name;  // "objspy"
  std::string version;
  std::string description;
  std::vector<OptionDoc> options;  // --help, --version
  std::vector<CommandDoc> commands;  // visible ones, in --help order
};

// The model of `app` and its visible subcommands (hidden ones, in group "", are left out).
ProgramDoc describe(const CLI::App& app, std::string version);

// The value set a CLI11 type name shows ("TEXT:{table,json,ndjson}", "ENUM:value in
// {scan->0,walk->1} OR {0,1}"): the words a user types, in order; empty when there is none.
std::vector<std::string> choices_from_type_name(const std::string& type_name);

struct File {
  std::string path;  // relative to the output directory
  std::string text;
};

// objspy.1 and objspy-COMMAND.1 (roff, man macros). Err: internal when a hand-written example
// uses an option the command does not have (the build fails rather than ship a wrong page).
Result<std::vector<File>> man_pages(const ProgramDoc& doc);

std::string bash_completion(const ProgramDoc& doc);
std::string zsh_completion(const ProgramDoc& doc);
std::string fish_completion(const ProgramDoc& doc);

// Writes man/*.1, completions/objspy.bash, completions/_objspy and completions/objspy.fish
// under `dir` (created if missing). Err: io, internal (see man_pages).
Status write_docs(const ProgramDoc& doc, const std::string& dir);

}  // namespace objspy::cli::docs
