"""Benchmark, measured in one run: `python -m playground.bench [--json bench.json]`.

1. The UI's default CFG sweep (wall time, median of --repeats runs).
2. The same sweep done naively (one scale at a time; conditional and unconditional as separate
   forwards) and the speed-up ratio of ours over it; both must give the same images. Also the
   sweep in a child process with glibc's default malloc thresholds (see `playground/__init__.py`).
3. Model FLOPs per sweep and achieved GFLOP/s against this machine's measured matmul peak.
4. Build time and payload bytes of the embedding and with/without-MLP views.
5. Cold start: `python app.py` until its page answers (median of --cold-starts launches), next to
   the floor no app code can go under: a bare `import gradio, torch` in a fresh interpreter.
6. Training throughput (images/s) of the release config on this machine.
7. Honesty check: judge accuracy per scale for the default (fast) sampler against the reference
   path (fp32 DDIM at 50 steps), same noise; the fast path must stay within 1 point.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from playground import MALLOC_TUNING_ENV, diffusion, figures
from playground.checkpoint import hardware, load_pretrained
from playground.diffusion import (
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    REFERENCE_SAMPLER,
    REFERENCE_STEPS,
    sample_cfg_sweep,
)
from playground.ui import DEFAULT_LABEL, DEFAULT_SAMPLES, DEFAULT_SCALES, EMBEDDING_DEFAULTS, MLP_DEFAULT_LABEL

ROOT = Path(__file__).resolve().parent.parent
SWEEP_SCALES = figures.parse_scales(DEFAULT_SCALES)  # the UI's default sweep
SWEEP_LABELS = [DEFAULT_LABEL] * DEFAULT_SAMPLES


def interleaved(fns, repeats):
    """Median seconds of each function, timed in turns (so machine noise hits them alike), after a warm-up."""
    results = [fn() for fn in fns]
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, spent in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times], results


def timed(fn, repeats):
    """(median seconds, result) of one function."""
    (seconds,), (result,) = interleaved([fn], repeats)
    return seconds, result


def naive_sweep(model, labels, scales, steps, seed, sampler):
    """The textbook loop: one scale at a time, the two CFG branches as two forwards."""
    columns = [sample_cfg_sweep(model, labels, [scale], steps=steps, seed=seed, sampler=sampler, naive=True)
               for scale in scales]
    return torch.cat(columns)


def default_sweep(model):
    return sample_cfg_sweep(model, SWEEP_LABELS, SWEEP_SCALES, steps=DEFAULT_STEPS, seed=0, sampler=DEFAULT_SAMPLER)


def sweep_in_child(repeats, malloc_tuning):
    """Median seconds of the default sweep in a fresh process, with or without our malloc tuning."""
    env = {**os.environ, MALLOC_TUNING_ENV: "1" if malloc_tuning else "0"}
    code = ("import json; from playground.bench import default_sweep, timed; "
            "from playground.checkpoint import load_pretrained; m = load_pretrained(); "
            f"print(json.dumps(timed(lambda: default_sweep(m), {repeats})[0]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def matmul_peak(dtype, n, repeats=3):
    """GFLOP/s of an n x n x n matmul (bf16 gets a smaller n: without bf16 units it is emulated, slowly)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    seconds, _ = timed(lambda: a @ b, repeats)
    return 2 * n**3 / seconds / 1e9


def sweep_flops(sweep):
    """Model FLOPs of one sweep (matmuls, convolutions, attention), counted by torch as it runs."""
    with FlopCounterMode(display=False) as counter:
        sweep()
    return counter.get_total_flops()


def view_costs(model, repeats):
    """Build time (first call, then median of repeats) and payload bytes of the two embedding views."""
    out = {}
    for name, build in (
        ("timestep embedding view", lambda: figures.embedding_view(**EMBEDDING_DEFAULTS, embedder=model.t_embedder)),
        ("with vs without MLP view", lambda: figures.mlp_view(model, MLP_DEFAULT_LABEL, 0)),
    ):
        figures.family_stats.cache_clear()
        t0 = time.perf_counter()
        build()
        first = time.perf_counter() - t0
        seconds, view = timed(build, repeats)
        payload = sum(len(v.to_json()) if hasattr(v, "to_json") else len(str(v)) for v in view.values())
        out[name] = {"first_s": first, "seconds": seconds, "payload_bytes": payload}
    return out


def cold_start(timeout=120):
    """Seconds from `python app.py` to the first HTTP 200 from its page."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"app did not answer within {timeout}s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def bare_imports():
    """Seconds from starting a fresh interpreter until it has imported gradio and torch: the floor under
    cold start (the child reports the wall-clock time it got there; its exit is not counted)."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", "import gradio, torch, time; print(time.time())"], cwd=ROOT,
                          check=True, timeout=120, capture_output=True, text=True,
                          env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    return float(proc.stdout.split()[-1]) - t0


def training_throughput(model, batch_size=64, steps=5):
    """Images/s of forward + backward + AdamW on the release config (fresh weights, same shapes)."""
    from playground.model import DiT

    net = DiT(**model.config_dict()).train()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    x, y = torch.rand(batch_size, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (batch_size,))

    def step():
        loss = diffusion.training_loss(net, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    seconds, _ = timed(step, steps)
    return batch_size / seconds


def quality(model, per_class, scales):
    """Judge accuracy per scale, fast default path vs the reference path, same seed (same noise)."""
    from playground.data import load_split
    from playground.evaluate import evaluate_scales
    from playground.judge import load_judge

    judge, split = load_judge(), load_split()
    rows = {}
    for name, sampler, steps in (("default", DEFAULT_SAMPLER, DEFAULT_STEPS),
                                 ("reference", REFERENCE_SAMPLER, REFERENCE_STEPS)):
        result = evaluate_scales(model, judge, scales, per_class, steps, 0, sampler, split)
        rows[name] = {row["scale"]: row["accuracy"] for row in result if row["scale"] is not None}
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quality-per-class", type=int, default=30, help="0 skips the judge comparison (slow)")
    p.add_argument("--quality-scales", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0, 8.0])
    p.add_argument("--cold-starts", type=int, default=3, help="launches of the app to take the median of")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.repeats < 1 or args.quality_per_class < 0 or args.cold_starts < 1:
        p.error("--repeats and --cold-starts must be >= 1 and --quality-per-class >= 0")
    if not all(0 <= scale <= 20 for scale in args.quality_scales):  # also refuses NaN
        p.error("--quality-scales must lie in 0..20")

    torch.manual_seed(0)
    model = load_pretrained()
    device = hardware(torch.device("cpu"))
    report = {"device": device, "sweep": f"{len(SWEEP_SCALES)} scales x {len(SWEEP_LABELS)} samples, "
              f"{DEFAULT_SAMPLER} {DEFAULT_STEPS} steps"}
    print(f"# DiT Playground benchmark on {device}, torch {torch.__version__}\n", flush=True)

    def ours_fn():
        return default_sweep(model)

    def naive_fn():
        return naive_sweep(model, SWEEP_LABELS, SWEEP_SCALES, DEFAULT_STEPS, 0, DEFAULT_SAMPLER)

    (ours_s, naive_s), (ours, naive) = interleaved([ours_fn, naive_fn], args.repeats)
    max_diff = (naive - ours).abs().max().item()
    tuned_child_s, untuned_child_s = (sweep_in_child(args.repeats, tuning) for tuning in (True, False))
    flops = sweep_flops(ours_fn)
    peaks = {"float32": matmul_peak(torch.float32, 2048), "bfloat16": matmul_peak(torch.bfloat16, 512)}
    report.update(
        default_sweep_s=ours_s, naive_sweep_s=naive_s, batched_over_naive=naive_s / ours_s,
        naive_max_abs_diff=max_diff, child_sweep_s=tuned_child_s, child_sweep_glibc_malloc_defaults_s=untuned_child_s,
        sweep_gflop=flops / 1e9,
        achieved_gflops=flops / 1e9 / ours_s, matmul_peak_gflops=peaks,
        utilisation_pct=100 * flops / 1e9 / ours_s / peaks["float32"],
    )
    rows = [
        ("default CFG sweep (" + report["sweep"] + ")", f"{ours_s * 1000:.0f} ms", "target <= 1500 ms"),
        ("same sweep, naive (one scale at a time, 2 forwards)", f"{naive_s * 1000:.0f} ms",
         f"batched is {naive_s / ours_s:.2f}x faster (target >= 2x); largest pixel difference {max_diff:.1e}"),
        ("same sweep in a child process, glibc's default malloc", f"{untuned_child_s * 1000:.0f} ms",
         f"{untuned_child_s / tuned_child_s:.2f}x the time with our malloc thresholds ({tuned_child_s * 1000:.0f} ms "
         "in a child process too)"),
        ("model FLOPs per default sweep", f"{flops / 1e9:.1f} GFLOP",
         f"{flops / 1e9 / ours_s:.1f} GFLOP/s achieved"),
        ("matmul peak fp32 (2048^3) / bf16 (512^3)", f"{peaks['float32']:.0f} / {peaks['bfloat16']:.0f} GFLOP/s",
         f"utilisation {report['utilisation_pct']:.0f}% of fp32 peak"),
    ]
    for name, cost in view_costs(model, args.repeats).items():
        report[name] = cost
        rows.append((name, f"{cost['seconds'] * 1000:.0f} ms, {cost['payload_bytes'] / 1e6:.2f} MB",
                     f"first call {cost['first_s'] * 1000:.0f} ms; target <= 150 ms, <= 1.5 MB"))
    starts, floors = zip(*((cold_start(), bare_imports()) for _ in range(args.cold_starts)), strict=True)
    report.update(cold_start_s=statistics.median(starts), bare_imports_s=statistics.median(floors))
    rows.append(("cold start (python app.py -> page answers)", f"{report['cold_start_s']:.1f} s",
                 f"median of {args.cold_starts}; target <= 6 s"))
    rows.append(("bare `import gradio, torch` in a fresh interpreter", f"{report['bare_imports_s']:.1f} s",
                 "the floor under cold start: no app code runs"))
    report["train_images_per_s"] = training_throughput(model)
    run = model.card["training"]
    release_ips = run["global_batch"] * run["steps"] / run["wall_time_s"]
    rows.append(("training throughput, release config, batch 64", f"{report['train_images_per_s']:.0f} img/s",
                 f"the release run on {run['hardware']}: {release_ips:.0f} img/s (from its model card)"))
    print("| measure | value | note |\n|---|---|---|")
    print("\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows), flush=True)

    if args.quality_per_class:
        q_scales = args.quality_scales
        acc = quality(model, args.quality_per_class, q_scales)
        report["judge_accuracy"] = acc
        print(f"\njudge accuracy, {args.quality_per_class} per class per scale, seed 0:\n")
        print("| path | " + " | ".join(f"s = {s:g}" for s in q_scales) + " |")
        print("|---" * (len(q_scales) + 1) + "|")
        for name, label in (("default", f"{DEFAULT_SAMPLER} {DEFAULT_STEPS} steps (default)"),
                            ("reference", f"{REFERENCE_SAMPLER} {REFERENCE_STEPS} steps fp32 (reference)")):
            print(f"| {label} | " + " | ".join(f"{acc[name][s]:.3f}" for s in q_scales) + " |")
        gaps = [100 * abs(acc["default"][s] - acc["reference"][s]) for s in q_scales if s > 0]
        if gaps:
            report["max_accuracy_gap_points"] = max(gaps)
            print(f"\nlargest gap at s > 0: {max(gaps):.1f} points (allowed: 1)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
