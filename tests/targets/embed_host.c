/* A C program that embeds libpython and runs a target script in it: objspy must find the
 * interpreter in libpython3.X.so even though the executable is not called python. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SCRIPT\n", argv[0]);
    return 2;
  }
  Py_Initialize();
  FILE* f = fopen(argv[1], "r");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  int rc = PyRun_SimpleFileEx(f, argv[1], 1);
  Py_Finalize();
  return rc == 0 ? 0 : 1;
}
