"""playground.cache: results kept by key, bounded in entries and bytes (least recently used out), a second caller
of a key being computed joining that computation, failures kept nowhere; the weights digest results depend on."""

import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from playground.cache import Cache, size_of, weights_digest


def counted(value):
    """A compute function returning `value` and the list of its calls."""
    calls = []

    def compute():
        calls.append(value)
        return value

    return compute, calls


def wait_until(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_cache_needs_a_bound():
    with pytest.raises(ValueError, match="'views' needs a bound"):
        Cache("views")


def test_results_are_kept_and_computed_once():
    cache = Cache("views", max_items=4)
    compute, calls = counted([1, 2])
    first = cache.get("a", compute)
    assert cache.get("a", compute) is first and calls == [[1, 2]]
    assert (cache.misses, cache.hits, cache.joined) == (1, 1, 0)
    assert "a" in cache and "b" not in cache and len(cache) == 1


def test_peek_never_computes_and_put_replaces():
    cache = Cache("views", max_items=4)
    assert cache.peek("a") is None and cache.peek("a", default=0) == 0 and "a" not in cache
    cache.put("a", 1)
    cache.put("a", 2)
    assert cache.peek("a") == 2 and len(cache) == 1
    assert cache.get("a", lambda: pytest.fail("a kept result is not computed again")) == 2
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0 and cache.peek("a") is None


def test_memoise_keeps_results_by_arguments_and_passes_unhashable_input_through():
    cache = Cache("views", max_items=2)
    calls = []

    @cache.memoise
    def view(a, b=0):
        """The view's own docstring."""
        calls.append((a, b))
        if isinstance(a, list):
            raise ValueError("a must be a number")
        return a + b

    assert view.__name__ == "view" and view.__doc__ == "The view's own docstring."
    assert view(1, 2) == view(1, 2) == 3 and calls == [(1, 2)]  # kept
    assert view(1, b=2) == 3 and calls == [(1, 2), (1, 2)]  # a keyword argument is a different key
    # a list cannot be a key: the view itself answers with its message, not a TypeError from the cache
    for _ in range(2):
        with pytest.raises(ValueError, match="a must be a number"):
            view([1], 2)
    assert calls.count(([1], 2)) == 2 and len(cache) == 2  # never kept


def test_memoised_functions_sharing_a_cache_do_not_share_results():
    cache = Cache("views", max_items=4)

    @cache.memoise
    def double(x):
        return 2 * x

    @cache.memoise
    def square(x):
        return x * x

    assert (double(3), square(3)) == (6, 9)  # keyed by the function's name as well as its arguments


def test_least_recently_used_goes_first_beyond_max_items():
    cache = Cache("views", max_items=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a", lambda: pytest.fail("kept")) == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert "b" not in cache and {"a", "c"} == {k for k in "abc" if k in cache}
    assert cache.peek("a") == 1  # peek counts as a use too
    cache.put("d", 4)
    assert "c" not in cache and "a" in cache and "d" in cache and len(cache) == 2


def test_size_of_is_exact_for_tensors_and_arrays():
    assert size_of(torch.zeros(3, 5, dtype=torch.float64)) == 3 * 5 * 8
    assert size_of(torch.zeros(7, dtype=torch.uint8)) == 7
    assert size_of(torch.zeros(4, 4)[:, 0]) == 4 * 4  # a view: its own elements, not its base's
    assert size_of(np.zeros((2, 3), dtype=np.float32)) == 24
    assert size_of(b"abcd") == 4
    pair = (torch.zeros(10), torch.zeros(20))
    assert size_of(pair) > 4 * 30  # a container: its items and itself


def test_bytes_bound_evicts_least_recently_used():
    cache = Cache("frames", max_bytes=100)
    cache.put("a", torch.zeros(10))  # 40 bytes each
    cache.put("b", torch.zeros(10))
    assert cache.bytes == 80 and len(cache) == 2
    cache.peek("a")
    cache.put("c", torch.zeros(10))  # 120 > 100: "b", the least recently used, goes
    assert cache.bytes == 80 and "b" not in cache and "a" in cache and "c" in cache
    cache.put("a", torch.zeros(5))  # a replaced value's bytes are given back
    assert cache.bytes == 60
    cache.put("d", torch.zeros(25))  # 100 bytes: room is made by dropping both others
    assert cache.bytes == 100 and len(cache) == 1 and "d" in cache


def test_both_bounds_hold_together():
    cache = Cache("frames", max_items=2, max_bytes=1000)
    for key in "abc":
        cache.put(key, torch.zeros(10))
    assert len(cache) == 2 and cache.bytes == 80 and "a" not in cache


def test_a_value_larger_than_max_bytes_is_returned_but_not_kept():
    cache = Cache("frames", max_bytes=100)
    cache.put("small", torch.zeros(10))
    big = torch.zeros(26)  # 104 bytes
    compute, calls = counted(big)
    assert cache.get("big", compute) is big and cache.get("big", compute) is big
    assert len(calls) == 2 and "big" not in cache  # computed each time, never kept
    assert "small" in cache and cache.bytes == 40  # and nothing was evicted to make room for it
    cache.put("small", big)  # a too-large replacement drops the old value rather than keeping a stale one
    assert "small" not in cache and cache.bytes == 0


def test_a_second_caller_joins_the_computation_under_way():
    cache = Cache("sweeps", max_items=4)
    started, release = threading.Event(), threading.Event()
    calls, results = [], {}

    def slow():
        calls.append("slow")
        started.set()
        assert release.wait(10)
        return object()

    def ask(name, compute):
        results[name] = cache.get("sweep", compute)

    first = threading.Thread(target=ask, args=("first", slow))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=ask, args=("second", lambda: pytest.fail("joined, not computed again")))
    second.start()
    wait_until(lambda: cache.joined == 1)  # the second caller is waiting on the first's computation
    assert "second" not in results
    release.set()
    for thread in (first, second):
        thread.join(10)
    assert calls == ["slow"] and results["first"] is results["second"]
    assert (cache.misses, cache.joined, len(cache)) == (1, 1, 1)


def test_a_computation_that_raises_keeps_nothing_and_its_joined_caller_gets_the_same_error():
    cache = Cache("sweeps", max_items=4)
    started, release = threading.Event(), threading.Event()
    calls, errors = [], {}

    def failing():
        calls.append("failing")
        started.set()
        assert release.wait(10)
        raise ValueError("steps must be between 1 and 100")

    def ask(name):
        try:
            cache.get("sweep", failing)
        except ValueError as e:
            errors[name] = e

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=ask, args=("second",))
    second.start()
    wait_until(lambda: cache.joined == 1)
    release.set()
    for thread in (first, second):
        thread.join(10)
    assert calls == ["failing"] and errors["first"] is errors["second"]
    assert str(errors["second"]) == "steps must be between 1 and 100"
    assert "sweep" not in cache and len(cache) == 0
    assert cache.get("sweep", lambda: 7) == 7  # the next caller tries again


def test_weights_digest_follows_the_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    twin = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    twin.load_state_dict(model.state_dict())
    digest = weights_digest(model)
    assert len(digest) == 64 and int(digest, 16) >= 0  # SHA-256, hex
    assert weights_digest(twin) == digest  # equal weights, equal digest (another object)
    with torch.no_grad():
        twin[0].weight[1, 2] += 1e-3
    assert weights_digest(twin) != digest  # one changed weight changes it
    with torch.no_grad():
        twin[0].weight[1, 2] -= 1e-3
    assert weights_digest(twin) == digest
    assert weights_digest(model.double()) == digest  # the digest reads float32 values: dtype alone does not count
