// ELF files from the target's mount namespace (a hostile container can put anything there).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "objspy/elf/elf_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int fd = memfd_create("objspy-fuzz-elf", 0);
  if (fd < 0) return 0;
  if (write(fd, data, size) == static_cast<ssize_t>(size)) {
    auto f = objspy::ElfFile::open("/proc/self/fd/" + std::to_string(fd));
    if (f.ok()) {
      (void)f->symbol("_PyRuntime");
      (void)f->section(".PyRuntime");
      (void)f->symbol("Py_Version");
      (void)f->first_load_vaddr();
    }
  }
  close(fd);
  return 0;
}
