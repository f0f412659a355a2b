"""Measure the CFG page's live parts (issue 16, items 1-2); not run by CI or pytest.

    .venv/bin/python scripts/measure_live.py [--moves 20] [--rounds 7]

In-process first (nothing else of ours running): the live column's pure function (one scale, the default sampler
and steps, 4 samples) against the default sweep (`sample_guided` with `playground.diffusion.DEFAULT_*`), and
the unstreamed `sweep_view` against the streamed `live.stream_sweep`, medians of the same run. Then the real app
(`python app.py`) in headless Chromium at 1280x720: the live slider moved `--moves` times (slider moved -> image
changed, timed in the page), one fast drag (the newest value must win), and the Sample button's streamed sweep
(click -> first frame, click -> last frame, frames seen). Prints a table; the load average says how busy the
machine was.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 120_000
LIVE = "#cfg-live-scale input[type=range]"
# Set the range input as a person's drag does (native setter + input event), then wait for a new, decoded image.
MOVE = """async ([selector, image, value]) => {
    const input = document.querySelector(selector);
    const before = document.querySelector(image)?.src;
    const t0 = performance.now();
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, String(value));
    input.dispatchEvent(new Event("input", {bubbles: true}));
    for (;;) {
        const img = document.querySelector(image);
        if (img && img.src !== before && img.complete && img.naturalWidth > 0) return performance.now() - t0;
        if (performance.now() - t0 > 60000) return null;
        await new Promise(r => requestAnimationFrame(r));
    }
}"""
DRAG = """async ([selector, values, gap]) => {
    const input = document.querySelector(selector);
    const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
    for (const v of values) {
        set.call(input, String(v));
        input.dispatchEvent(new Event("input", {bubbles: true}));
        await new Promise(r => setTimeout(r, gap));
    }
    return performance.now();
}"""
# Click Sample; record when the grid's image changes and when the trajectory (only in the final yield) changes.
# gradio serves an image by its content's hash, so the seed must change between sweeps for the last to show.
SWEEP = """async () => {
    const grid = () => document.querySelector("#cfg-grid img")?.src;
    const summary = () => document.querySelector("#cfg-trajectory img")?.src;
    const button = [...document.querySelectorAll("button")].find(b => b.innerText.trim() === "Sample");
    let src = grid(); const text = summary(); const frames = [];
    const t0 = performance.now();
    button.click();
    for (;;) {
        const now = performance.now() - t0;
        if (grid() !== src) { src = grid(); frames.push(now); }
        if (summary() !== text) return {frames, done: now};
        if (now > 120000) return {frames, done: null};
        await new Promise(r => requestAnimationFrame(r));
    }
}"""


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def in_process(rounds):
    """Medians (ms) of the live column, the default sweep, and the sweep view unstreamed and streamed."""
    from playground.checkpoint import load_pretrained
    from playground.guidance import Guidance
    from playground.judge import load_judge
    from playground.process import apply_process_settings
    from playground.sampling import sample_guided
    from playground.views.guidance import cfg as cfg_sweep
    from playground.views.guidance import live

    apply_process_settings()
    model, judge = load_pretrained(), load_judge()
    request = cfg_sweep.validate_sweep(*cfg_sweep.DEFAULTS.values())
    column = live.LiveRequest(request.label, live.LIVE_SCALE, request.samples, request.seed)
    work = {
        "live column, pure (4 samples, 1 scale)":
            lambda: live.sample_column(model, column),
        "live column + judge + picture":
            lambda: live.live_column(model, column, judge),
        "default sweep, sample_guided": lambda: sample_guided(
            model, [request.label] * request.samples, list(request.scales), steps=request.steps, seed=0,
            sampler=request.sampler, guidance=Guidance(clip=True)),
        "sweep view, unstreamed": lambda: cfg_sweep.sweep_view(model, request, judge=judge),
        "sweep view, streamed (all frames)": lambda: list(live.stream_sweep(model, request, judge=judge)),
    }
    times = {name: [] for name in work}
    for round_ in range(rounds + 1):  # interleaved, so the machine's load falls on every row alike; round 0 warms
        for name, fn in work.items():
            start = time.perf_counter()
            fn()
            if round_:
                times[name].append((time.perf_counter() - start) * 1000)
    rows = {name: statistics.median(ms) for name, ms in times.items()}
    return rows


def in_browser(moves, streamed=True):
    from live_app import running_app, wait_for_openings
    from playwright.sync_api import sync_playwright

    log = Path(tempfile.mkdtemp()) / "app.log"
    with running_app(log, env={"PLAYGROUND_STREAM_SWEEP": "1" if streamed else "0"}) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("tab").first.wait_for(timeout=TIMEOUT_MS)
        wait_for_openings(log)  # the warm-up samples too: measure after it, as a visitor who came later
        page.get_by_role("tab", name="Guidance", exact=True).click()  # its first page is the CFG page
        page.locator(LIVE).wait_for(timeout=TIMEOUT_MS)
        values = [round(1.0 + (k * 2.3) % 12, 1) for k in range(moves + 2)]
        page.evaluate(MOVE, [LIVE, "#cfg-live-column img", 9.9])  # warm-up
        latencies = []
        for v in values[:moves]:
            latencies.append(page.evaluate(MOVE, [LIVE, "#cfg-live-column img", v]))
            page.wait_for_timeout(200)
        drag = [round(0.5 + 0.1 * k, 1) for k in range(30)]  # 30 values 20 ms apart: a 0.6 s drag
        sent = page.evaluate(DRAG, [LIVE, drag, 20])
        page.locator("#cfg-live-line").get_by_text(f"s = {drag[-1]:g}").wait_for(timeout=TIMEOUT_MS)
        drag_ms = page.evaluate("() => performance.now()") - sent
        sweeps = []
        for seed in (101, 102, 103):  # a new seed each time: the trajectory changes only with the final yield
            page.get_by_label("seed", exact=True).locator("visible=true").fill(str(seed))
            sweeps.append(page.evaluate(SWEEP))
        for _ in range(20):  # the export box fills after the sweep
            if page.locator("#cfg-exports").get_by_text(re.compile(r"\.gif")).count():
                break
            page.wait_for_timeout(500)
        exported = page.locator("#cfg-exports").get_by_text(re.compile(r"\.gif")).count() > 0
        browser.close()
    bad = [m for m in latencies if m is None]
    latencies = [m for m in latencies if m is not None]
    return {"latencies": latencies, "timeouts": len(bad), "drag_ms": drag_ms, "sweeps": sweeps, "exported": exported}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7, help="in-process rounds, each timing every row once")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = in_process(args.rounds)
    browser = in_browser(args.moves)
    plain = in_browser(3, streamed=False)["sweeps"]  # the same app with the sweep's frames switched off
    unstreamed_ms = statistics.median(s["done"] for s in plain if s["done"])
    sweep = rows["default sweep, sample_guided"]
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs); "
          f"after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"\n| measured ({args.rounds} rounds, {args.moves} moves) | ms | note |\n|---|---:|---|")
    for name, ms in rows.items():
        note = f"{ms / sweep:.2f} x the default sweep" if "live" in name else ""
        if name.startswith("sweep view, streamed"):
            note = f"{ms / rows['sweep view, unstreamed'] - 1:+.0%} vs unstreamed"
        print(f"| {name} (median) | {ms:.0f} | {note} |")
    lat = browser["latencies"]
    print(f"| slider moved -> image changed, median of {len(lat)} | {statistics.median(lat):.0f} | "
          f"p95 {p95(lat):.0f} ms, max {max(lat):.0f} ms, timeouts {browser['timeouts']} |")
    print(f"| 30-value drag (0.6 s): last value sent -> its column shown | {browser['drag_ms']:.0f} | "
          "stale values dropped (always_last) |")
    for k, s in enumerate(browser["sweeps"], 1):
        frames = s["frames"]
        print(f"| streamed sweep {k}: click -> last frame | {s['done']:.0f} | {len(frames)} grid updates, first at "
              f"{frames[0]:.0f} ms; {s['done'] / unstreamed_ms - 1:+.0%} vs unstreamed in the browser |"
              if frames and s["done"] else f"| streamed sweep {k} | - | no frames seen: {s} |")
    print(f"| unstreamed sweep (PLAYGROUND_STREAM_SWEEP=0): click -> result, median of {len(plain)} | "
          f"{unstreamed_ms:.0f} | {unstreamed_ms / rows['sweep view, unstreamed'] - 1:+.0%} vs the view in-process |")
    print(f"\nGIF/PNG export offered after the sweep: {browser['exported']}")


if __name__ == "__main__":
    main()
