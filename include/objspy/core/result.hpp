// Errors are values inside the library; the CLI turns one into a message and an exit code.
#pragma once
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace objspy {

// Every error class a user can meet has its own exit code (documented in README.md).
enum class Errc : int {
  internal = 1,
  usage = 2,
  no_such_process = 3,
  not_python = 4,
  unsupported_version = 5,
  permission_denied = 6,
  target_exited = 7,
  incomplete = 8,       // memory changed under the walk and a retry did not help
  launch_failed = 9,
  corrupt_target = 10,  // the target's own metadata failed validation
  bad_address = 11,     // a read outside mapped memory (inside the library only: see user_facing)
  io = 12,              // local files: state, output
  pause_timeout = 13,   // --pause: a thread of the target did not stop in time (it was let go)
  bad_core = 14,        // --core: not a usable core file, or the files it maps cannot be verified
};

int exit_code(Errc e);
const char* errc_name(Errc e);

struct Error {
  Errc code;
  std::string message;
};

// The error as the user gets it (exit code, record's census_failed events): a code only the
// library has becomes the documented one it means. bad_address that reaches the edge is a read
// of memory the target no longer maps though it is alive (it unmapped or replaced it during
// the census): transient, like a walk the lists changed under, so it is `incomplete`.
Error user_facing(Error e);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}        // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  Error&& take_error() { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return err_; }
  Error&& take_error() { assert(!ok_); return std::move(err_); }

 private:
  Error err_{Errc::internal, {}};
  bool ok_ = true;
};

using Status = Result<void>;

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace objspy

// Propagate an error out of a function returning Result<...>.
#define OBJSPY_TRY(expr)                                   \
  do {                                                     \
    auto objspy_try_r_ = (expr);                           \
    if (!objspy_try_r_.ok()) return objspy_try_r_.take_error(); \
  } while (0)

#define OBJSPY_CONCAT_(a, b) a##b
#define OBJSPY_CONCAT(a, b) OBJSPY_CONCAT_(a, b)
#define OBJSPY_ASSIGN_(tmp, lhs, expr)          \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return tmp.take_error();       \
  lhs = std::move(tmp).value()
// OBJSPY_ASSIGN(auto x, f()) : declare x from a Result or return its error.
#define OBJSPY_ASSIGN(lhs, expr) OBJSPY_ASSIGN_(OBJSPY_CONCAT(objspy_r_, __LINE__), lhs, expr)
