// objspy top's table: a header and one row per type, from a LiveSeries. Used for the live
// screen (cut to the terminal's size) and for the plain tables written when stdout is not a
// terminal. Names are escaped for the terminal and cut to kNameColumns (render.hpp) or what
// the screen has left.
#pragma once
#include <string>
#include <vector>

#include "objspy/census/live.hpp"

namespace objspy {

struct TopView {
  LiveSort sort = LiveSort::growth;
  bool reverse = false;
  std::size_t width = 0;      // columns; 0: no limit
  std::size_t max_rows = 0;   // type rows; 0: all
  double interval_s = 0;
  bool keys = false;          // show the key help (interactive)
  std::string status;         // one-line note (e.g. "target exited"), raw text
};

// Lines without trailing newlines, each at most `width` columns.
std::vector<std::string> render_top(const LiveSeries& series, const Census& latest, const TopView& v);

}  // namespace objspy
