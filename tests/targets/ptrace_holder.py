# Test helper, not a target: trace process PID (argv[1]) the way a debugger does
# (PTRACE_SEIZE, which does not stop it), write "ready", and keep tracing it until stdin
# closes. Needs root or CAP_SYS_PTRACE.
import ctypes
import sys

PTRACE_SEIZE = 0x4206
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
if libc.ptrace(PTRACE_SEIZE, int(sys.argv[1]), None, None) != 0:
    sys.stderr.write("ptrace(SEIZE): errno %d\n" % ctypes.get_errno())
    sys.exit(1)
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()
