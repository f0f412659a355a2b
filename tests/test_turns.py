"""playground.ui.turns: the sampler's turns run one request, hold the waiting ones, refuse the rest at once."""

import threading
import time

import gradio as gr
import pytest

from playground.ui.turns import Turns


def wait_until(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_turns_run_one_hold_the_waiting_and_refuse_the_rest():
    turns = Turns("the sampler", running=1, waiting=1)
    release, order = threading.Event(), []

    def request(name, hold=None):
        with turns.turn():
            order.append(name)
            if hold is not None:
                hold.wait(10)

    first = threading.Thread(target=request, args=("first", release))
    first.start()
    wait_until(lambda: turns.running == 1)
    second = threading.Thread(target=request, args=("second",))
    second.start()
    wait_until(lambda: turns.waiting == 1)
    with pytest.raises(gr.Error, match="Busy: the sampler is running 1 request"):  # refused at once, not queued
        request("third")
    release.set()
    for thread in (first, second):
        thread.join(10)
    assert order == ["first", "second"] and (turns.running, turns.waiting) == (0, 0)
    with pytest.raises(RuntimeError), turns.turn():
        raise RuntimeError("a failed run")
    assert (turns.running, turns.waiting) == (0, 0)  # an error gives the turn back
