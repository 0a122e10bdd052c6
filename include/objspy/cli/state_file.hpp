// The previous census for `dump --growth`, kept between separate runs (cron). Keyed by PID
// and process start time, so a reused PID does not compare two different processes.
// Reads and writes happen under an exclusive lock; the file is replaced atomically. objspy
// often runs as root: the directory must be private (safe_file.hpp), and the state, its lock
// and its temporary file are never opened through a link or as anything but a regular file.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>

#include "objspy/census/series.hpp"
#include "objspy/cli/safe_file.hpp"
#include "objspy/core/result.hpp"

namespace objspy::cli {

// Where --growth keeps its state by default, the systemd and XDG conventions in order:
// $STATE_DIRECTORY (systemd's StateDirectory=, the first of a colon-separated list),
// $XDG_STATE_HOME/objspy, $HOME/.local/state/objspy, and /var/lib/objspy for root (euid 0).
// Relative paths in these variables are ignored, as the XDG spec says. Never a shared
// directory such as /tmp: with none of these, an io error asks for --state.
Result<std::string> default_state_dir(uid_t euid);
// default_state_dir / state-PID-STARTTIME-FORM.json
Result<std::string> default_state_path(pid_t pid, std::uint64_t start_time, NameForm form);

class StateFile {
 public:
  // Checks the directory (creating it 0700 if needed) and takes the lock (blocking). A state
  // that exists and is not a regular file is refused before any lock file is made. Err: io.
  static Result<StateFile> open(const std::string& path);
  // The saved census, if any: a regular file of at most kMaxStateBytes, not a link. A
  // corrupt file is an error, not silently replaced.
  Result<std::optional<Snapshot>> load();
  // Write to NAME.tmp in the same directory (created O_EXCL; a regular file left there by a
  // run that died is removed first, anything else is refused), fsync, rename over the old one.
  Status save(const std::string& census_json);
  const std::string& path() const { return path_; }

 private:
  StateFile(std::string path, Fd dir, std::string name, Fd lock)
      : path_(std::move(path)), dir_(std::move(dir)), name_(std::move(name)), lock_(std::move(lock)) {}
  std::string path_;  // as given, for messages
  Fd dir_;            // the checked directory (O_PATH)
  std::string name_;  // the state's name in it
  Fd lock_;           // holds the lock while open
};

}  // namespace objspy::cli
