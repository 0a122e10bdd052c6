#include "objspy/cli/following.hpp"

#include <fmt/format.h>

#include "objspy/process/live_reader.hpp"
#include "objspy/process/proc.hpp"

namespace objspy::cli {
namespace {

bool gone(Errc c) { return c == Errc::no_such_process || c == Errc::target_exited; }

// A reader per look: a /proc/PID/mem fallback opened before an exec would still read the
// old image.
Result<ImageIdentity> identity_of(pid_t pid) {
  LiveReader mem(pid);
  return read_image_identity(pid, mem);
}

constexpr int kAttachTries = 3;  // an image that keeps changing while objspy attaches

}  // namespace

Result<std::unique_ptr<FollowingSampler>> FollowingSampler::attach(const TargetOptions& t) {
  std::unique_ptr<FollowingSampler> f(new FollowingSampler(t));
  OBJSPY_TRY(f->attach_image());
  return f;
}

Status FollowingSampler::attach_image() {
  const pid_t pid = opts_.pid;
  for (int attempt = 0; attempt < kAttachTries; ++attempt) {
    OBJSPY_ASSIGN(ImageIdentity before, identity_of(pid));
    OBJSPY_ASSIGN(auto sampler, attach_target(opts_));
    OBJSPY_ASSIGN(ImageIdentity after, identity_of(pid));
    switch (compare_images(before, after)) {
      case ImageChange::same:
        sampler_ = std::move(sampler);
        identity_ = after;
        return {};
      case ImageChange::other_process:
        return make_error(Errc::target_exited, fmt::format("process {} exited while objspy attached to it", pid));
      case ImageChange::exec:
        break;  // what was attached may be the old image: attach to the new one
    }
  }
  return make_error(Errc::not_python, fmt::format("process {} exec'd {} times while objspy attached to it", pid, kAttachTries));
}

void FollowingSampler::drop(std::string reason) {
  sampler_.reset();
  lost_reason_ = std::move(reason);
}

std::optional<std::string> FollowingSampler::image_lost() {
  const pid_t pid = opts_.pid;
  auto now = identity_of(pid);
  if (!now.ok()) return std::nullopt;  // the census's own error says enough
  if (compare_images(identity_, *now) == ImageChange::exec) return fmt::format("process {} exec'd a new program", pid);
  // An embedding host can unload libpython (and load another) without an exec.
  auto map = read_memory_map(pid);
  if (!map.ok()) return std::nullopt;
  const PythonImage& image = sampler_->target().image;
  // _PyRuntime may sit in the file's data or in the anonymous .bss after it (3.8, 3.9): what
  // must still be there is memory at that address and a mapping of the file.
  bool file_mapped = false;
  for (const auto& m : map->mappings()) file_mapped = file_mapped || m.path == image.path;
  if (!map->find(image.runtime) || !file_mapped)
    return fmt::format("the mapping of {} that held _PyRuntime in process {} is gone", image.path, pid);
  return std::nullopt;
}

FollowedCensus FollowingSampler::sample() {
  FollowedCensus out;
  const pid_t pid = opts_.pid;
  if (sampler_) {
    auto now = identity_of(pid);
    if (!now.ok()) {
      if (gone(now.error().code)) out.census = make_error(Errc::target_exited, fmt::format("process {} exited", pid));
      else out.census = now.take_error();
      return out;
    }
    switch (compare_images(identity_, *now)) {
      case ImageChange::same: break;
      case ImageChange::other_process:
        out.census = make_error(Errc::target_exited, fmt::format("process {} exited (its PID now belongs to another process)", pid));
        return out;
      case ImageChange::exec:
        drop(fmt::format("process {} exec'd a new program", pid));
        break;
    }
  }
  // Two rounds: an exec found only because the census failed is attached and sampled again.
  for (int round = 0; round < 2; ++round) {
    if (!sampler_) {
      auto st = attach_image();
      if (!st.ok()) {
        Error e = st.take_error();
        if (gone(e.code)) out.census = make_error(Errc::target_exited, fmt::format("process {} exited", pid));
        else out.census = make_error(e.code, fmt::format("{}; attaching to it again: {}", lost_reason_, e.message));
        return out;
      }
      ++reattaches_;
      const PythonTarget& t = sampler_->target();
      out.attached = FollowedCensus::Attached{lost_reason_, t.layout.version.str(), t.image.path};
      lost_reason_.clear();
    }
    out.census = sampler_->sample();
    if (!out.census.ok() && (out.census.error().code == Errc::target_exited || round == 1)) return out;
    // Also after a census that worked: an exec during it may have been read through the old
    // image's layout (a non-PIE interpreter has _PyRuntime at the same address in both). Such
    // a census is dropped and the new image attached and sampled.
    auto lost = image_lost();
    if (!lost) return out;
    if (round == 1) {
      out.census = make_error(Errc::incomplete, fmt::format("{} during the census", *lost));
      return out;
    }
    drop(*lost);
  }
  return out;
}

std::optional<std::string> FailureLog::failed(const std::string& message) {
  if (message != last_) {
    last_ = message;
    run_ = 0;
  }
  ++run_;
  if ((run_ & (run_ - 1)) != 0) return std::nullopt;  // log at 1, 2, 4, 8, ... in a row
  return run_ == 1 ? message : fmt::format("{} ({} times in a row)", message, run_);
}

}  // namespace objspy::cli
