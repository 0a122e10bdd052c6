#include "objspy/cli/tree_sampler.hpp"

#include <fmt/format.h>

#include "objspy/process/process_tree.hpp"

namespace objspy::cli {

Result<std::unique_ptr<TreeSampler>> TreeSampler::attach(const TargetOptions& t) {
  std::unique_ptr<TreeSampler> s(new TreeSampler(t));
  // The root must be there; that it is Python is not required (a shell may start the pool).
  auto tree = process_tree(list_processes(), t.pid);
  if (tree.empty() || tree.front().pid != t.pid) return make_error(Errc::no_such_process, fmt::format("no process with PID {}", t.pid));
  return s;
}

FollowedCensus TreeSampler::sample() {
  FollowedCensus out;
  auto tree = process_tree(list_processes(), opts_.pid);
  if (tree.empty() || tree.front().pid != opts_.pid) {
    out.census = make_error(Errc::target_exited, fmt::format("process {} exited", opts_.pid));
    return out;
  }
  if (tree.size() > kMaxTreeProcesses) {
    out.skipped.push_back(fmt::format("{} more processes of the tree (only the first {} are read)", tree.size() - kMaxTreeProcesses, kMaxTreeProcesses));
    tree.resize(kMaxTreeProcesses);
  }
  std::set<Key> present;
  std::optional<Error> root_error;
  for (const ProcessEntry& p : tree) {
    const Key key{p.pid, p.start_time};
    present.insert(key);
    if (not_python_.count(key)) continue;
    auto it = members_.find(key);
    if (it == members_.end()) {
      TargetOptions t = opts_;
      t.pid = p.pid;
      auto f = FollowingSampler::attach(t);
      if (!f.ok()) {
        Error e = user_facing(f.take_error());
        if (e.code == Errc::not_python || e.code == Errc::unsupported_version) not_python_.insert(key);
        else out.skipped.push_back(fmt::format("pid {} ({}): {}", p.pid, p.comm, e.message));
        if (p.pid == opts_.pid) root_error = e;
        continue;
      }
      it = members_.emplace(key, std::move(*f)).first;
    }
    FollowedCensus c = it->second->sample();
    if (c.attached) ++reattaches_;
    if (!c.census.ok()) {
      Error e = user_facing(c.census.take_error());
      if (p.pid == opts_.pid) root_error = e;
      out.skipped.push_back(fmt::format("pid {} ({}): {}", p.pid, p.comm, e.message));
      if (e.code == Errc::target_exited) members_.erase(it);
      continue;
    }
    out.members.push_back(std::move(*c.census));
  }
  for (auto it = members_.begin(); it != members_.end();) it = present.count(it->first) ? std::next(it) : members_.erase(it);
  for (auto it = not_python_.begin(); it != not_python_.end();) it = present.count(*it) ? std::next(it) : not_python_.erase(it);
  if (out.members.empty()) {
    out.census = root_error ? *root_error
                            : make_error(Errc::not_python, fmt::format("no process of the tree of PID {} is a Python process objspy can read", opts_.pid));
    return out;
  }
  std::vector<const Census*> parts;
  for (const Census& c : out.members) parts.push_back(&c);
  Census sum = sum_censuses(parts);
  sum.pid = opts_.pid;
  sum.python_binary = out.members.front().python_binary;
  sum.layout_source = "sum of " + std::to_string(out.members.size()) + " processes";
  // The sum is trusted only as its parts are: its walk figures are theirs added up.
  for (const Census& c : out.members) {
    sum.walk.broken_links += c.walk.broken_links;
    sum.walk.recovered += c.walk.recovered;
    for (const auto& w : c.walk.warnings) sum.walk.warnings.push_back(fmt::format("pid {}: {}", c.pid, w));
    for (const auto& l : c.walk.limits) sum.walk.limits.push_back(fmt::format("pid {}: {}", c.pid, l));
  }
  sum.walk.method = out.members.front().walk.method;
  out.census = std::move(sum);
  return out;
}

}  // namespace objspy::cli
