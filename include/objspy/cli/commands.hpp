// The commands. Each returns a Status; main() turns an error into one line and an exit code.
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "objspy/core/result.hpp"
#include "objspy/output/render.hpp"

namespace objspy::cli {

enum class Format { table, json, ndjson };

struct DumpOptions {
  pid_t pid = 0;
  std::vector<std::string> command;  // launch mode: the program to start
  double delay = 2.0;                // launch mode: seconds to let the program build its heap
  double start_timeout = 15.0;       // launch mode: seconds to wait for the interpreter
  Format format = Format::table;
  RenderOptions render;
  bool limit_given = false;
  std::size_t cache_mib = 16;
  int retries = 1;
  bool verbose = false;
  bool quiet = false;
  bool pause = false;
  bool growth = false;     // show what grew since the previous census (state file)
  std::string state_path;  // default: default_state_path()
};

Status run_dump(const DumpOptions& o);

struct RecordOptions {
  pid_t pid = 0;
  double interval_s = 30;
  double duration_s = 0;   // 0: until stopped
  long count = 0;          // 0: until stopped
  std::string output;      // "" or "-": stdout
  RenderOptions render{NameForm::short_name, 0};
  bool pause = false;
  std::size_t cache_mib = 16;
};
// One census per tick as NDJSON, flushed per line; ends cleanly on SIGINT/SIGTERM, the
// target's exit (with a final event line), --duration or --count.
Status run_record(const RecordOptions& o);

Status run_diff(const std::string& a, const std::string& b, std::size_t limit);
Status run_suspects(const std::string& file, std::size_t limit, bool json);

// Launch mode: start `argv`, wait for its interpreter and `delay`, hand the PID to `with_pid`,
// then end the program. Err: launch_failed (cannot start, exited early, no interpreter).
Status run_launched(const std::vector<std::string>& argv, double delay, double start_timeout, bool verbose,
                    const std::function<Status(pid_t)>& with_pid);

}  // namespace objspy::cli
