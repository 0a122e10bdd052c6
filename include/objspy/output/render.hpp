// Renderers: each turns a census into one output format. They escape every name that came
// from the target; none of them reads the target.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "objspy/census/census.hpp"

namespace objspy {

// Tables cut a name wider than this (after escaping) to its start and end around a "…", so
// one hostile name of any length cannot widen every row; JSON keeps names whole.
constexpr std::size_t kNameColumns = 60;

struct RenderOptions {
  NameForm names = NameForm::short_name;
  std::size_t limit = 10;  // 0: all types
  SortBy sort = SortBy::count;  // --sort
};

// objgraph.show_most_common_types(): "%-*s %i" rows, names padded to the widest shown (names
// cut to kNameColumns).
std::string render_table(const Census& c, const RenderOptions& o);
// One-line human summary for stderr: pid, version, totals, walk status, time.
std::string render_summary(const Census& c);
// What the collector of each interpreter says, one short line each for stderr ("gc: enabled,
// thresholds 700/10/10, counts ..."), printed with the summary line.
std::vector<std::string> render_gc_summary(const Census& c);

// The JSON document of README.md's schema (also one NDJSON line when dumped without indent).
nlohmann::json census_to_json(const Census& c, const RenderOptions& o);
// pymalloc's figures (census.hpp: AllocatorStat), as "allocator" in the census document.
nlohmann::json allocator_to_json(const AllocatorStat& a);
// How much of RSS the census explains (census.hpp: MemoryExplained), as "explained".
nlohmann::json explained_to_json(const MemoryExplained& e);
// The same for people: pymalloc's line and the "explained" line of `info`, empty when unknown.
std::string render_allocator_line(const AllocatorStat& a);
std::string render_explained_line(const MemoryExplained& e);
std::string render_json(const Census& c, const RenderOptions& o, bool pretty);

}  // namespace objspy

#include "objspy/census/series.hpp"

namespace objspy {

// objgraph.show_growth(): "%-*s%9d %+9d" (name, count now, growth).
std::string render_growth(const std::vector<Change>& rows);
// The census document plus "growth": [{name, count, delta}] and "growth_since" (the
// previous census's timestamp, or null when there was none).
// With `by` bytes the rows are of bytes: {name, bytes, delta}.
std::string render_growth_json(const Census& c, const RenderOptions& o, const std::vector<Change>& rows, const Snapshot* previous,
                               bool pretty, SortBy by = SortBy::count);
// objspy diff: name, before, after, change.
std::string render_diff(const std::vector<Change>& rows, SortBy by = SortBy::count);
// objspy suspects: a ranked table with the evidence for each row, over `over` (series.hpp):
// its samples, the censuses left out as not trusted, and a note when types were summed as
// "other" (more types than --max-types).
std::string render_suspects(const std::vector<Suspect>& rows, const RankedOver& over, SortBy by = SortBy::count);
// The same as JSON: {"samples", "skipped", "hours", "max_types", "other": null or {"types",
// "objects"}, "suspects": [{name, first, last, per_hour, fit, ...}]}.
nlohmann::json suspects_to_json(const std::vector<Suspect>& rows, const RankedOver& over);

}  // namespace objspy
