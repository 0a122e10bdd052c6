/* LD_PRELOAD shim for integration tests (never shipped). On objspy's Nth call to
 * process_vm_readv:
 *   OBJSPY_TEST_KILL_AFTER=N       SIGKILL the process being read (it exits mid-census);
 *   OBJSPY_TEST_SELF_KILL_IN_PAUSE=N  SIGKILL objspy itself at its Nth read made while the
 *                                  target's main thread is in tracing stop (mid --pause).
 * And on every call:
 *   OBJSPY_TEST_READ_DELAY_US=U    sleep U microseconds first (a census that takes seconds).
 * Deterministic, unlike racing a timer against a census of a few milliseconds. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

typedef ssize_t (*readv_fn)(pid_t, const struct iovec*, unsigned long, const struct iovec*, unsigned long, unsigned long);

ssize_t process_vm_readv(pid_t pid, const struct iovec* l, unsigned long ln, const struct iovec* r, unsigned long rn, unsigned long f) {
  static long calls = 0;
  static readv_fn real = 0;
  if (!real) real = (readv_fn)dlsym(RTLD_NEXT, "process_vm_readv");
  ++calls;
  const char* delay = getenv("OBJSPY_TEST_READ_DELAY_US");
  if (delay) usleep((useconds_t)atol(delay));
  const char* after = getenv("OBJSPY_TEST_KILL_AFTER");
  if (after && calls == atol(after)) {
    kill(pid, SIGKILL);
    usleep(100000); /* let the kernel tear the process down */
  }
  const char* self = getenv("OBJSPY_TEST_SELF_KILL_IN_PAUSE");
  if (self) {
    static long paused_calls = 0;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE* fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) fclose(fp);
    buf[n] = 0;
    char* close = strrchr(buf, ')');
    if (close && close[1] == ' ' && close[2] == 't' && ++paused_calls == atol(self)) kill(getpid(), SIGKILL);
  }
  return real(pid, l, ln, r, rn, f);
}
