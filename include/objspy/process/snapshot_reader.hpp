// A copy of a target's object-holding memory, taken while it is held, read after it runs again.
// --pause copies the mappings that can hold objects (anonymous private memory, the brk heap,
// the writable data of the mapped files) with large sequential reads, releases the target, and
// then takes the census from the copy: the hold lasts only as long as the copy. Reads outside
// the copy (read-only data such as type names) go to the live process, where they cannot have
// changed.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"

namespace objspy {

class SnapshotReader final : public MemoryReader {
 public:
  // A part of a mapping to copy: [start, end), page-aligned.
  struct Range {
    std::uint64_t start, end;
  };
  // The mappings a snapshot copies, and their total size.
  static std::vector<const Mapping*> plan(const MemoryMap& map, std::uint64_t* bytes);
  // The pages of `maps` that process `pid` has (present or swapped out, by /proc/PID/pagemap),
  // in runs, and their total size: pages it never touched hold nothing and are not copied, so a
  // target that maps gigabytes it never uses costs no more than what it uses. Without pagemap:
  // the whole mappings.
  static std::vector<Range> resident(pid_t pid, const std::vector<const Mapping*>& maps, std::uint64_t* bytes);
  // Reserve (and fault in) room for `bytes`: done before the hold, so that the hold is only the copy.
  static Result<SnapshotReader> reserve(MemoryReader& live, std::uint64_t bytes);

  SnapshotReader(SnapshotReader&& o) noexcept;
  SnapshotReader& operator=(SnapshotReader&&) = delete;
  SnapshotReader(const SnapshotReader&) = delete;
  ~SnapshotReader() override;

  // Copy `maps` (from plan()), or only the runs of them resident() found, into the reserved
  // room. False when they do not fit. The rest of `maps` reads as zeros (what the target had
  // there while held); memory outside `maps` (read-only data) is read from the target.
  Result<bool> copy(const std::vector<const Mapping*>& maps);
  Result<bool> copy(const std::vector<const Mapping*>& maps, const std::vector<Range>& ranges);
  std::uint64_t bytes_copied() const { return used_; }
  // What the copy holds: [start, start + size) at data, in address order; and the ranges of the
  // mappings it covers (pages in them that are not copied held zeros).
  struct Piece {
    std::uint64_t start;
    std::span<const std::byte> data;
  };
  std::vector<Piece> pieces() const;
  const std::vector<Range>& planned() const { return planned_; }

  Status read(RemoteAddr addr, std::span<std::byte> out) override;
  const std::byte* peek(RemoteAddr addr, std::size_t len) override;

 private:
  SnapshotReader(MemoryReader& live, std::byte* base, std::size_t size) : live_(live), base_(base), size_(size) {}
  struct Segment {
    std::uint64_t start, end;
    std::byte* data;
  };
  const Segment* find(std::uint64_t a, std::size_t len) const;
  const Range* planned_at(std::uint64_t a) const;
  MemoryReader& live_;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t used_ = 0;
  std::vector<Segment> segs_;   // in address order
  std::vector<Range> planned_;  // the mappings copied (in part), in address order
  mutable std::size_t last_ = 0;
};

}  // namespace objspy
