#include "objspy/cli/terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace objspy::cli {
namespace {

void put(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

bool is_terminal(int fd) { return ::isatty(fd) == 1; }

Screen::Screen(bool keys) {
  if (keys && tcgetattr(STDIN_FILENO, &saved_) == 0) {
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);  // ISIG stays: Ctrl-C still ends top cleanly
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    keys_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  put("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");  // alternate screen, cursor hidden, cleared
}

Screen::~Screen() {
  put("\x1b[?25h\x1b[?1049l");
  if (keys_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
}

std::pair<std::size_t, std::size_t> Screen::size() const {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) return {ws.ws_col, ws.ws_row};
  return {80, 24};
}

void Screen::draw(const std::vector<std::string>& lines) {
  std::string frame = "\x1b[H";
  for (const auto& l : lines) frame += l + "\x1b[K\r\n";
  frame += "\x1b[J";
  put(frame);
}

}  // namespace objspy::cli
