// Renderers: each turns a census into one output format. They escape every name that came
// from the target; none of them reads the target.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "objspy/census/census.hpp"

namespace objspy {

struct RenderOptions {
  NameForm names = NameForm::short_name;
  std::size_t limit = 10;  // 0: all types
};

// objgraph.show_most_common_types(): "%-*s %i" rows, names padded to the widest shown.
std::string render_table(const Census& c, const RenderOptions& o);
// One-line human summary for stderr: pid, version, totals, walk status, time.
std::string render_summary(const Census& c);

// The JSON document of README.md's schema (also one NDJSON line when dumped without indent).
nlohmann::json census_to_json(const Census& c, const RenderOptions& o);
std::string render_json(const Census& c, const RenderOptions& o, bool pretty);

}  // namespace objspy
