// /proc/PID/maps parsed into a sorted memory map.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "objspy/core/remote_addr.hpp"
#include "objspy/core/result.hpp"

namespace objspy {

struct Mapping {
  std::uint64_t start = 0;
  std::uint64_t end = 0;  // exclusive
  bool readable = false;
  bool writable = false;
  bool executable = false;
  std::uint64_t offset = 0;
  std::uint64_t inode = 0;
  std::string path;  // as the kernel prints it, relative to the reader's root; may be empty or "[heap]"
  bool deleted = false;  // the kernel appended " (deleted)"
  bool shared = false;   // 's' in the permissions: MAP_SHARED
  // The device of the file ("fe:01"), last so that positional initialisers stay valid.
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  bool contains(std::uint64_t a) const { return a >= start && a < end; }
  // Private memory that can hold Python objects: anonymous (pymalloc arenas, malloc's mmap
  // chunks and thread heaps), the brk heap, or named anonymous memory.
  bool anonymous_private() const {
    return readable && writable && !shared && (path.empty() || path == "[heap]" || path.starts_with("[anon:"));
  }
  bool file_backed() const { return inode != 0 && !path.empty() && path[0] == '/'; }
};

class MemoryMap {
 public:
  MemoryMap() = default;
  explicit MemoryMap(std::vector<Mapping> maps);
  // Parse the text of /proc/PID/maps. Malformed lines are an error, not skipped silently.
  static Result<MemoryMap> parse(std::string_view text);

  const std::vector<Mapping>& mappings() const { return maps_; }
  // The readable mapping that holds [addr, addr+len), or nullptr.
  const Mapping* find(RemoteAddr addr, std::uint64_t len = 1) const;
  bool readable(RemoteAddr addr, std::uint64_t len) const { return find(addr, len) != nullptr; }
  // Sum of the sizes of readable, writable mappings: bounds how many objects can exist.
  std::uint64_t writable_bytes() const;

 private:
  std::vector<Mapping> maps_;
  mutable std::size_t last_ = 0;  // the walk asks about the same mapping again and again
};

}  // namespace objspy
