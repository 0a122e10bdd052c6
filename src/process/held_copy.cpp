#include "objspy/process/held_copy.hpp"

#include <fmt/format.h>

#include "objspy/process/pause.hpp"
#include "objspy/process/proc.hpp"

namespace objspy {

Result<HeldCopy> copy_while_held(pid_t pid, MemoryReader& live, std::uint64_t budget, int pause_timeout_ms) {
  HeldCopy h;
  OBJSPY_ASSIGN(MemoryMap pre, read_memory_map(pid));
  std::uint64_t mapped = 0;
  (void)SnapshotReader::resident(pid, SnapshotReader::plan(pre, &mapped), &h.need);
  if (h.need > budget) {
    h.map = std::move(pre);
    return h;
  }
  OBJSPY_ASSIGN(SnapshotReader copy, SnapshotReader::reserve(live, h.need + h.need / 16 + (16ULL << 20)));
  h.copy.emplace(std::move(copy));
  OBJSPY_ASSIGN(auto pause, ProcessPause::freeze(pid, pause_timeout_ms));
  if (!pause->holding()) return make_error(Errc::pause_timeout, "objspy was asked to stop while holding the target: nothing was copied");
  auto held = read_memory_map(pid);
  if (!held.ok()) return held.take_error();
  h.map = std::move(*held);
  h.threads = list_tasks(pid);
  std::uint64_t need = 0;
  auto planned = SnapshotReader::plan(h.map, &mapped);
  auto ranges = SnapshotReader::resident(pid, planned, &need);
  auto fits = h.copy->copy(planned, ranges);
  pause->resume();  // the hold ends with the copy
  h.held_ms = pause->held_ms();
  if (!fits.ok()) return fits.take_error();
  if (!*fits) return make_error(Errc::usage, fmt::format("process {} grew past the room made for its copy while held: run again", pid));
  return h;
}

}  // namespace objspy
