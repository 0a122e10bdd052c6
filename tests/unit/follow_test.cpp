// What tells one program image of a process from the next (exec in place), and how repeated
// census failures are logged.
#include <doctest/doctest.h>
#include <unistd.h>

#include "objspy/cli/following.hpp"
#include "objspy/process/image_identity.hpp"
#include "objspy/process/live_reader.hpp"

using objspy::ImageChange;
using objspy::ImageIdentity;

TEST_CASE("this process's image identity is complete and stable") {
  objspy::LiveReader mem(getpid());
  auto a = objspy::read_image_identity(getpid(), mem);
  auto b = objspy::read_image_identity(getpid(), mem);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->start_time != 0);
  CHECK(a->exe.has_value());
  CHECK(a->at_random_addr != 0);
  CHECK(a->at_random.has_value());
  CHECK(objspy::compare_images(*a, *b) == ImageChange::same);
}

TEST_CASE("compare_images: another process, an exec, or the same image") {
  ImageIdentity base;
  base.start_time = 100;
  base.exe = std::pair<std::uint64_t, std::uint64_t>(8, 42);
  base.at_random_addr = 0x7ffc0000;
  base.at_random = std::array<std::uint8_t, 16>{1, 2, 3};
  CHECK(objspy::compare_images(base, base) == ImageChange::same);

  auto other = base;
  other.start_time = 101;  // a reused PID, whatever else matches
  CHECK(objspy::compare_images(base, other) == ImageChange::other_process);

  auto new_exe = base;
  new_exe.exe->second = 43;
  CHECK(objspy::compare_images(base, new_exe) == ImageChange::exec);

  auto same_program_again = base;  // exec of the same file, same addresses: new random bytes
  same_program_again.at_random = std::array<std::uint8_t, 16>{9, 9, 9};
  CHECK(objspy::compare_images(base, same_program_again) == ImageChange::exec);

  auto moved = base;
  moved.at_random_addr = 0x7ffd0000;
  CHECK(objspy::compare_images(base, moved) == ImageChange::exec);

  auto unreadable_now = base;  // the stack that held them is gone
  unreadable_now.at_random.reset();
  CHECK(objspy::compare_images(base, unreadable_now) == ImageChange::exec);

  auto exe_unknown = base;  // an unreadable exe link is not a change
  exe_unknown.exe.reset();
  CHECK(objspy::compare_images(base, exe_unknown) == ImageChange::same);
  CHECK(objspy::compare_images(exe_unknown, base) == ImageChange::same);
}

TEST_CASE("the same failure again and again is logged at 1, 2, 4, 8 in a row") {
  objspy::cli::FailureLog log;
  std::vector<int> logged;
  for (int i = 1; i <= 9; ++i)
    if (log.failed("boom")) logged.push_back(i);
  CHECK(logged == std::vector<int>{1, 2, 4, 8});
  CHECK(log.failed("other") == std::optional<std::string>("other"));  // a new message: at once
  CHECK(log.failed("other") == std::optional<std::string>("other (2 times in a row)"));
  log.succeeded();
  CHECK(log.failed("other") == std::optional<std::string>("other"));  // a new run after a success
}

TEST_CASE("bad_address never reaches the user: it is a documented code") {
  auto e = objspy::user_facing(objspy::make_error(objspy::Errc::bad_address, "no readable memory at 0x10+8 in process 7"));
  CHECK(e.code == objspy::Errc::incomplete);
  CHECK(e.message.find("no readable memory at 0x10+8") != std::string::npos);
  for (int c = 1; c <= 12; ++c) {
    if (c == 11) continue;
    auto code = static_cast<objspy::Errc>(c);
    CHECK(objspy::user_facing(objspy::make_error(code, "x")).code == code);
  }
}
