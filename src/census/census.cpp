#include "objspy/census/census.hpp"

#include <algorithm>
#include <unordered_map>

namespace objspy {

MemoryExplained explain_memory(const Census& c) {
  MemoryExplained e;
  if (c.memory) e.rss_bytes = c.memory->rss_bytes;
  if (c.measured_bytes) e.gc_object_bytes = c.bytes;
  if (c.allocator && c.allocator->read) {
    e.arena_bytes = c.allocator->arena_bytes();
    e.arena_block_bytes = c.allocator->allocated_bytes;
  }
  auto share = [&](const std::optional<std::uint64_t>& part) -> std::optional<double> {
    if (!part || !e.rss_bytes || *e.rss_bytes == 0) return std::nullopt;
    return static_cast<double>(*part) / static_cast<double>(*e.rss_bytes);
  };
  e.gc_object_share = share(e.gc_object_bytes);
  e.arena_share = share(e.arena_bytes);
  return e;
}

std::vector<NamedCount> most_common(const Census& c, NameForm form, std::size_t limit, SortBy by) {
  std::unordered_map<std::string, NamedCount> by_name;
  for (const auto& t : c.types) {
    if (!t.count) continue;
    const std::string& name = form == NameForm::qualified ? t.qualified : t.name;
    NamedCount& n = by_name[name];
    n.count += t.count;
    n.bytes += t.bytes;
    n.bytes_estimated = n.bytes_estimated || t.bytes_estimated;
  }
  std::vector<NamedCount> out;
  out.reserve(by_name.size());
  for (auto& [name, n] : by_name) {
    n.name = name;
    out.push_back(std::move(n));
  }
  std::sort(out.begin(), out.end(), [by](const NamedCount& a, const NamedCount& b) {
    if (by == SortBy::bytes && a.bytes != b.bytes) return a.bytes > b.bytes;
    if (a.count != b.count) return a.count > b.count;
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    return a.name < b.name;
  });
  if (limit && out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace objspy
