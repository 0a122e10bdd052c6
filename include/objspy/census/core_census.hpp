// Censuses of a core file (the kernel's, gcore's or an objspy snapshot): the same census as of
// a live process, read from the memory the core holds, with the target necessarily still.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "objspy/census/census.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/process/core_file.hpp"
#include "objspy/python/locate.hpp"

namespace objspy {

class CoreSampler {
 public:
  // Err: io, bad_core, not_python, unsupported_version, corrupt_target.
  static Result<std::unique_ptr<CoreSampler>> open(const std::string& path, SampleOptions opts = {});
  Result<Census> sample();
  const CoreFile& core() const { return *core_; }
  const PythonTarget& target() const { return target_; }
  MemoryReader& memory() { return *mem_; }
  // What --verbose prints: how the interpreter was found, the mapped files that could not be used.
  std::vector<std::string> notes() const;

 private:
  CoreSampler() = default;
  std::unique_ptr<CoreFile> core_;
  std::unique_ptr<CoreReader> mem_;
  PythonTarget target_;
  SampleOptions opts_;
  std::vector<std::string> notes_;
};

}  // namespace objspy
