#include "objspy/census/census.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

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

Census sum_censuses(const std::vector<const Census*>& censuses) {
  Census sum;
  sum.measured_bytes = !censuses.empty();
  std::map<std::pair<std::string, std::string>, TypeStat> types;
  bool memory = !censuses.empty();
  ProcessMemory m;
  for (const Census* c : censuses) {
    if (sum.python_version.empty()) {
      sum.python_version = c->python_version;
      sum.python_hexversion = c->python_hexversion;
    } else if (sum.python_version != c->python_version) {
      sum.python_version = "mixed";
      sum.python_hexversion = 0;
    }
    sum.timestamp = std::max(sum.timestamp, c->timestamp);
    sum.duration_ms += c->duration_ms;
    sum.bytes_read += c->bytes_read;
    sum.read_calls += c->read_calls;
    sum.measured_bytes = sum.measured_bytes && c->measured_bytes;
    sum.bytes += c->bytes;
    sum.bytes_unmeasured += c->bytes_unmeasured;
    sum.total += c->total;
    sum.frozen += c->frozen;
    for (std::size_t g = 0; g < sum.generations.size(); ++g) sum.generations[g] += c->generations[g];
    if (c->memory) {
      m.rss_bytes += c->memory->rss_bytes;
      m.pss_bytes += c->memory->pss_bytes;
      m.anonymous_bytes += c->memory->anonymous_bytes;
      m.swap_bytes += c->memory->swap_bytes;
    } else {
      memory = false;
    }
    sum.walk.complete = sum.walk.complete && c->walk.complete;
    sum.walk.torn = sum.walk.torn || c->walk.torn;
    sum.walk.uncertain += c->walk.uncertain;
    sum.walk.objects_reached += c->walk.objects_reached;
    for (const TypeStat& t : c->types) {
      TypeStat& s = types[{t.name, t.qualified}];
      s.count += t.count;
      s.frozen += t.frozen;
      s.bytes += t.bytes;
      s.bytes_estimated = s.bytes_estimated || t.bytes_estimated;
      s.truncated = s.truncated || t.truncated;
    }
  }
  if (!sum.measured_bytes) sum.bytes = 0;
  if (memory) sum.memory = m;
  sum.types.reserve(types.size());
  for (auto& [key, t] : types) {
    t.name = key.first;
    t.qualified = key.second;
    sum.types.push_back(std::move(t));
  }
  return sum;
}

}  // namespace objspy
