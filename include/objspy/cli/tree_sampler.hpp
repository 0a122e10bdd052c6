// record and top --subprocesses: a worker pool as one target. Each census takes the root and
// its descendants as they are now (workers come and go), one census each (every process
// followed across exec, as FollowingSampler follows one), and sums them (census.hpp:
// sum_censuses). A process that is not Python is remembered and never tried again; one that
// cannot be read this time is left out of this sum and named.
#pragma once
#include <sys/types.h>

#include <map>
#include <memory>
#include <set>
#include <utility>

#include "objspy/cli/following.hpp"

namespace objspy::cli {

class TreeSampler : public CensusSource {
 public:
  // Err: as FollowingSampler::attach when no process of the tree can be read at all.
  static Result<std::unique_ptr<TreeSampler>> attach(const TargetOptions& t);
  FollowedCensus sample() override;
  std::uint64_t reattaches() const override { return reattaches_; }

 private:
  explicit TreeSampler(const TargetOptions& t) : opts_(t) {}
  using Key = std::pair<pid_t, std::uint64_t>;  // PID and start time
  TargetOptions opts_;
  std::map<Key, std::unique_ptr<FollowingSampler>> members_;
  std::set<Key> not_python_;
  std::uint64_t reattaches_ = 0;
};

}  // namespace objspy::cli
