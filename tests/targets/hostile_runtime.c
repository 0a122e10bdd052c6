/* A hostile fake CPython 3.13 runtime for the census budget tests (issue 11). No Python here:
 * the program exports _PyRuntime (with _Py_DebugOffsets that pass validation) and Py_Version,
 * and builds in a few MB of memory everything that used to cost objspy unbounded time or
 * memory:
 *   - thousands of interpreters, every one "collecting" (a collection that never ends);
 *   - GC lists that share one long chain of nodes, the nodes inside the interpreter structs,
 *     so that they sit between list heads everywhere;
 *   - a distinct static type for every node, each named by a distinct ~5 KB tp_name (the
 *     names overlap in one buffer: a few bytes of memory each);
 *   - heap types that all share one dict claiming 2^24 entries (mostly zero pages), which is
 *     also the main interpreter's sys dict.
 * Usage: hostile_runtime [INTERPRETERS [NODES_PER_INTERPRETER]]. Prints "ready" when built;
 * exits when stdin closes. Offsets are this file's own choice, published in the debug block. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* 3.13.0 final. objspy reads 8 bytes here. */
const uint64_t Py_Version = 0x030D00F0;
/* The runtime: the debug block first (584 bytes in 3.13), then the interpreter list. */
__attribute__((aligned(64))) unsigned char _PyRuntime[4096];

enum {
  kRuntimeSize = 4096,
  kInterpHead = 1024,  /* runtime.interpreters.head; .main follows */
  kInterpSize = 512,
  kInterpNext = 0,
  kInterpGc = 16,      /* 240 bytes of _gc_runtime_state: 16..256 */
  kInterpSysdict = 288,
  kNodesAt = 320,      /* nodes live in the rest of each interpreter: 6 of 32 bytes */
  kTypeSize = 416,
  kTpName = 24,
  kTpFlags = 168,
  kTpDict = 264,
  kHtName = 856,       /* the built-in 3.13 table's, not published */
  kTypeStride = 64,    /* static types overlap: only +8, +24 and +168 (slot +40) are read */
};

static const uint64_t kHaveGc = 1ULL << 14, kHeapType = 1ULL << 9, kTypeSubclass = 1ULL << 31;
static const uint64_t kUnicodeSubclass = 1ULL << 28, kDictSubclass = 1ULL << 29;

static void put(void* base, size_t off, uint64_t v) { memcpy((char*)base + off, &v, 8); }
static void put32(void* base, size_t off, uint32_t v) { memcpy((char*)base + off, &v, 4); }

static void* region(size_t bytes) {
  void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  return p;
}

static void debug_block(void) {
  unsigned char* r = _PyRuntime;
  memcpy(r, "xdebugpy", 8);
  put(r, 8, Py_Version);
  put(r, 16, 0);                 /* free_threaded */
  put(r, 24, kRuntimeSize);      /* runtime_state.size */
  put(r, 40, kInterpHead);       /* runtime_state.interpreters_head */
  put(r, 48, kInterpSize);       /* interpreter_state.size */
  put(r, 64, kInterpNext);
  put(r, 80, kInterpGc);
  put(r, 96, kInterpSysdict);
  put(r, 352, 16);               /* pyobject.size */
  put(r, 360, 8);                /* pyobject.ob_type */
  put(r, 368, kTypeSize);        /* type_object.size */
  put(r, 376, kTpName);
  put(r, 392, kTpFlags);
  put(r, 448, 48);               /* dict_object.size, ma_keys, ma_values */
  put(r, 456, 32);
  put(r, 464, 40);
  put(r, 536, 64);               /* unicode_object.size, state, length, asciiobject_size */
  put(r, 544, 32);
  put(r, 552, 16);
  put(r, 560, 40);
  put(r, 568, 240);              /* gc.size, gc.collecting (the classic layout) */
  put(r, 576, 200);
}

int main(int argc, char** argv) {
  long n_interp = argc > 1 ? atol(argv[1]) : 4096;
  long per = argc > 2 ? atol(argv[2]) : 6;
  if (n_interp < 1 || per < 1 || per > 6) {
    fprintf(stderr, "usage: %s [INTERPRETERS [NODES_PER_INTERPRETER (1-6)]]\n", argv[0]);
    return 2;
  }
  debug_block();
  const long n_nodes = n_interp * per;

  /* Metatypes and the str and dict types. */
  unsigned char* meta = region(4096);
  put(meta, kTpFlags, kTypeSubclass | kHaveGc);
  put(meta, 8, (uint64_t)(uintptr_t)meta);
  unsigned char* str_type = meta + 1024;
  put(str_type, 8, (uint64_t)(uintptr_t)meta);
  put(str_type, kTpFlags, kUnicodeSubclass);
  unsigned char* dict_type = meta + 2048;
  put(dict_type, 8, (uint64_t)(uintptr_t)meta);
  put(dict_type, kTpFlags, kDictSubclass);

  /* One dict claiming 2^24 entries of 16 bytes (str keys): 256 MiB of untouched memory reads
   * as deleted entries. */
  const uint64_t entries = 1ULL << 24;
  unsigned char* keys = region(64 + entries * 16);
  put(keys, 0, 1);
  put(keys, 8, (3ULL << 8) | (1ULL << 16));  /* log2_index_bytes 3, kind unicode */
  put(keys, 24, entries);                    /* dk_nentries */
  unsigned char* dict = meta + 3072;
  put(dict, 0, 1);
  put(dict, 8, (uint64_t)(uintptr_t)dict_type);
  put(dict, 32, (uint64_t)(uintptr_t)keys);
  put(dict, 40, 0);

  /* Names: name k starts k bytes into one buffer, so every name is distinct and ~5 KB long. */
  const size_t name_len = 5000;
  char* names = region(name_len + (size_t)n_nodes + 64);
  uint64_t x = 88172645463325252ULL;  /* xorshift: no two 4 KB windows alike */
  for (size_t i = 0; i < name_len + (size_t)n_nodes; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    names[i] = (char)('a' + x % 26);
  }
  names[name_len + (size_t)n_nodes] = 0;

  /* Static types, overlapping at a 64-byte stride; every fourth node gets a heap type instead
   * (own struct: its dict pointer would collide with a neighbour's ob_type). */
  unsigned char* types = region((size_t)(n_nodes + 4) * kTypeStride + kTypeSize);
  for (long k = 0; k < n_nodes + 4; ++k) {
    unsigned char* t = types + k * kTypeStride;
    put(t, 8, (uint64_t)(uintptr_t)meta);
    put(t, kTpName, (uint64_t)(uintptr_t)(names + k % (n_nodes > 0 ? n_nodes : 1)));
    put(t, 40, kHaveGc);  /* tp_flags of the type two slots back */
  }
  const long n_heap = n_nodes / 4;
  unsigned char* heap_types = region((size_t)(n_heap + 1) * 1024);
  unsigned char* heap_names = region((size_t)(n_heap + 1) * 64);
  for (long k = 0; k < n_heap; ++k) {
    unsigned char* t = heap_types + k * 1024;
    unsigned char* s = heap_names + k * 64;  /* a compact ASCII str: "H" + k */
    put(s, 0, 1);
    put(s, 8, (uint64_t)(uintptr_t)str_type);
    int len = snprintf((char*)s + 40, 20, "H%ld", k);
    put(s, 16, (uint64_t)len);
    put32(s, 32, (1u << 2) | (1u << 5) | (1u << 6));
    put(t, 8, (uint64_t)(uintptr_t)meta);
    put(t, kTpFlags, kHaveGc | kHeapType);
    put(t, kTpDict, (uint64_t)(uintptr_t)dict);
    put(t, kHtName, (uint64_t)(uintptr_t)s);
  }

  /* Interpreters, each with a GC state whose three generations and permanent generation all
   * lead into one chain of every node (node k of interpreter i is node i*per+k), which ends
   * at the main interpreter's oldest generation. */
  unsigned char* interps = region((size_t)n_interp * kInterpSize);
  const uint64_t gc_heads[4] = {24, 48, 72, 104};
#define NODE(j) (interps + ((j) / per) * kInterpSize + kNodesAt + ((j) % per) * 32)
#define GC(i) (interps + (i) * kInterpSize + kInterpGc)
  const uint64_t end = (uint64_t)(uintptr_t)(GC(0) + 72);
  for (long i = 0; i < n_interp; ++i) {
    unsigned char* in = interps + i * kInterpSize;
    put(in, kInterpNext, i + 1 < n_interp ? (uint64_t)(uintptr_t)(in + kInterpSize) : 0);
    unsigned char* gc = GC(i);
    put(gc, 96, (uint64_t)(uintptr_t)(gc + 24));  /* generation0 */
    put32(gc, 200, 1);                            /* collecting, forever */
    for (int h = 0; h < 4; ++h) {
      /* Each list starts somewhere in the chain: the walk of every list reaches the end. */
      long start = (i * 4 + h) % n_nodes;
      put(gc, gc_heads[h], (uint64_t)(uintptr_t)NODE(start));
      put(gc, gc_heads[h] + 8, (uint64_t)(uintptr_t)NODE(n_nodes - 1));
    }
  }
  for (long j = 0; j < n_nodes; ++j) {
    unsigned char* node = NODE(j);
    put(node, 0, j + 1 < n_nodes ? (uint64_t)(uintptr_t)NODE(j + 1) : end);
    put(node, 8, j > 0 ? (uint64_t)(uintptr_t)NODE(j - 1) : (uint64_t)(uintptr_t)(GC(0) + 24));
    put(node, 16, 1);
    unsigned char* type = j % 4 == 3 && j / 4 < n_heap ? heap_types + (j / 4) * 1024 : types + j * kTypeStride;
    put(node, 24, (uint64_t)(uintptr_t)type);
  }
  put(interps, kInterpSysdict, (uint64_t)(uintptr_t)dict);
  put(_PyRuntime, kInterpHead, (uint64_t)(uintptr_t)interps);
  put(_PyRuntime, kInterpHead + 8, (uint64_t)(uintptr_t)interps);

  printf("ready\n");
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  return 0;
}
