// The live screen for top: the alternate screen with the cursor hidden, and stdin in
// non-canonical mode for single-key commands. Everything is restored by the destructor, so
// every way out of top (q, Ctrl-C, SIGTERM, the target's exit, an error) leaves the terminal
// as it was.
#pragma once
#include <termios.h>

#include <string>
#include <utility>
#include <vector>

namespace objspy::cli {

class Screen {
 public:
  explicit Screen(bool keys);  // keys: put stdin (a terminal) in non-canonical, no-echo mode
  ~Screen();
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;
  std::pair<std::size_t, std::size_t> size() const;  // columns, rows
  void draw(const std::vector<std::string>& lines);  // from the top-left, each line cleared to its end

 private:
  bool keys_ = false;
  termios saved_{};
};

bool is_terminal(int fd);

}  // namespace objspy::cli
