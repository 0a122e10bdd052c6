# A process that execs in place, as gunicorn and uWSGI do on reload: same PID, new image.
# First image: builds BEFORE_EXEC instances of BeforeExec, writes "ready 1 <pid>" and waits
# for a line on stdin. On "exec" it replaces itself (os.execve) with the same interpreter
# running this script again as the second image, which builds AFTER_EXEC instances of
# AfterExec (and none of BeforeExec), writes "ready 2 <pid>" and idles until stdin closes.
# stdin and stdout are inherited across the exec, so the harness talks to both images.
import os
import sys

BEFORE_EXEC = 777
AFTER_EXEC = 4321


class BeforeExec:
    pass


class AfterExec:
    pass


def program():
    # The program this process runs, as this process sees it: /proc/self/exe (the embedding
    # host is its own program; sys.executable there is a guess), or sys.executable where
    # /proc is not mounted (the sid chroot).
    try:
        return os.readlink("/proc/self/exe")
    except OSError:
        return sys.executable


if os.environ.get("OBJSPY_EXEC_STAGE") != "2":
    keep = [BeforeExec() for _ in range(BEFORE_EXEC)]
    os.write(1, b"ready 1 %d\n" % os.getpid())
    line = os.read(0, 100)
    if line.strip() == b"exec":
        env = dict(os.environ)
        env["OBJSPY_EXEC_STAGE"] = "2"
        exe = program()
        os.execve(exe, [exe, os.path.abspath(__file__)], env)
else:
    keep = [AfterExec() for _ in range(AFTER_EXEC)]
    os.write(1, b"ready 2 %d\n" % os.getpid())
    os.read(0, 1)
