# A target with one thread that cannot reach a ptrace stop: it waits in the kernel (state D,
# wchan kernel_clone) for a vfork child that never execs. glibc's posix_spawn clones with
# CLONE_VM|CLONE_VFORK, and the child blocks before exec opening a FIFO nobody writes to.
# Called through ctypes, which lets go of the GIL (os.posix_spawn would keep it and stall the
# whole interpreter). Writes "ready TID" (TID: the stuck thread) just before the call; the
# main thread keeps answering "ping" with "pong". "release" opens the FIFO so the child can
# exec /bin/true and the thread returns.
import ctypes
import os
import sys
import tempfile
import threading

libc = ctypes.CDLL(None, use_errno=True)
fifo = os.path.join(tempfile.mkdtemp(prefix="objspy-vfork-"), "fifo")
os.mkfifo(fifo)
heap = [{"n": i} for i in range(2000)]
about_to_spawn = threading.Event()
tid = []


def spawn():
    tid.append(threading.get_native_id())
    actions = ctypes.create_string_buffer(1024)  # posix_spawn_file_actions_t is 80 bytes in glibc
    libc.posix_spawn_file_actions_init(actions)
    libc.posix_spawn_file_actions_addopen(actions, 0, fifo.encode(), os.O_RDONLY, 0)
    child = ctypes.c_int(0)
    argv = (ctypes.c_char_p * 2)(b"true", None)
    envp = (ctypes.c_char_p * 1)(None)
    about_to_spawn.set()
    if libc.posix_spawn(ctypes.byref(child), b"/bin/true", actions, None, argv, envp) == 0:
        os.waitpid(child.value, 0)


threading.Thread(target=spawn, daemon=True).start()
about_to_spawn.wait(30)
sys.stdout.write("ready %d\n" % tid[0])
sys.stdout.flush()
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "ping":
        out = "pong"
    elif cmd == "release":
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        out = "released"
    else:
        out = "?"
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
