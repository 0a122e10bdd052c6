// The previous census for `dump --growth`, kept between separate runs (cron). Keyed by PID
// and process start time, so a reused PID does not compare two different processes.
// Reads and writes happen under an exclusive lock; the file is replaced atomically.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>

#include "objspy/census/series.hpp"
#include "objspy/core/result.hpp"

namespace objspy::cli {

// $XDG_CACHE_HOME/objspy (or ~/.cache/objspy) / state-PID-STARTTIME-FORM.json
std::string default_state_path(pid_t pid, std::uint64_t start_time, NameForm form);

class StateFile {
 public:
  // Creates the directory if needed and takes the lock (blocking). Err: io.
  static Result<StateFile> open(const std::string& path);
  StateFile(StateFile&& o) noexcept : path_(std::move(o.path_)), lock_fd_(o.lock_fd_) { o.lock_fd_ = -1; }
  StateFile& operator=(StateFile&&) = delete;
  ~StateFile();
  // The saved census, if any. A corrupt file is an error, not silently replaced.
  Result<std::optional<Snapshot>> load();
  // Write to a temporary file in the same directory, fsync, rename over the old one.
  Status save(const std::string& census_json);
  const std::string& path() const { return path_; }

 private:
  StateFile(std::string path, int fd) : path_(std::move(path)), lock_fd_(fd) {}
  std::string path_;
  int lock_fd_ = -1;
};

}  // namespace objspy::cli
