"""`playground.bench.load`: outcomes are classed by what the app said, counted and timed per endpoint; a short real
run."""

import pytest
from live_app import running_app, server_process

from playground.bench import load
from playground.bench.load import AppMessage, classify, summarise


@pytest.mark.parametrize(("kind", "error", "outcome"), [
    ("view", None, "answered"),
    ("bad", None, "failed"),  # a bad input that was answered was not caught
    ("sampling", AppMessage("Busy: the sampler is running 1 request(s) and 3 more are waiting"), "refused"),
    ("view", AppMessage("Queue is full"), "refused"),
    ("bad", AppMessage("seed must be between 0 and 2147483647, got -1."), "rejected"),
    ("view", AppMessage("seed must be between 0 and 2147483647, got -1."), "failed"),  # a good input refused
    ("view", RuntimeError("the event stream ended before the result"), "failed"),
])
def test_outcomes_follow_what_the_app_said(kind, error, outcome):
    assert classify(kind, error) == outcome


def test_summary_counts_and_times_per_endpoint():
    records = [("/a", "view", "answered", s, None) for s in (0.1, 0.2, 0.3, 0.4, 1.0)]
    records += [("/a", "bad", "rejected", 0.05, None), ("/b", "sampling", "refused", 0.01, None),
                ("/b", "sampling", "answered", 2.0, None)]
    table = summarise(records)
    assert list(table) == ["/a", "/a (bad input)", "/b"]  # good and bad inputs of one endpoint kept apart
    assert table["/a"]["answered"] == 5 and table["/a"]["p50_s"] == 0.3
    assert table["/a"]["p95_s"] == pytest.approx(0.4 + 0.8 * (1.0 - 0.4))  # inclusive quantile between 4th and 5th
    assert table["/b"]["refused"] == 1 and table["/b"]["p50_s"] == 2.0  # refusals are counted, not timed


@pytest.mark.slow
def test_a_short_load_on_the_launched_app(tmp_path):
    with running_app(tmp_path / "app.log") as url:
        report = load.run_load(url, server_process(url).pid, clients=4, seconds=4, processes=2)
    assert all(outcome in ("answered", "rejected", "refused") for outcome in report["warmup"].values())
    assert report["targets"]["none_failed"] and report["targets"]["views_never_refused"], report["failures"]
    assert report["requests"] > 0 and report["rss"]["after_warmup_mb"] > 100
