// The copy floor: how long process_vm_readv takes to copy every anonymous writable mapping
// of a process (where CPython's heap lives) in 1 MiB chunks. Prints "<bytes> <ms>".
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
  std::uint64_t bytes = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& m : map->mappings()) {
    if (!m.readable || !m.writable || (m.file_backed() && m.path != "[heap]")) continue;
    if (m.path == "[vvar]" || m.path == "[vsyscall]" || m.path == "[vdso]") continue;
    for (std::uint64_t a = m.start; a < m.end; a += kChunk) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, m.end - a));
      iovec local{buf.data(), n};
      iovec remote{reinterpret_cast<void*>(a), n};
      ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
      if (got > 0) bytes += static_cast<std::uint64_t>(got);
    }
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::fputs(fmt::format("{} {:.3f}\n", bytes, ms).c_str(), stdout);
  return 0;
}
