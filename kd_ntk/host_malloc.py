"""glibc malloc settings that kd_ntk applies when it is imported.

XLA:CPU allocates its buffers with the C library's malloc. Under glibc's
defaults every allocation above the mmap threshold (at most 32 MiB) is a
fresh `mmap` and every free of one an `munmap`, so a program that builds a
300 MiB block of features, uses it and frees it, again and again (the
Jacobian path of `kd_ntk.ntk`, one block of examples at a time), touches
fresh pages each time: about 100,000 page faults per block of 256 LeNet-5
examples, 1.4 million per Gram of 2048.
XLA's worker threads also take glibc's per-thread arenas, whose large
requests go to `mmap` whatever the settings.

`apply_defaults` asks glibc (`mallopt`) for one arena (M_ARENA_MAX = 1), no
`mmap` for large blocks (M_MMAP_MAX = 0) and no return of freed heap memory
to the system (M_TRIM_THRESHOLD = SIZE_MAX): freed blocks stay mapped and are
reused. Measured on this project's 2-core machine, LeNet-5, n = 2048, the
warm Jacobian-path Gram went from 1.44 million page faults and 16.0-17.4 s
to 23,000-43,000 faults and 11.7-11.8 s, at the same peak resident memory
(2.6-2.8 GB); the README's benchmark table has the n = 4096 figures.

The cost: memory freed after a peak is kept by the process for reuse
instead of going back to the system (`release()` hands it back), and all
threads share one arena (XLA's few large allocations do not contend).
Like `kd_ntk.xla_cpu`, it only reaches threads that allocate for the first
time after kd_ntk is imported (JAX starts its threads with its backend), so
import kd_ntk before the first JAX computation; KD_NTK_MALLOC_DEFAULTS=0
leaves glibc's defaults alone. Other C libraries (musl, macOS) are left
alone too.
"""

import ctypes
import ctypes.util
import os
import platform

OPT_OUT_ENV = "KD_NTK_MALLOC_DEFAULTS"
# mallopt parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
# glibc reads the trim threshold as a size_t: -1 is the largest there is.
SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, -1))


def on_glibc() -> bool:
  """Whether this process runs on Linux with glibc (the only C library set)."""
  return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _glibc():
  """The process's glibc (ctypes.CDLL), or None on another C library."""
  if not on_glibc():
    return None
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc
  except (OSError, AttributeError):
    return None


def apply_defaults(environ=os.environ) -> bool:
  """Applies `SETTINGS` through mallopt (module docstring); whether glibc
  accepted all of them (False when opted out or not on glibc)."""
  if environ.get(OPT_OUT_ENV) == "0":
    return False
  libc = _glibc()
  if libc is None:
    return False
  return all(libc.mallopt(param, value) == 1 for param, value in SETTINGS)


def release() -> bool:
  """Hands the heap's free memory back to the system (glibc's malloc_trim)."""
  libc = _glibc()
  return bool(libc is not None and libc.malloc_trim(0))
