// The --growth state as a careful root daemon keeps it: a private directory, no write or read
// through a planted link, no FIFO or device read, a size cap, the XDG/systemd default places.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "objspy/cli/state_file.hpp"

namespace fs = std::filesystem;
using objspy::cli::StateFile;

namespace {

// A fresh directory per test and process (other checkouts' runs share /tmp), removed after.
struct TempDir {
  explicit TempDir(const std::string& tag) : path(fs::temp_directory_path() / ("objspy-unit-" + tag + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
    fs::permissions(path, fs::perms::owner_all);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

std::string content(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Sets or unsets an environment variable for the scope.
struct EnvVar {
  EnvVar(const char* n, std::optional<std::string> v) : name(n) {
    if (const char* old = std::getenv(n)) saved = old;
    if (v) ::setenv(n, v->c_str(), 1);
    else ::unsetenv(n);
  }
  ~EnvVar() {
    if (saved) ::setenv(name, saved->c_str(), 1);
    else ::unsetenv(name);
  }
  const char* name;
  std::optional<std::string> saved;
};

}  // namespace

TEST_CASE("the state file is replaced atomically and a corrupt one is reported") {
  TempDir dir("state");
  std::string path = (dir.path / "sub" / "state.json").string();
  {
    auto f = StateFile::open(path);
    REQUIRE(f.ok());
    auto empty = f->load();
    REQUIRE(empty.ok());
    CHECK_FALSE(empty->has_value());
    REQUIRE(f->save(R"({"types": [{"name": "a", "count": 2}]})").ok());
    auto back = f->load();
    REQUIRE(back.ok());
    CHECK((*back)->counts.at("a") == 2);
  }
  bool saw_state = false;
  for (const auto& e : fs::directory_iterator(dir.path / "sub")) {
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);  // no leftovers
    saw_state |= e.path().filename() == "state.json";
  }
  CHECK(saw_state);  // the loop above looked at the real directory
  CHECK(mode_of(path) == 0600);
  CHECK(mode_of(dir.path / "sub") == 0700);  // objspy's own directory is private
  std::ofstream(path) << "{truncated";
  auto f = StateFile::open(path);
  REQUIRE(f.ok());
  auto bad = f->load();
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == objspy::Errc::io);
  CHECK(bad.error().message.find("remove it") != std::string::npos);
  // A wrong type is the same kind of error, not an exception.
  std::ofstream(path, std::ios::trunc) << R"({"pid": "x", "types": []})";
  auto typed = f->load();
  REQUIRE_FALSE(typed.ok());
  CHECK(typed.error().message.find("\"pid\" is a string") != std::string::npos);
}

TEST_CASE("the state file is never read or written through a planted link") {
  TempDir dir("links");
  const auto victim = dir.path / "victim";
  std::ofstream(victim) << "precious";
  const std::string path = (dir.path / "state.json").string();
  // A link where the lock goes: refused, the victim untouched.
  fs::create_symlink(victim, path + ".lock");
  auto at_lock = StateFile::open(path);
  REQUIRE_FALSE(at_lock.ok());
  CHECK(at_lock.error().message.find("symbolic link") != std::string::npos);
  fs::remove(path + ".lock");
  // A link where the temporary file goes: refused, the victim untouched.
  fs::create_symlink(victim, path + ".tmp");
  {
    auto f = StateFile::open(path);
    REQUIRE(f.ok());
    auto saved = f->save(R"({"types": [{"name": "a", "count": 2}]})");
    REQUIRE_FALSE(saved.ok());
    CHECK(saved.error().message.find(path + ".tmp: it is a symbolic link") != std::string::npos);
  }
  fs::remove(path + ".tmp");
  // A link at the state itself: refused before the lock, never read.
  fs::create_symlink(victim, path);
  {
    auto f = StateFile::open(path);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().message.find("symbolic link") != std::string::npos);
  }
  // ... and if it appears once the lock is held, load refuses it too.
  fs::remove(path);
  {
    auto f = StateFile::open(path);
    REQUIRE(f.ok());
    fs::create_symlink(victim, path);
    auto loaded = f->load();
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().message.find("symbolic link") != std::string::npos);
  }
  fs::remove(path);
  CHECK(content(victim) == "precious");
  // A regular file left at the temporary name by a run that died: replaced, its content kept
  // out of the state.
  std::ofstream(path + ".tmp") << "stale";
  {
    auto f = StateFile::open(path);
    REQUIRE(f.ok());
    REQUIRE(f->save(R"({"types": [{"name": "b", "count": 1}]})").ok());
  }
  CHECK(content(path) == R"({"types": [{"name": "b", "count": 1}]})");
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("a FIFO, a device or an oversized file at the state's name is refused at once") {
  TempDir dir("fifo");
  const std::string path = (dir.path / "state.json").string();
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto f = StateFile::open(path);
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().message.find("a FIFO") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  CHECK_FALSE(fs::exists(path + ".lock"));  // refused before the lock: nothing made next to it
  fs::remove(path);
  // A device (/dev is root's and not writable by others, so the directory passes).
  CHECK_FALSE(fs::exists("/dev/null.lock"));
  auto dev = StateFile::open("/dev/null");
  REQUIRE_FALSE(dev.ok());
  CHECK(dev.error().message.find("a character device") != std::string::npos);
  CHECK(dev.error().message.find("remove it") == std::string::npos);  // never advice to remove /dev/null
  CHECK_FALSE(fs::exists("/dev/null.lock"));
  // Larger than the cap: refused before it is read (a sparse file: nothing is written).
  { std::ofstream(path) << "{"; }
  fs::resize_file(path, objspy::cli::kMaxStateBytes + 1);
  auto big = StateFile::open(path);
  REQUIRE(big.ok());
  auto loaded = big->load();
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message.find("larger than 16 MiB") != std::string::npos);
}

TEST_CASE("the state directory must be private: writable by no one else, sticky or not") {
  TempDir dir("perm");
  const auto d = dir.path / "d";
  fs::create_directory(d);
  for (unsigned mode : {0777u, 01777u, 0770u, 0722u}) {
    INFO(mode);
    REQUIRE(::chmod(d.c_str(), mode) == 0);
    auto f = StateFile::open((d / "s.json").string());
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().code == objspy::Errc::io);
    CHECK(f.error().message.find("writable by group or others") != std::string::npos);
    CHECK_FALSE(fs::exists(d / "s.json.lock"));
  }
  REQUIRE(::chmod(d.c_str(), 0755) == 0);
  CHECK(StateFile::open((d / "s.json").string()).ok());
  // Above it, a directory others may write is refused unless it is sticky (like /tmp).
  const auto up = dir.path / "up";
  fs::create_directories(up / "in");
  REQUIRE(::chmod(up.c_str(), 0777) == 0);
  auto loose = StateFile::open((up / "in" / "s.json").string());
  REQUIRE_FALSE(loose.ok());
  CHECK(loose.error().message.find(up.string() + ": it is writable") != std::string::npos);
  REQUIRE(::chmod(up.c_str(), 01777) == 0);
  CHECK(StateFile::open((up / "in" / "s.json").string()).ok());
  // Links in the existing part of the path are resolved, then checked where they lead.
  fs::create_directory_symlink(d, dir.path / "link");
  CHECK(StateFile::open((dir.path / "link" / "t.json").string()).ok());
  CHECK(fs::exists(d / "t.json.lock"));
  fs::create_directory_symlink(up, dir.path / "link-up");
  REQUIRE(::chmod(up.c_str(), 0777) == 0);
  CHECK_FALSE(StateFile::open((dir.path / "link-up" / "in" / "s.json").string()).ok());
  // A file where a directory should be.
  std::ofstream(dir.path / "file") << "x";
  auto not_dir = StateFile::open((dir.path / "file" / "s.json").string());
  REQUIRE_FALSE(not_dir.ok());
  CHECK(not_dir.error().code == objspy::Errc::io);
  CHECK_FALSE(StateFile::open((d / "").string()).ok());  // a directory is not a state file name
}

TEST_CASE("the default state directory: STATE_DIRECTORY, XDG_STATE_HOME, HOME, /var/lib for root, never /tmp") {
  using objspy::cli::default_state_dir;
  EnvVar sd("STATE_DIRECTORY", "/var/lib/a:/var/lib/b");
  EnvVar xdg("XDG_STATE_HOME", "/home/u/.st");
  EnvVar home("HOME", "/home/u");
  CHECK(*default_state_dir(1000) == "/var/lib/a");  // systemd's first
  {
    EnvVar off("STATE_DIRECTORY", std::nullopt);
    CHECK(*default_state_dir(1000) == "/home/u/.st/objspy");
    EnvVar rel("XDG_STATE_HOME", "relative");  // invalid, says the XDG spec: ignored
    CHECK(*default_state_dir(1000) == "/home/u/.local/state/objspy");
    EnvVar nohome("HOME", std::nullopt);
    CHECK(*default_state_dir(0) == "/var/lib/objspy");
    auto none = default_state_dir(1000);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().code == objspy::Errc::io);
    CHECK(none.error().message.find("--state") != std::string::npos);
    EnvVar empty("HOME", "");
    CHECK_FALSE(default_state_dir(1000).ok());
  }
  auto p = objspy::cli::default_state_path(42, 7, objspy::NameForm::qualified);
  REQUIRE(p.ok());
  CHECK(*p == "/var/lib/a/state-42-7-qualified.json");
}
