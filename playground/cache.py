"""One way to keep results: a keyed store bounded in entries and in bytes, least recently used out.

Everything the app keeps (a view's output for its inputs, a page's opening, a loaded checkpoint, the frames of
a streamed sweep) is a pure function of its key and of the weights it was computed with, so one kind of store
serves them all. A caller asking for a key that another is computing waits for that result instead of computing
it again: on 2 cores a second identical sweep would only halve the speed of both. A computation that raises
keeps nothing, so the next caller tries again.
"""

import functools
import hashlib
import sys
import threading
from collections import OrderedDict
from concurrent.futures import Future

import numpy as np
import torch


def size_of(value):
    """Approximate bytes held by `value`: exact for tensors, arrays and bytes; PIL images by their pixels; plotly
    figures by their JSON-able data; containers by their items; anything else by `sys.getsizeof`."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    if hasattr(value, "getbands") and hasattr(value, "size"):  # a PIL image
        return value.size[0] * value.size[1] * len(value.getbands())
    if hasattr(value, "to_plotly_json"):
        return size_of(value.to_plotly_json())
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(size_of(k) + size_of(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sys.getsizeof(value) + sum(size_of(v) for v in value)
    return sys.getsizeof(value)


def weights_digest(module):
    """SHA-256 of a module's state dict (names and float32 bytes): what a result computed with it depends on."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Cache:
    """Results by key, at most `max_items` of them and at most `max_bytes` together (`size_of`), least recently
    used out; a single result larger than `max_bytes` is returned but not kept. Thread-safe."""

    def __init__(self, name, max_items=None, max_bytes=None):
        if max_items is None and max_bytes is None:
            raise ValueError(f"cache {name!r} needs a bound: max_items, max_bytes or both")
        self.name, self.max_items, self.max_bytes = name, max_items, max_bytes
        self._values = OrderedDict()  # key -> (value, bytes), least recently used first
        self._running = {}  # key -> Future of the computation under way
        self._lock = threading.Lock()
        self.bytes = self.hits = self.misses = self.joined = 0

    def __len__(self):
        return len(self._values)

    def __contains__(self, key):
        with self._lock:
            return key in self._values

    def get(self, key, compute):
        """The kept result for `key`, else the running computation's (joined), else `compute()`, kept."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                self.hits += 1
                return self._values[key][0]
            running = self._running.get(key)
            if running is None:
                running = self._running[key] = Future()
                self.misses += 1
                owner = True
            else:
                self.joined += 1
                owner = False
        if not owner:
            return running.result()  # raises what the computation raised
        try:
            value = compute()
        except BaseException as e:
            with self._lock:
                del self._running[key]
            running.set_exception(e)
            raise
        with self._lock:
            del self._running[key]
            self._keep(key, value)
        running.set_result(value)
        return value

    def peek(self, key, default=None):
        """The kept result for `key` (counted as used), or `default`; never computes."""
        with self._lock:
            if key not in self._values:
                return default
            self._values.move_to_end(key)
            return self._values[key][0]

    def put(self, key, value):
        """Keep `value` for `key` (replacing what was kept)."""
        with self._lock:
            self._keep(key, value)

    def clear(self):
        with self._lock:
            self._values.clear()
            self.bytes = 0

    def _keep(self, key, value):
        size = size_of(value) if self.max_bytes is not None else 0
        if key in self._values:
            self.bytes -= self._values.pop(key)[1]
        if self.max_bytes is not None and size > self.max_bytes:
            return
        self._values[key] = (value, size)
        self.bytes += size
        while (self.max_items is not None and len(self._values) > self.max_items) or (
                self.max_bytes is not None and self.bytes > self.max_bytes):
            self.bytes -= self._values.popitem(last=False)[1][1]

    def memoise(self, fn):
        """`fn`, its results kept here by `(fn, arguments)`. Arguments that cannot be a key (a list where a number
        belongs, sent by a client) skip the cache and reach `fn`, whose validator names the field."""

        @functools.wraps(fn)
        def call(*args, **kwargs):
            key = (fn, args, tuple(sorted(kwargs.items())))
            try:
                hash(key)
            except TypeError:
                return fn(*args, **kwargs)
            return self.get(key, lambda: fn(*args, **kwargs))

        return call
