/* LD_PRELOAD shim for one integration test: after OBJSPY_TEST_KILL_AFTER calls to
 * process_vm_readv, SIGKILL the process being read, so that objspy meets a target that
 * exits in the middle of a census, deterministically. Test-only; never shipped. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

typedef ssize_t (*readv_fn)(pid_t, const struct iovec*, unsigned long, const struct iovec*, unsigned long, unsigned long);

ssize_t process_vm_readv(pid_t pid, const struct iovec* l, unsigned long ln, const struct iovec* r, unsigned long rn, unsigned long f) {
  static long calls = 0;
  static readv_fn real = 0;
  if (!real) real = (readv_fn)dlsym(RTLD_NEXT, "process_vm_readv");
  const char* after = getenv("OBJSPY_TEST_KILL_AFTER");
  if (after && ++calls == atol(after)) {
    kill(pid, SIGKILL);
    usleep(100000); /* let the kernel tear the process down */
  }
  return real(pid, l, ln, r, rn, f);
}
