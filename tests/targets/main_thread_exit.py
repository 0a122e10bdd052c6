# A process whose main thread has exited (pthread_exit, through ctypes) while another thread
# runs Python: /proc/PID/stat says Z for it although it is alive. The worker holds SURVIVORS
# instances of Survivor, waits until the main thread is gone (pthread_join on it), then writes
# "ready" and answers "ping" with "pong" until stdin closes.
import ctypes
import os
import sys
import threading

SURVIVORS = 3217
libc = ctypes.CDLL(None, use_errno=True)
main_ident = threading.get_ident()


class Survivor:
    pass


heap = [Survivor() for _ in range(SURVIVORS)]


def worker():
    # Joinable by POSIX: returns once the main thread has exited (ctypes lets go of the GIL).
    libc.pthread_join(ctypes.c_ulong(main_ident), None)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        sys.stdout.write(("pong" if line.strip() == "ping" else "?") + "\n")
        sys.stdout.flush()
    os._exit(0)  # the interpreter's normal shutdown needs the main thread


threading.Thread(target=worker).start()
libc.pthread_exit(None)
