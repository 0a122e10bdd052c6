# A 3.13+ target that overwrites its own _Py_DebugOffsets (CPython never reads them itself,
# so it keeps running): interpreter_state.gc is made to point far outside the interpreter.
# Says "ready" when done; idles until stdin closes.
import ctypes
import os
import sys

runtime = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
# Offset of interpreter_state.gc inside the block: 80 in 3.13, 88 in 3.14 and 3.15.
field = 80 if sys.version_info[:2] == (3, 13) else 88
ctypes.c_uint64.from_address(runtime + field).value = 1 << 40
os.write(1, b"ready\n")
os.read(0, 1)
