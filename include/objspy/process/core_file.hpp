// A core file as a target: the ELF core the kernel writes when a process crashes, the one
// gdb's `gcore` writes, or an `objspy snapshot`. Its PT_LOAD segments hold the process's
// memory; NT_FILE names the file mapped at each address; NT_PRPSINFO and NT_PRSTATUS give the
// process and its threads. What a core leaves out (the read-only pages of mapped files: code,
// type names) is read from those files, found on disk or next to the core, and only when the
// file is provably the one that was mapped (its GNU build id equals the one in the core).
//
// Everything in the file is untrusted: counts, sizes and offsets are bounded by the file's
// own size and by fixed limits, and a read outside what the core holds fails alone.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "objspy/core/result.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"

namespace objspy {

struct CoreSegment {
  std::uint64_t vaddr = 0, memsz = 0;  // the mapping: [vaddr, vaddr + memsz)
  std::uint64_t offset = 0, filesz = 0;  // its bytes in the core: the first filesz of memsz
  std::uint32_t flags = 0;               // PF_R, PF_W, PF_X
  int file = -1;                         // index in files() of the file mapped there, or -1
  std::uint64_t file_offset = 0;         // where in that file the mapping starts
};

struct CoreMappedFile {
  std::string path;  // as NT_FILE names it
};

struct CoreProcess {
  pid_t pid = 0;
  std::string command;     // pr_fname
  std::string arguments;   // pr_psargs (at most 80 bytes, as the kernel truncates it)
  std::vector<pid_t> threads;  // from NT_PRSTATUS, in the core's order
};

class CoreFile {
 public:
  // Limits on what a core may claim.
  static constexpr std::size_t kMaxSegments = 1u << 20;
  static constexpr std::size_t kMaxFiles = 1u << 16;
  static constexpr std::size_t kMaxNoteBytes = 64u << 20;

  // Opens and indexes `path`. Err: io (cannot open or read it), bad_core (not an x86-64 ELF
  // core file, or notes and segments that do not fit in it; the message says which).
  static Result<std::unique_ptr<CoreFile>> open(const std::string& path);
  ~CoreFile();
  CoreFile(const CoreFile&) = delete;
  CoreFile& operator=(const CoreFile&) = delete;

  const std::string& path() const { return path_; }
  const CoreProcess& process() const { return process_; }
  const std::vector<CoreSegment>& segments() const { return segs_; }  // by address
  const std::vector<CoreMappedFile>& files() const { return files_; }
  // The memory map the core describes: one mapping per segment, file-backed ones named.
  const MemoryMap& map() const { return map_; }
  // Segments whose bytes the file cuts short (a core written to a full disk): read as absent.
  std::size_t truncated_segments() const { return truncated_; }
  // When the process dumped (the core file's modification time), seconds since the epoch.
  double written_at() const { return written_at_; }

  // Bytes the core itself holds at [addr, addr + out.size()); bad_address where it does not.
  Status read_core(std::uint64_t addr, std::span<std::byte> out) const;

 private:
  CoreFile() = default;
  Status parse_notes(const std::byte* p, std::size_t n, std::uint32_t type, std::vector<std::pair<std::uint64_t, std::uint64_t>>& file_ranges,
                     std::vector<std::uint64_t>& file_offsets, std::vector<std::string>& names);
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  CoreProcess process_;
  std::vector<CoreSegment> segs_;
  std::vector<CoreMappedFile> files_;
  MemoryMap map_;
  std::size_t truncated_ = 0;
  double written_at_ = 0;
};

// The memory of a core file: its own bytes, then the verified mapped files for what it left
// out. The files are looked for at the path NT_FILE gives, then next to the core (its
// directory, by base name; where a user copies the libraries of another machine).
class CoreReader final : public MemoryReader {
 public:
  explicit CoreReader(const CoreFile& core);
  ~CoreReader() override;
  Status read(RemoteAddr addr, std::span<std::byte> out) override;
  // As much of `out` as the core (or a verified file) holds from `addr` on: a cache's chunk
  // may run past the end of what the core holds.
  Result<std::size_t> read_some(RemoteAddr addr, std::span<std::byte> out) override;

  std::uint64_t bytes_read() const { return bytes_; }
  std::uint64_t reads() const { return calls_; }
  // The path of a file on disk that is the mapped file `file` (index in core.files()) by
  // build id, found and opened at the first call; "" if there is none.
  std::string verified_file(std::size_t file);
  // One line per mapped file objspy needed and could not use (missing, other build id).
  const std::vector<std::string>& problems() const { return problems_; }
  // Paths of the files objspy may open for `file`, best first.
  std::vector<std::string> file_candidates(std::size_t file) const;

 private:
  int file_fd(std::size_t file);
  const CoreFile& core_;
  struct Opened {
    bool tried = false;
    int fd = -1;
    std::string path;
  };
  std::vector<Opened> files_;
  std::vector<std::string> problems_;
  std::uint64_t bytes_ = 0, calls_ = 0;
};

}  // namespace objspy
