// What dump's one-process and process-tree forms share (dump_command.cpp, dump_tree.cpp).
#pragma once
#include <sys/types.h>

#include <string>

#include "objspy/census/census.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/core/result.hpp"

namespace objspy::cli {

// "objspy: ..." on stderr, escaped.
void note(const std::string& s);
// Err usage: a binary format headed for a terminal.
Status check_output(const DumpOptions& o);
// `data` to --output (opened as a careful daemon opens it) or stdout. Err: io.
Status write_output(const DumpOptions& o, const std::string& data);
// Err incomplete when the census is not trusted (series.hpp), with the reason; else ok.
Status incomplete_error(const Census& c, pid_t pid);
// One census rendered as dump's options say (with --growth: against the state of `pid`
// started at `start_time`), its summary on stderr; Err incomplete as incomplete_error.
Status emit_census(const Census& c, const DumpOptions& o, pid_t pid, std::uint64_t start_time);
// dump --subprocesses: `root` and its descendants, a census each, then their sum.
Status dump_tree(pid_t root, const DumpOptions& o);

}  // namespace objspy::cli
