"""glibc malloc tuning for training steps.

TensorFlow's CPU kernels allocate and free tensors of many megabytes every step. With glibc's
default settings each such block is mapped and unmapped (or trimmed off the heap top) again, so
the step pays page faults over and over. :func:`tune_allocator` raises the thresholds with
``mallopt`` (the same knobs as the ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` /
``MALLOC_TOP_PAD_`` environment variables, which glibc reads only at process start), so freed
blocks stay in the heap and are reused. The cost is resident memory the process keeps after a
peak (at most :data:`TRIM_THRESHOLD` above what it uses). bench/allocator.py measures the effect.

``pix2gan`` (the command) and ``Recipe.train`` call it; set ``PIX2GAN_ALLOCATOR=default`` to keep
glibc's settings. Nothing happens under another allocator (``LD_PRELOAD`` of tcmalloc or
jemalloc), where ``MALLOC_*`` variables are set by hand, or without glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger("pix2gan")

ENVIRONMENT_VARIABLE = "PIX2GAN_ALLOCATOR"
# mallopt parameter numbers (glibc malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 << 20

_state: dict[str, str] = {}


def allocator_state() -> str:
    """How this process allocates: 'tuned' (after :func:`tune_allocator`), 'preloaded' (tcmalloc or
    jemalloc), 'environment' (MALLOC_* variables set), 'default' or 'unavailable' (no glibc)."""
    return _state.get("state") or _detect()


def _detect() -> str:
    preload = os.environ.get("LD_PRELOAD", "")
    if "tcmalloc" in preload or "jemalloc" in preload:
        return "preloaded"
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                                           "GLIBC_TUNABLES")):
        return "environment"
    return "default"


def tune_allocator() -> str:
    """Raise glibc's mmap and trim thresholds for this process (once); return
    :func:`allocator_state`. A no-op where ``PIX2GAN_ALLOCATOR=default``, another allocator is
    preloaded, the ``MALLOC_*`` variables are set, or the C library has no ``mallopt``."""
    if "state" in _state:
        return _state["state"]
    state = _detect()
    if state == "default" and os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() != "default":
        state = "tuned" if _mallopt() else "unavailable"
    _state["state"] = state
    logger.debug("memory allocator: %s", state)
    return state


def _mallopt() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold first, as it also fixes the dynamic threshold
    return all(mallopt(param, value) == 1 for param, value in
               ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD)))
