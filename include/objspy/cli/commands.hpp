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
};

Status run_dump(const DumpOptions& o);

// Launch mode: start `argv`, wait for its interpreter and `delay`, hand the PID to `with_pid`,
// then end the program. Err: launch_failed (cannot start, exited early, no interpreter).
Status run_launched(const std::vector<std::string>& argv, double delay, double start_timeout, bool verbose,
                    const std::function<Status(pid_t)>& with_pid);

}  // namespace objspy::cli
