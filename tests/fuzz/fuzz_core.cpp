// Core files given to --core (a user's file, possibly from a hostile host or cut short): the
// parser, the reader over its segments and the search for the interpreter never crash, hang
// or read outside what the file holds.
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <string>

#include "objspy/process/core_file.hpp"
#include "objspy/python/locate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int fd = memfd_create("objspy-fuzz-core", 0);
  if (fd < 0) return 0;
  if (write(fd, data, size) == static_cast<ssize_t>(size)) {
    auto core = objspy::CoreFile::open("/proc/self/fd/" + std::to_string(fd));
    if (core.ok()) {
      objspy::CoreReader mem(**core);
      std::array<std::byte, 64> buf{};
      std::size_t n = 0;
      for (const auto& s : (*core)->segments()) {
        if (++n > 64) break;
        (void)mem.read(objspy::RemoteAddr(s.vaddr), buf);
        (void)mem.read(objspy::RemoteAddr(s.vaddr + s.memsz - 8), std::span(buf).first(16));  // across the end
      }
      (void)objspy::locate_python_in_core(**core, mem);
    }
  }
  close(fd);
  return 0;
}
