#include "objspy/core/result.hpp"

namespace objspy {

int exit_code(Errc e) { return static_cast<int>(e); }

Error user_facing(Error e) {
  if (e.code == Errc::bad_address)
    return make_error(Errc::incomplete, "the target's memory changed while objspy read it (" + e.message + "); run again");
  return e;
}

const char* errc_name(Errc e) {
  switch (e) {
    case Errc::internal: return "internal error";
    case Errc::usage: return "usage error";
    case Errc::no_such_process: return "no such process";
    case Errc::not_python: return "not a Python process";
    case Errc::unsupported_version: return "unsupported Python version";
    case Errc::permission_denied: return "permission denied";
    case Errc::target_exited: return "target exited";
    case Errc::incomplete: return "census incomplete";
    case Errc::launch_failed: return "launch failed";
    case Errc::corrupt_target: return "target metadata invalid";
    case Errc::bad_address: return "bad address";
    case Errc::io: return "I/O error";
    case Errc::pause_timeout: return "pause timed out";
    case Errc::bad_core: return "bad core file";
  }
  return "error";
}

}  // namespace objspy
