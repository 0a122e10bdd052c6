// pprof's profile format (github.com/google/pprof): a census as a gzip-compressed profile,
// so that `go tool pprof`, Pyroscope, Parca and Grafana show it as a flame graph and diff two
// of them. A renderer like the others: it never reads the target.
//
// Shape: one sample per type per process, with the values objects/count and, when the census
// measured bytes, space/bytes (sum of sys.getsizeof). Its stack is two frames: the type (the
// leaf, named as the table names it) under its module ("builtins" for a builtin), so a flame
// graph groups types by module. Every sample carries the label pid (a string). Several censuses (one per
// process of a worker pool) make one profile whose totals are the summed view; `-tagfocus
// pid=^N$'` picks one process (a bare number would be read as a numeric range).
#pragma once
#include <string>
#include <vector>

#include "objspy/census/census.hpp"
#include "objspy/core/result.hpp"

namespace objspy {

// The profile of `censuses` (at least one; all with bytes or the bytes value is left out),
// serialized and gzip-compressed. Err: internal when serialization or compression fails.
Result<std::string> render_pprof(const std::vector<const Census*>& censuses, NameForm names);

}  // namespace objspy
