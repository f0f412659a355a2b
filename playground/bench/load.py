"""Load test of the launched app: `python -m playground.bench.load [--clients 50] [--seconds 60] [--json F]`.

Also row 9 of `python -m playground.bench --parts load`. Not run by CI: it takes the machine for a minute or more.
It starts `python app.py` on a free port, calls every endpoint once (the warm-up), then lets --clients visitors,
each with a session of its own, send requests for --seconds, each waiting a random 1-5 s between its requests.
A request is drawn at random from `MIX`: every named endpoint at a small setting, plus bad inputs. A visitor
speaks gradio's own protocol, as the page in a browser does: it joins the queue (POST queue/join) and reads its
result from the session's event stream (GET queue/data). `gradio_client` does the same with more machinery, whose
CPU time per request would take a share of the cores from the server being measured (docs/performance.md).
Each outcome is classed as:

- answered: the endpoint returned (for a bad input this is a failure: it should have been rejected);
- bad input rejected: the app's message about the input, for a bad input (a failure for a good one);
- refused: the app said it is busy (the sampler's backlog is full) or gradio's "Queue is full";
- failed: anything else (an exception, a dropped connection). There must be none.

It reports, per endpoint, the counts and the p50/p95 latency of the requests the app handled (answered or
rejected), and the server's resident memory (RSS, from /proc) after the warm-up, during the load and after it.
"""

import argparse
import json
import multiprocessing
import os
import random
import statistics
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from playground.bench.launch import launched_app

# (endpoint, arguments, kind): kind "view" runs no sampling loop (must never be refused), "sampling" may be refused
# while the sampler is busy, "bad" must be rejected with a message. Small settings, as a curious visitor would send.
MIX = (
    ("/timestep_embedding", (256, 10000, 0, 999, 1000, "dit", "4, 4, 4, 4"), "view"),
    ("/timestep_embedding", (8, 10000, 0, 999, 1000, "diffusers", "100, 500"), "view"),
    ("/mlp_comparison", (3, 0), "view"),
    ("/mlp_comparison", (7, 1), "view"),
    ("/cfg_sweep", (3, "0, 1, 4", 2, 0, 8, "dpm++2m", True), "sampling"),
    ("/live_column", (3, 4.0, 4, 0), "sampling"),
    ("/live_column", (5, 2.5, 4, 0), "sampling"),
    ("/guided_step", (3, 0, 4, 4.0), "sampling"),
    ("/inside_dit", (3, 0, 4, 2, 0, 3, 3), "sampling"),
    ("/guidance_lab", (3, 0, 4.0, 2, 82, 578, 0.7, 8), "sampling"),
    ("/label_dropout", (3, 0, "1, 4", 1), "sampling"),
    ("/classifier_guidance", (3, 0, 2, "4", "2"), "sampling"),
    ("/cfg_sweep", (3, "1, abc", 2, 0, 8, "dpm++2m", True), "bad"),
    ("/live_column", (3, 99.0, 4, 0), "bad"),
    ("/mlp_comparison", (3, -1), "bad"),
    ("/timestep_embedding", (256, 10000, 0, 999, 1000, "dit", "4, x"), "bad"),
)
VIEW_P95_TARGET_S = 1.0  # issue 16: the views that run no sampling loop, under this load
RSS_GROWTH_TARGET = 0.25  # RSS after the load within 25% of its value after the warm-up
BUSY_MARKERS = ("busy", "queue is full")  # matched in lower case


def rss_mb(pid):
    """Resident memory of process `pid` in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid):
    """User + system CPU seconds process `pid` has used (Linux /proc; clock ticks of 1/100 s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class AppMessage(Exception):
    """The app answered with an error message (a gr.Error: bad input, busy) or gradio refused the request."""


class Visitor:
    """One browser session: joins gradio's queue over HTTP and reads the result from the session's event stream."""

    def __init__(self, url, fn_index):
        import httpx  # gradio's own HTTP client, installed with it

        self.http = httpx.Client(base_url=url + "gradio_api/", timeout=300)
        self.session, self.fn_index = uuid.uuid4().hex[:12], fn_index

    def predict(self, endpoint, args):
        """The endpoint's output data, or AppMessage with the app's message."""
        joined = self.http.post("queue/join", json={"data": list(args), "fn_index": self.fn_index[endpoint],
                                                    "session_hash": self.session, "event_data": None,
                                                    "trigger_id": None})
        if joined.status_code == 503:
            raise AppMessage("Queue is full")
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        with self.http.stream("GET", "queue/data", params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message["msg"] == "process_completed":
                    if message.get("success"):
                        return message["output"]["data"]
                    raise AppMessage(message["output"].get("error") or message.get("title") or "no message")
                if message["msg"] == "unexpected_error":
                    raise RuntimeError(message.get("message"))
        raise RuntimeError("the event stream ended before the result")


def api_functions(url):
    """{"/endpoint": fn_index} of the app at `url`, from its config (what the page reads too)."""
    with urllib.request.urlopen(url + "config", timeout=60) as response:
        config = json.load(response)
    return {f"/{dep['api_name']}": dep["id"] for dep in config["dependencies"] if dep.get("api_name")}


def classify(kind, error):
    """The outcome of one request of `kind` that raised `error` (None: it returned)."""
    if error is None:
        return "failed" if kind == "bad" else "answered"
    if not isinstance(error, AppMessage):
        return "failed"
    if any(marker in str(error).lower() for marker in BUSY_MARKERS):
        return "refused"
    return "rejected" if kind == "bad" else "failed"


def call(visitor, endpoint, args, kind):
    """(outcome, seconds, error text) of one request."""
    t0 = time.perf_counter()
    try:
        visitor.predict(endpoint, args)
        error = None
    except Exception as e:  # noqa: BLE001 - every exception is an outcome to count
        error = e
    outcome = classify(kind, error)
    return outcome, time.perf_counter() - t0, None if outcome != "failed" else f"{type(error).__name__}: {error}"


def percentile(values, q):
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def summarise(records):
    """Per endpoint: counts of each outcome and p50/p95 seconds of the handled ones (answered or rejected)."""
    table = {}
    for endpoint, kind, outcome, seconds, _ in records:
        name = f"{endpoint} (bad input)" if kind == "bad" else endpoint  # one endpoint, good and bad inputs apart
        row = table.setdefault(name, {"kind": kind, "answered": 0, "rejected": 0, "refused": 0, "failed": 0,
                                      "handled_s": []})
        row[outcome] += 1
        if outcome in ("answered", "rejected"):
            row["handled_s"].append(seconds)
    for row in table.values():
        handled = row.pop("handled_s")
        row["p50_s"] = statistics.median(handled) if handled else None
        row["p95_s"] = percentile(handled, 95) if handled else None
    return dict(sorted(table.items()))


def drive(url, fn_index, visitors, start_at, seconds, kinds, seed):
    """One process of the crowd: the `visitors` (their numbers seed their choices), each a session of its own in a
    thread, from wall-clock `start_at` for `seconds`. Returns (records, CPU seconds this process used)."""
    mix = [entry for entry in MIX if entry[2] in kinds]
    sessions = [Visitor(url, fn_index) for _ in visitors]
    records, lock = [], threading.Lock()
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before, stop_at = time.process_time(), time.monotonic() + seconds

    def visitor(index, client):
        rng = random.Random(seed * 1000 + index)
        time.sleep(rng.uniform(0, 5))  # arrivals spread out, not a thundering herd at t = 0
        while time.monotonic() < stop_at:
            endpoint, args, kind = rng.choice(mix)
            outcome, spent, error = call(client, endpoint, args, kind)
            with lock:
                records.append((endpoint, kind, outcome, spent, error))
            time.sleep(rng.uniform(1, 5))

    threads = [threading.Thread(target=visitor, args=(index, c)) for index, c in zip(visitors, sessions, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return records, time.process_time() - cpu_before


def run_load(url, pid, clients, seconds, kinds=("view", "sampling", "bad"), processes=2, seed=0):
    """Warm up, drive the app at `url` (server process `pid`) with the requests of `MIX` of those `kinds`, from
    `clients` visitors spread over `processes` client processes (one process of 50 threads would itself be a
    bottleneck: its threads share one interpreter lock), and return the report dict."""
    fn_index = api_functions(url)
    warm = Visitor(url, fn_index)
    warmup = {endpoint: call(warm, endpoint, args, kind)[0] for endpoint, args, kind in MIX if kind in kinds}
    time.sleep(2)
    rss, samples = {"after_warmup_mb": rss_mb(pid)}, []
    start_at = time.time() + 10  # time for every process to start
    chunks = [list(range(clients))[i::processes] for i in range(processes)]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(drive, url, fn_index, chunk, start_at, seconds, tuple(kinds), seed)
                   for chunk in chunks if chunk]
        time.sleep(max(0.0, start_at - time.time()))
        started, server_cpu = time.monotonic(), cpu_seconds(pid)
        while not all(future.done() for future in futures):
            samples.append(rss_mb(pid))
            time.sleep(1)
        results = [future.result() for future in futures]
    records = [record for part, _ in results for record in part]
    elapsed = time.monotonic() - started
    cores = {"server": (cpu_seconds(pid) - server_cpu) / elapsed, "clients": sum(cpu for _, cpu in results) / elapsed}
    time.sleep(5)  # idle: what the server keeps once the crowd has gone
    rss.update(during_max_mb=max(samples), after_mb=rss_mb(pid))
    rss["growth"] = rss["after_mb"] / rss["after_warmup_mb"] - 1
    per_endpoint = summarise(records)
    views = [row for row in per_endpoint.values() if row["kind"] == "view"]
    return {
        "clients": clients, "seconds": seconds, "elapsed_s": elapsed, "requests": len(records),
        "requests_per_s": len(records) / elapsed, "cores_used": cores, "warmup": warmup, "rss": rss,
        "per_endpoint": per_endpoint,
        "failures": [r[4] for r in records if r[2] == "failed"][:20],
        "targets": {
            "views_never_refused": all(row["refused"] == 0 for row in views),
            "views_p95_s": max((row["p95_s"] for row in views if row["p95_s"] is not None), default=None),
            "none_failed": not any(row["failed"] for row in per_endpoint.values()),
            "rss_within_25pct": rss["growth"] <= RSS_GROWTH_TARGET,
        },
    }


def report_markdown(report):
    cores = report["cores_used"]
    lines = [f"{report['clients']} clients for {report['elapsed_s']:.0f} s: {report['requests']} requests "
             f"({report['requests_per_s']:.1f}/s); CPU cores busy on average: the server {cores['server']:.2f}, "
             f"the clients {cores['clients']:.2f}, of {os.cpu_count()}", "",
             "| endpoint | kind | answered | bad input rejected | refused (busy) | failed | p50 | p95 |",
             "|---|---|---|---|---|---|---|---|"]
    for endpoint, row in report["per_endpoint"].items():
        times = [f"{row[k] * 1000:.0f} ms" if row[k] is not None else "-" for k in ("p50_s", "p95_s")]
        lines.append(f"| {endpoint} | {row['kind']} | {row['answered']} | {row['rejected']} | {row['refused']} | "
                     f"{row['failed']} | {' | '.join(times)} |")
    rss, targets = report["rss"], report["targets"]
    lines += ["", f"server RSS: {rss['after_warmup_mb']:.0f} MB after the warm-up, at most {rss['during_max_mb']:.0f} "
              f"MB during the load, {rss['after_mb']:.0f} MB 5 s after it ({100 * rss['growth']:+.0f}%; target "
              f"<= +{100 * RSS_GROWTH_TARGET:.0f}%)",
              f"views that run no sampling loop: p95 {targets['views_p95_s'] * 1000:.0f} ms (target <= "
              f"{VIEW_P95_TARGET_S * 1000:.0f} ms), never refused: {targets['views_never_refused']}; "
              f"none failed: {targets['none_failed']}"]
    lines += [f"failure: {text}" for text in report["failures"]]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--kinds", nargs="+", choices=("view", "sampling", "bad"), default=["view", "sampling", "bad"],
                   help="which requests of the mix to send (default: all; e.g. 'view' alone to see the views' "
                        "latency without the sampler's competition)")
    p.add_argument("--processes", type=int, default=2, help="client processes the visitors are spread over")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if min(args.clients, args.processes) < 1 or not args.seconds > 0:
        p.error("--clients and --processes must be >= 1 and --seconds > 0")
    with launched_app() as (url, pid, _):
        report = run_load(url, pid, args.clients, args.seconds, args.kinds, args.processes)
    print(report_markdown(report), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
