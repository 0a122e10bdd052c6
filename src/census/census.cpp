#include "objspy/census/census.hpp"

#include <algorithm>
#include <unordered_map>

namespace objspy {

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
