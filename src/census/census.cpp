#include "objspy/census/census.hpp"

#include <algorithm>
#include <unordered_map>

namespace objspy {

std::vector<NamedCount> most_common(const Census& c, NameForm form, std::size_t limit) {
  std::unordered_map<std::string, std::uint64_t> by_name;
  for (const auto& t : c.types)
    if (t.count) by_name[form == NameForm::qualified ? t.qualified : t.name] += t.count;
  std::vector<NamedCount> out;
  out.reserve(by_name.size());
  for (auto& [name, count] : by_name) out.push_back({name, count});
  std::sort(out.begin(), out.end(), [](const NamedCount& a, const NamedCount& b) {
    return a.count != b.count ? a.count > b.count : a.name < b.name;
  });
  if (limit && out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace objspy
