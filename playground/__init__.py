"""DiT Playground: see how a Diffusion Transformer conditions on time and class.

Two process-wide speed settings live here because they must act before torch or gradio is imported.
Each has an environment switch ("0" turns it off) that `python -m playground.bench` uses to measure it.
"""

import ast
import ctypes
import ctypes.util
import io
import os
import sys

MALLOC_TUNING_ENV = "PLAYGROUND_MALLOC_TUNING"  # "0" keeps glibc's defaults
FAST_SOURCE_LINES_ENV = "PLAYGROUND_FAST_SOURCE_LINES"  # "0" keeps Python 3.11's own line splitter


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


def source_lines(source):
    """`source` split after each \\r\\n, \\r or \\n (line ends kept; form feeds are not line ends).

    The same lines as Python 3.11's `ast._splitlines_no_ff`, which builds them one character at a time.
    """
    return io.StringIO(source, newline="").readlines()  # newline="": universal line ends, left as they are


def _split_source_lines_in_c():
    """Give `ast.get_source_segment` a line splitter that runs in C, on Python 3.11.

    Importing gradio checks a type-stub file for each of its ~80 component classes, and each check
    calls `ast.get_source_segment`, which on 3.11 splits the component's whole source file in a
    Python loop: about a second of every cold start here. Python 3.12 and later use a regular expression
    and stop at the segment's last line.
    """
    if os.environ.get(FAST_SOURCE_LINES_ENV) == "0" or sys.version_info[:2] != (3, 11):
        return
    ast._splitlines_no_ff = source_lines


_keep_freed_memory_for_reuse()
_split_source_lines_in_c()
