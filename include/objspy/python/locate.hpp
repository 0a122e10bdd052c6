// Finding the interpreter in a process: which mapped ELF file holds _PyRuntime, where it
// is loaded, which CPython version it is, and the layout to read it with.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>

#include "objspy/core/remote_addr.hpp"
#include "objspy/process/core_file.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/layout.hpp"

namespace objspy {

// Where objspy read the image's symbols, best first.
enum class ImageSource {
  map_files,      // /proc/PID/map_files: the mapped inode itself (needs CAP_SYS_ADMIN)
  verified_file,  // the file on disk, checked to be the mapped one (device, inode, build id)
  target_memory,  // the ELF headers and dynamic symbols in the target's own memory
};
const char* image_source_name(ImageSource s);

struct PythonImage {
  std::string path;          // as /proc/PID/maps names it
  std::string opened_from;   // the path objspy opened (map_files, /proc/PID/root, ...), or "memory of process N"
  ImageSource source = ImageSource::map_files;
  std::string source_detail; // for --verbose: how the image was read and, if not from a file, why not
  RemoteAddr runtime;        // &_PyRuntime in the target
  std::optional<RemoteAddr> py_version;  // &Py_Version (3.11+)
  std::uint64_t load_bias = 0;
  // 3.8-3.11: where pymalloc keeps its state, file-static globals of Objects/obmalloc.c found
  // in the image's .symtab or its debug file (/usr/lib/debug/.build-id); none when neither has
  // them (a stripped binary without its debug file). 3.12+ keep it in the interpreter.
  struct AllocatorGlobals {
    RemoteAddr arenas, maxarenas, narenas_current, ntimes_allocated, highwater;
    std::string from;  // the file the symbols were read from
  };
  std::optional<AllocatorGlobals> allocator;
};

struct PythonTarget {
  pid_t pid = 0;
  PythonImage image;
  Layout layout;
};

// Err: not_python, unsupported_version, corrupt_target, permission_denied, target_exited.
Result<PythonTarget> locate_python(pid_t pid, const MemoryMap& map, MemoryReader& mem);
// The same in a core file: the mapped files are read from disk (or next to the core) only when
// their build id is the one the core holds; else from what the core holds of them. Err as
// above, and bad_core when the core lacks what is needed and no file can stand in.
Result<PythonTarget> locate_python_in_core(const CoreFile& core, CoreReader& mem);

}  // namespace objspy
