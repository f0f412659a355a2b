"""How requests share the server's two cores: the views that draw no samples in gradio's queue, the sampling
requests in turns of their own (`SAMPLER`, and `LIVE` for the live slider)."""

import threading
from contextlib import contextmanager

import gradio as gr

VIEW_CONCURRENCY = 2  # requests of each view that draws no samples that run at once
# gradio's queue holds every view's waiting requests together and, once full, turns all of them away: the views
# that draw no samples would be refused because sweeps filled it. So sampling requests do not wait in it (their
# lane has no limit) but in `SAMPLER`'s turns below, which refuse the excess at once; the queue stays short.
QUEUE_MAX_SIZE = 256  # a bound on waiting requests, reached only by a flood of visitors
SAMPLING_LANE = {"concurrency_limit": None, "concurrency_id": "sampling"}  # event settings of sampling requests


class Turns:
    """At most `running` requests run at once and `waiting` more wait for a turn; beyond that a request is refused
    at once with a message. On 2 CPU cores a second concurrent sweep would only halve the speed of both."""

    def __init__(self, what, running, waiting):
        self.what, self.max_running, self.max_waiting = what, running, waiting
        self.running = self.waiting = 0
        self._changed = threading.Condition()

    @contextmanager
    def turn(self):
        with self._changed:
            if self.running >= self.max_running and self.waiting >= self.max_waiting:
                raise gr.Error(f"Busy: {self.what} is running {self.running} request(s) and {self.waiting} more are "
                               "waiting, the most this server holds. Please try again in a few seconds; the views "
                               "that draw no samples still answer meanwhile.", title="Busy")
            self.waiting += 1
            try:
                self._changed.wait_for(lambda: self.running < self.max_running)
            finally:
                self.waiting -= 1
            self.running += 1
        try:
            yield
        finally:
            with self._changed:
                self.running -= 1
                self._changed.notify()


# Every request that runs the sampler takes a turn here (after its inputs are checked, so a bad input is still
# answered with what is wrong). The live slider has turns of its own, so a running sweep does not hold it up.
SAMPLER = Turns("the sampler", running=1, waiting=3)
LIVE = Turns("the live slider", running=1, waiting=1)
