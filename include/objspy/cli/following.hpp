// A target followed across exec: record, top and serve attach once, then take censuses for
// hours. A process that execs in place (same PID, new image: gunicorn and uWSGI reloads) is
// noticed before each census and attached again; a PID that now belongs to another process
// means the target exited.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "objspy/census/sampler.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/process/image_identity.hpp"

namespace objspy::cli {

// What one tick gave: a census or why there is none, and whether a new image was attached
// first.
struct FollowedCensus {
  struct Attached {
    std::string reason;  // why the previous image was let go ("process 12 exec'd a new program")
    std::string python_version;
    std::string python_binary;
  };
  Result<Census> census = make_error(Errc::internal, "no census taken");
  std::optional<Attached> attached;
  // --subprocesses (TreeSampler): `census` is the sum; these are its parts, and the processes
  // of the tree left out this time, each with why.
  std::vector<Census> members;
  std::vector<std::string> skipped;
};

// Where record, top and the periodic census get each census from: one process followed
// across exec, or a process tree summed (tree_sampler.hpp).
class CensusSource {
 public:
  virtual ~CensusSource() = default;
  virtual FollowedCensus sample() = 0;
  virtual std::uint64_t reattaches() const = 0;
};

class FollowingSampler : public CensusSource {
 public:
  // The first attach. Err: as Sampler::attach.
  static Result<std::unique_ptr<FollowingSampler>> attach(const TargetOptions& t);
  FollowingSampler(const FollowingSampler&) = delete;
  FollowingSampler& operator=(const FollowingSampler&) = delete;

  // One census of the image the target runs now, attaching again first if it changed. The
  // census is an error (target_exited when the process is gone or its PID reused; else what
  // kept the census from being taken) or a census. Bounded: at most two attaches per call.
  FollowedCensus sample() override;
  pid_t pid() const { return opts_.pid; }
  std::uint64_t reattaches() const override { return reattaches_; }

 private:
  explicit FollowingSampler(const TargetOptions& t) : opts_(t) {}
  // Attach to the image running now, with the same identity before and after (an exec in the
  // middle is attached again, bounded).
  Status attach_image();
  // After a failed census: the image it read is not the one running (exec during the
  // census), or the mapping that held its _PyRuntime is gone.
  std::optional<std::string> image_lost();
  // Let the attached image go; the next census attaches to the new one.
  void drop(std::string reason);

  TargetOptions opts_;
  std::unique_ptr<Sampler> sampler_;  // null between losing an image and attaching the next
  ImageIdentity identity_;            // of the image sampler_ reads
  std::string lost_reason_;           // why sampler_ is null
  std::uint64_t reattaches_ = 0;
};

// Failures one after another with the same message are logged at 1, 2, 4, 8, ... in a row:
// a target that stays unreadable does not flood stderr; every failure is still counted.
class FailureLog {
 public:
  // The line to log for this failure, or nullopt to stay quiet.
  std::optional<std::string> failed(const std::string& message);
  void succeeded() { run_ = 0; }

 private:
  std::string last_;
  std::uint64_t run_ = 0;
};

}  // namespace objspy::cli
