// objspy snapshot: the target's object-holding memory copied while its threads are held, then
// written (after it runs again) as an ELF core file that dump --core, info --core and gdb read.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>

#include <elf.h>
#include <fmt/format.h>

#include "objspy/cli/commands.hpp"
#include "objspy/cli/dump_parts.hpp"
#include "objspy/cli/safe_file.hpp"
#include "objspy/process/cached_reader.hpp"
#include "objspy/process/core_writer.hpp"
#include "objspy/process/live_reader.hpp"
#include "objspy/process/held_copy.hpp"
#include "objspy/process/proc.hpp"
#include "objspy/process/process_tree.hpp"
#include "objspy/process/snapshot_reader.hpp"
#include "objspy/python/locate.hpp"

namespace objspy::cli {
namespace {

constexpr std::uint64_t kPage = 4096;

std::uint32_t flags_of(const Mapping& m) {
  return (m.readable ? PF_R : 0) | (m.writable ? PF_W : 0) | (m.executable ? PF_X : 0);
}

// A file's RELRO part: read-only after the loader relocated it, so it differs from the file
// (the executable's .dynamic, with DT_DEBUG, which gdb follows to the shared libraries; the
// GOT; vtables). The loader leaves it as the read-only mapping right before the file's
// writable one.
bool relocated_read_only(const MemoryMap& map, std::size_t i) {
  const auto& ms = map.mappings();
  const Mapping& m = ms[i];
  if (!m.file_backed() || m.writable || m.executable || m.shared || !m.readable || i + 1 >= ms.size()) return false;
  const Mapping& n = ms[i + 1];
  return n.start == m.end && n.writable && n.path == m.path && n.inode == m.inode;
}

// The core's description of the held process: `copy` holds the object-holding mappings;
// `extra` what was read after the hold (it cannot change): the first page of each mapped ELF
// file, and the relocated read-only parts, by mapping start.
CoreImage image_of(const MemoryMap& map, const SnapshotReader& copy, const std::map<std::uint64_t, std::vector<std::byte>>& extra, CoreProcess proc) {
  CoreImage img;
  img.process = std::move(proc);
  const auto pieces = copy.pieces();
  const auto& planned = copy.planned();
  std::size_t p = 0;
  for (const Mapping& m : map.mappings()) {
    if (m.file_backed()) img.files.push_back({m.start, m.end, m.offset, m.path});
    const bool copied = std::any_of(planned.begin(), planned.end(), [&](const SnapshotReader::Range& r) { return r.start == m.start; });
    CoreImage::Segment s{m.start, m.end - m.start, flags_of(m), 0, {}};
    if (copied) {
      s.filesz = s.memsz;
      while (p < pieces.size() && pieces[p].start < m.start) ++p;
      for (; p < pieces.size() && pieces[p].start < m.end; ++p) s.pieces.push_back({pieces[p].start, pieces[p].data});
    } else if (m.file_backed()) {
      if (auto it = extra.find(m.start); it != extra.end() && !it->second.empty()) {
        s.filesz = it->second.size();
        s.pieces.push_back({m.start, it->second});
      }
    } else {
      continue;  // the stack, [vvar], [vdso]: no objects there
    }
    img.segments.push_back(std::move(s));
  }
  return img;
}

}  // namespace

Status run_snapshot(const SnapshotOptions& o) {
  const pid_t pid = o.pid;
  OBJSPY_ASSIGN(ProcessInfo info, inspect_process(pid));
  LiveReader live(pid);
  {
    // A snapshot of a process that is not Python is refused before it is held.
    OBJSPY_ASSIGN(MemoryMap map, read_memory_map(pid));
    CachedReader cache(live, &map, 16u << 20, 128u << 10);
    auto located = locate_python(pid, map, cache);
    if (!located.ok()) return located.take_error();
  }
  OBJSPY_ASSIGN(std::FILE* out, open_for_writing(o.output));
  struct Close {
    std::FILE* f;
    ~Close() {
      if (f) std::fclose(f);
    }
  } closer{out};
  const auto t0 = std::chrono::steady_clock::now();
  OBJSPY_ASSIGN(HeldCopy held, copy_while_held(pid, live, o.copy_budget, o.pause_timeout_ms));
  if (!held.copy)
    return make_error(Errc::usage, fmt::format("process {} has {} MiB of object-holding memory, more than --copy-budget ({} MiB)", pid,
                                               held.need >> 20, o.copy_budget >> 20));
  const SnapshotReader& copy = *held.copy;
  const MemoryMap* held_map = &held.map;
  const std::vector<pid_t>& threads = held.threads;
  const double held_ms = held.held_ms;
  const double copy_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  // The first page of every mapped ELF file: its headers and build id, for the reader to check
  // the files on disk against.
  std::map<std::uint64_t, std::vector<std::byte>> extra;
  std::uint64_t extra_bytes = 0;
  constexpr std::uint64_t kMaxRelro = 256ULL << 20;  // a bound for a hostile map
  for (std::size_t i = 0; i < held_map->mappings().size(); ++i) {
    const Mapping& m = held_map->mappings()[i];
    std::uint64_t n = 0;
    if (relocated_read_only(*held_map, i) && extra_bytes + (m.end - m.start) <= kMaxRelro) n = m.end - m.start;
    else if (m.file_backed() && m.offset == 0) n = std::min<std::uint64_t>(kPage, m.end - m.start);
    if (!n) continue;
    std::vector<std::byte> bytes(n);
    if (!live.read(RemoteAddr(m.start), bytes).ok()) continue;
    extra_bytes += n;
    extra.emplace(m.start, std::move(bytes));
  }
  CoreProcess proc;
  proc.pid = pid;
  proc.command = info.comm;
  proc.arguments = command_line(pid, 80);
  proc.threads = threads;
  CoreImage img = image_of(*held_map, copy, extra, proc);
  if (auto auxv = read_small_file(fmt::format("/proc/{}/auxv", pid), 8192)) {
    const auto* b = reinterpret_cast<const std::byte*>(auxv->data());
    img.auxv.assign(b, b + auxv->size());
  }
  OBJSPY_TRY(write_core(::fileno(out), img));
  if (std::fflush(out) != 0 || ::fsync(::fileno(out)) != 0) return make_error(Errc::io, fmt::format("cannot write {}", o.output));
  closer.f = nullptr;
  if (std::fclose(out) != 0) return make_error(Errc::io, fmt::format("cannot write {}", o.output));
  if (!o.quiet)
    note(fmt::format("snapshot of process {} written to {}: {:.1f} MiB copied from {} mappings, {} threads; held {:.1f} ms, copy done in {:.1f} ms", pid,
                     o.output, static_cast<double>(copy.bytes_copied()) / (1 << 20), copy.planned().size(), threads.size(), held_ms, copy_ms));
  return {};
}

}  // namespace objspy::cli
