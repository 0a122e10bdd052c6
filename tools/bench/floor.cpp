// The copy floor: how long process_vm_readv takes to copy, in address order and 1 MiB
// reads, every mapping of a process that can hold Python objects: readable, writable and
// private, anonymous or the brk [heap] (pymalloc arenas, malloc'd blocks, mmap'd large
// objects). Left out: file-backed data (the interpreter's static types and state are few
// and small), the main thread's [stack], and the kernel's [vvar]/[vdso]/[vsyscall]. A shared
// anonymous mapping appears as file-backed "/dev/zero (deleted)", so it is left out too.
// Prints "<bytes> <ms> <read calls> <mappings>".
#include <sys/uio.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "objspy/process/proc.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fputs("usage: objspy-bench-floor PID\n", stderr);
    return 2;
  }
  pid_t pid = static_cast<pid_t>(std::atoi(argv[1]));
  auto map = objspy::read_memory_map(pid);
  if (!map.ok()) {
    std::fputs((map.error().message + "\n").c_str(), stderr);
    return 1;
  }
  constexpr std::size_t kChunk = 1 << 20;
  std::vector<char> buf(kChunk);
  std::uint64_t bytes = 0, calls = 0, mappings = 0;
  auto object_holding = [](const objspy::Mapping& m) {
    if (!m.readable || !m.writable || m.file_backed()) return false;
    return m.path.empty() || m.path == "[heap]" || m.path.rfind("[anon:", 0) == 0;
  };
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& m : map->mappings()) {
    if (!object_holding(m)) continue;
    ++mappings;
    for (std::uint64_t a = m.start; a < m.end; a += kChunk) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, m.end - a));
      iovec local{buf.data(), n};
      iovec remote{reinterpret_cast<void*>(a), n};
      ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
      ++calls;
      if (got > 0) bytes += static_cast<std::uint64_t>(got);
    }
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::fputs(fmt::format("{} {:.3f} {} {}\n", bytes, ms, calls, mappings).c_str(), stdout);
  return 0;
}
