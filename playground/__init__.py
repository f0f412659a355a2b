"""DiT Playground: see how a Diffusion Transformer conditions on time and class."""

import ctypes
import ctypes.util
import os

MALLOC_TUNING_ENV = "PLAYGROUND_MALLOC_TUNING"  # "0" keeps glibc's defaults (the benchmark's comparison)


def _keep_freed_memory_for_reuse():
    """Make glibc keep freed tensor memory for reuse instead of returning it to the OS.

    A sampling step allocates activations of a few MB each. With glibc's default thresholds such
    blocks are fresh mmaps, or get trimmed off the heap when freed, so every step page-faults its
    activations in again: about a fifth of a CFG sweep on 2 cores (`python -m playground.bench`
    measures it). Fixed thresholds keep up to 256 MB of freed memory. Nothing happens off glibc.
    """
    if os.environ.get(MALLOC_TUNING_ENV) == "0":
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, Windows): leave the allocator alone
        return
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 256 << 20)


_keep_freed_memory_for_reuse()
