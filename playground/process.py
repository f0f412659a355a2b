"""Process-wide settings, for the programs that own their process: `app.py` and the `sample`, `evaluate` and
`bench` command lines call `apply_process_settings()` first thing in `main`.

Importing any `playground` module changes nothing outside it (a notebook that imports `playground.model`
keeps Python as it was). Each setting has an environment switch ("0" turns it off) that
`python -m playground.bench` uses to measure it; docs/performance.md has the figures, per CPU. A setting stays
only where it wins on every CPU measured: glibc's malloc thresholds, tuned once, lost on an AMD EPYC and tied
on an Intel Xeon, so glibc keeps its defaults.
"""

import ast
import ctypes
import ctypes.util
import io
import os
import sys
import threading
import time

MEMORY_TRIM_ENV = "PLAYGROUND_MEMORY_TRIM_S"  # seconds between trims of the server's freed memory; "0": never
FAST_SOURCE_LINES_ENV = "PLAYGROUND_FAST_SOURCE_LINES"  # "0" keeps Python 3.11's own line splitter


def libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return None


def trim_freed_memory_periodically(default_interval_s=10.0):
    """For a long-running server: a daemon thread that hands the allocator's free pages back to the OS every few
    seconds (glibc's `malloc_trim`). Returns the thread, or None (no glibc, or switched off).

    A burst of concurrent requests leaves hundreds of MB freed but kept by the allocator, in glibc's per-thread
    arenas, which its own trim threshold never trims. Trimming only every few seconds lets a sweep's steps reuse
    their memory and puts a bound on what a server keeps after a burst.
    """
    interval = float(os.environ.get(MEMORY_TRIM_ENV, default_interval_s))
    malloc_trim = getattr(libc(), "malloc_trim", None)
    if interval <= 0 or malloc_trim is None:
        return None

    def trim_forever():
        while True:
            time.sleep(interval)
            malloc_trim(0)

    thread = threading.Thread(target=trim_forever, name="trim-freed-memory", daemon=True)
    thread.start()
    return thread


def source_lines(source):
    """`source` split after each \\r\\n, \\r or \\n (line ends kept; form feeds are not line ends).

    The same lines as Python 3.11's `ast._splitlines_no_ff`, which builds them one character at a time.
    """
    return io.StringIO(source, newline="").readlines()  # newline="": universal line ends, left as they are


def split_source_lines_in_c():
    """Give `ast.get_source_segment` a line splitter that runs in C, on Python 3.11; True if it did.

    Importing gradio checks a type-stub file for each of its ~80 component classes, and each check calls
    `ast.get_source_segment`, which on 3.11 splits the component's whole source file in a Python loop: about
    half a second of every cold start of the app. Python 3.12 and later use a regular expression and stop
    at the segment's last line. It acts on what is imported after it, so the app calls it before gradio.
    """
    if os.environ.get(FAST_SOURCE_LINES_ENV) == "0" or sys.version_info[:2] != (3, 11):
        return False
    ast._splitlines_no_ff = source_lines
    return True


def apply_process_settings():
    """Apply every process-wide setting (each unless its switch is "0"); call once, at a program's start,
    before gradio is imported."""
    split_source_lines_in_c()
