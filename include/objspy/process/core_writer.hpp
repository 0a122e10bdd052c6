// Writing an ELF core file (objspy snapshot): what CoreFile reads back, and what gdb opens.
// The notes are those of a kernel core: NT_PRSTATUS per thread (its ID; registers are not
// taken: objspy never touches the target's threads beyond holding them), NT_PRPSINFO, NT_AUXV
// (with it gdb finds the shared libraries through the loader's list), NT_FILE.
// Memory is one PT_LOAD per mapping: the copied bytes of object-holding mappings (pages not
// copied are file holes, which read as the zeros the target had there), the first page of each
// mapped ELF file (its headers and build id, as the kernel keeps them), and nothing of the
// other file-backed mappings (filesz 0: read from the verified file).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "objspy/core/result.hpp"
#include "objspy/process/core_file.hpp"

namespace objspy {

struct CoreImage {
  struct Piece {
    std::uint64_t start;  // an address inside its segment
    std::span<const std::byte> data;
  };
  struct Segment {
    std::uint64_t vaddr = 0, memsz = 0;
    std::uint32_t flags = 0;      // PF_R, PF_W, PF_X
    std::uint64_t filesz = 0;     // bytes of the segment stored (pieces cover part of them)
    std::vector<Piece> pieces;    // in address order, inside [vaddr, vaddr + filesz)
  };
  struct File {
    std::uint64_t start, end, offset;  // offset: bytes into the file
    std::string path;
  };
  CoreProcess process;
  std::vector<std::byte> auxv;    // /proc/PID/auxv: where gdb finds the executable's load address
  std::vector<Segment> segments;  // in address order
  std::vector<File> files;        // in address order
};

// Writes `img` to `fd` (an empty regular file, opened for writing). Err: io.
Status write_core(int fd, const CoreImage& img);

}  // namespace objspy
