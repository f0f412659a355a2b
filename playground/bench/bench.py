"""Benchmark, measured in one run: `python -m playground.bench [--devices cpu cuda] [--parts ...] [--json F]`.

Every row names the device its figure comes from: rows 1-3 and 6 (`--parts devices`) run on each of
--devices (default: the CPU, and the GPU when torch sees one); the app serves on the CPU, so rows 4
(`views`), 5 (`launches`), 7 (`judge`), 8 (`live`) and 9 (`load`) run there.
1. The app's default CFG sweep (wall time, median of --repeats runs). Off the CPU, also its largest
   pixel difference from the CPU's sweep (the same noise, so the same digits).
2. The same sweep done naively (one scale at a time; conditional and unconditional as separate
   forwards) and the speed-up ratio of ours over it; both must give the same images. One model forward
   per image at the naive loop's batch (4) and at ours (40) says what batching can buy.
3. Model FLOPs per sweep and achieved GFLOP/s against the device's measured matmul peak; on the CPU, how
   far the sweep's samples are from a float64 run of the same sweep.
4. Build time and payload bytes of the embedding and with/without-MLP views.
5. Cold start: `python app.py` until its page answers (median of --cold-starts launches), with and without
   the C line splitter of `playground/process.py`; the floor no app code can go under (the process settings
   and a bare `import gradio, torch` in a fresh interpreter); and the time importing gradio spends splitting
   source into lines, with and without the C line splitter.
6. Training throughput (images/s) of the release config.
7. Honesty check: judge accuracy per scale for the default (fast) sampler against fp32 DDIM at 50
   steps (the reference) and at the default steps, same noise; the fast path must stay within 1 point.
8. The live slider's column (the pure function), in turns with the default sweep.
9. The launched app under `--load-clients` visitors for `--load-seconds` (`playground.bench.load`).
"""

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from playground import diffusion
from playground.bench.baseline import naive_sweep
from playground.bench.launch import ROOT, launched_app
from playground.bench.load import report_markdown, run_load
from playground.checkpoint import hardware, load_pretrained
from playground.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, REFERENCE_SAMPLER, REFERENCE_STEPS
from playground.process import FAST_SOURCE_LINES_ENV, apply_process_settings
from playground.sampling import sample_guided
from playground.views.guidance.cfg import DEFAULT_LABEL, DEFAULT_SAMPLES, DEFAULT_SCALES

SWEEP_LABELS = [DEFAULT_LABEL] * DEFAULT_SAMPLES  # the app's default sweep, at DEFAULT_SCALES
SWEEP = f"{len(DEFAULT_SCALES)} scales x {len(SWEEP_LABELS)} samples, {DEFAULT_SAMPLER} {DEFAULT_STEPS} steps"


def synced(fn, device):
    """`fn` that returns only once the device has finished its work (GPU kernels run asynchronously)."""
    if device.type != "cuda":
        return fn

    def run():
        result = fn()
        torch.cuda.synchronize(device)
        return result

    return run


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


def default_sweep(model):
    return sample_guided(model, SWEEP_LABELS, DEFAULT_SCALES, steps=DEFAULT_STEPS, seed=0, sampler=DEFAULT_SAMPLER)


def python_child(code, timeout=120, **env):
    """Run `code` in a fresh interpreter in the repository (environment plus `env`); its last line, as JSON."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **env}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


MATMUL_SIZES = {"cpu": {"float32": 2048, "bfloat16": 512}, "cuda": {"float32": 8192, "bfloat16": 8192}}


def square_matmul(dtype, n, device):
    """(function that multiplies two n x n matrices, its FLOPs). On a CPU bf16 gets a smaller n: without
    bf16 units it is emulated, slowly."""
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
    return synced(lambda: a @ b, device), 2 * n**3


# torch's counter knows the GPU attention kernels but not the CPU's (4% of the model's FLOPs); the counter hands
# the formula the shapes of the arguments.
CPU_KERNEL_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: lambda q, k, v, *_, **__: sdpa_flop_count(q, k, v),
}


def model_work(model, sweep):
    """(FLOPs, images) of one run of `sweep`: the model FLOPs (matmuls, convolutions, attention) counted by
    torch as it runs, and the images it sends through `model`'s forward, counted by a hook."""
    images = []
    handle = model.register_forward_pre_hook(lambda module, args: images.append(len(args[0])))
    try:
        with FlopCounterMode(display=False, custom_mapping=CPU_KERNEL_FLOPS) as counter:
            sweep()
    finally:
        handle.remove()
    return counter.get_total_flops(), sum(images)


def view_costs(model, repeats):
    """Build time (first call, then median of repeats) and payload bytes of the two embedding views."""
    from playground.views.time import adaln, mlp, waves  # plotly: only the parts that need it load it

    out = {}
    for name, build in (  # each view at its page's defaults; the first call computes what later ones reuse
        ("timestep embedding view", lambda: waves.embedding_view(waves.validate_embedding_inputs(),
                                                                 embedder=model.t_embedder)),
        ("with vs without MLP view", lambda: mlp.mlp_view(model)),
        ("adaLN view", lambda: adaln.adaln_view(model)),
    ):
        t0 = time.perf_counter()
        build()
        first = time.perf_counter() - t0
        seconds, view = timed(build, repeats)
        payload = sum(len(v.to_json()) if hasattr(v, "to_json") else len(str(v)) for v in view.values())
        out[name] = {"first_s": first, "seconds": seconds, "payload_bytes": payload}
    return out


def cold_start(fast_source_lines=True):
    """Seconds from `python app.py` to the first HTTP 200 from its page (with or without the C line splitter)."""
    with launched_app(**{FAST_SOURCE_LINES_ENV: "1" if fast_source_lines else "0"}) as (_, _, seconds):
        return seconds


SPLITTER_PROBE = """
import ast, json, time
from playground.process import apply_process_settings
apply_process_settings()  # installs the C line splitter unless it is switched off
split, spent = ast._splitlines_no_ff, [0.0, 0]

def timed_split(source, *args):
    t0 = time.perf_counter()
    lines = split(source, *args)
    spent[0], spent[1] = spent[0] + time.perf_counter() - t0, spent[1] + 1
    return lines

ast._splitlines_no_ff = timed_split
import gradio
print(json.dumps(spent))
"""


def import_line_splitting(fast_source_lines):
    """(seconds, calls): the time a fresh `import gradio` spends splitting source files into lines, with or
    without the C line splitter. Timed around the splitter alone, so the rest of the import's noise stays out."""
    return tuple(python_child(SPLITTER_PROBE, **{FAST_SOURCE_LINES_ENV: "1" if fast_source_lines else "0"}))


def bare_imports():
    """Seconds from starting a fresh interpreter until it has applied the process settings and imported gradio
    and torch, as app.py does: the floor under cold start (the child reports the wall-clock time it got there;
    its exit is not counted)."""
    t0 = time.time()
    code = ("from playground.process import apply_process_settings; apply_process_settings(); "
            "import gradio, torch, time; print(time.time())")
    return python_child(code) - t0


def training_throughput(model, device, batch_size=64, steps=5):
    """Images/s of forward + backward + AdamW on the release config (fresh weights, same shapes)."""
    from playground.model import DiT

    net = DiT(**model.config_dict()).to(device).train()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    x = torch.rand(batch_size, 1, 28, 28, device=device) * 2 - 1
    y = torch.randint(0, 10, (batch_size,), device=device)

    def step():
        loss = diffusion.training_loss(net, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    seconds, _ = timed(synced(step, device), steps)
    return batch_size / seconds


QUALITY_PATHS = {  # name: (sampler, steps, label); all fp32
    "default": (DEFAULT_SAMPLER, DEFAULT_STEPS, f"{DEFAULT_SAMPLER} {DEFAULT_STEPS} steps (default)"),
    "reference": (REFERENCE_SAMPLER, REFERENCE_STEPS, f"{REFERENCE_SAMPLER} {REFERENCE_STEPS} steps fp32 (reference)"),
    "ddim_default_steps": (REFERENCE_SAMPLER, DEFAULT_STEPS, f"{REFERENCE_SAMPLER} {DEFAULT_STEPS} steps fp32"),
}


QUALITY_METRICS = {  # name: (table title, decimals)
    "accuracy": ("accuracy", 3),
    "frechet": ("Frechet distance to held-out digits (lower is closer)", 1),
    "diversity": ("diversity (mean distance between samples of a digit)", 2),
}


def quality(model, per_class, scales):
    """`{metric: {path: {scale: value}}}`: the judge's QUALITY_METRICS on each of QUALITY_PATHS, same seed
    (same noise). Accuracy alone rewards smooth, prototypical digits; Frechet and diversity show that."""
    from playground.cli.evaluate import evaluate_scales
    from playground.data import load_split
    from playground.judge import load_judge

    judge, split = load_judge(), load_split()
    out = {metric: {} for metric in QUALITY_METRICS}
    for name, (sampler, steps, _) in QUALITY_PATHS.items():
        rows = [row for row in evaluate_scales(model, judge, scales, per_class, steps, 0, sampler, split)
                if row["scale"] is not None]
        for metric in QUALITY_METRICS:
            out[metric][name] = {row["scale"]: row[metric] for row in rows}
    return out


FORWARD_BATCHES = (4, 40)  # the textbook loop's forward; ours at a default sweep's later steps


def forward_inputs(model, n):
    """Arguments of one model forward over n noisy images at t = 500."""
    device, cfg = next(model.parameters()).device, model.config
    return (torch.randn(n, cfg.in_channels, cfg.input_size, cfg.input_size, device=device),
            torch.full((n,), 500, device=device),
            torch.arange(n, device=device) % 10)


def device_figures(model, device, repeats):
    """Rows 1-3 and 6 on one device: a dict of figures (seconds, GFLOP, GFLOP/s, img/s)."""
    on_device = copy.deepcopy(model).to(device)  # samples come back on the CPU, so sweeps need no extra sync

    def ours_fn():
        return default_sweep(on_device)

    def naive_fn():
        return naive_sweep(on_device, SWEEP_LABELS, DEFAULT_SCALES, DEFAULT_STEPS, 0, DEFAULT_SAMPLER)

    (fp32_fn, fp32_flops), (bf16_fn, bf16_flops) = (square_matmul(getattr(torch, name), n, device)
                                                    for name, n in MATMUL_SIZES[device.type].items())
    batches = [forward_inputs(on_device, n) for n in FORWARD_BATCHES]
    forwards = [synced(lambda b=b: on_device(*b), device) for b in batches]
    # Timed in turns, so the machine's drift hits the sweeps, the fp32 peak and the forwards alike.
    with torch.no_grad():
        (ours_s, naive_s, fp32_s, *forward_s), (ours, naive, *_) = interleaved(
            [ours_fn, naive_fn, fp32_fn, *forwards], repeats)
    bf16_s, _ = timed(bf16_fn, 3)
    (flops, ours_images), (_, naive_images) = (model_work(on_device, fn) for fn in (ours_fn, naive_fn))
    peaks = {"float32": fp32_flops / fp32_s / 1e9, "bfloat16": bf16_flops / bf16_s / 1e9}
    out = dict(
        default_sweep_s=ours_s, naive_sweep_s=naive_s, batched_over_naive=naive_s / ours_s,
        naive_max_abs_diff=(naive - ours).abs().max().item(), sweep_gflop=flops / 1e9,
        achieved_gflops=flops / 1e9 / ours_s, matmul_peak_gflops=peaks,
        utilisation_pct=100 * flops / 1e9 / ours_s / peaks["float32"],
        train_images_per_s=training_throughput(model, device),
        forward_ms_per_image={n: 1000 * sec / n for n, sec in zip(FORWARD_BATCHES, forward_s, strict=True)},
        images_per_sweep={"ours": ours_images, "naive": naive_images},
    )
    if device.type == "cpu":  # float32's own rounding, against a float64 run of the same sweep
        exact = default_sweep(model.float64_twin())
        out["float64_max_abs_diff_per_scale"] = [(a - b).abs().max().item() for a, b in zip(ours, exact, strict=True)]
    else:  # the noise is drawn on the CPU, so every device should draw the same digits
        out["cpu_max_abs_diff"] = (ours - default_sweep(model)).abs().max().item()
    return out


def device_rows(name, fig, release):
    """Table rows (measure, device, value, note) of `device_figures`' dict `fig`."""
    sizes = MATMUL_SIZES[name]
    sweep_note = "target <= 1500 ms on the 2-core CPU"
    if "cpu_max_abs_diff" in fig:
        sweep_note += f"; largest pixel difference from the CPU's sweep {fig['cpu_max_abs_diff']:.1e}"
    rows = [
        ("default CFG sweep (" + SWEEP + ")", f"{fig['default_sweep_s'] * 1000:.0f} ms", sweep_note),
        ("same sweep, naive (one scale at a time, 2 forwards)", f"{fig['naive_sweep_s'] * 1000:.0f} ms",
         f"batched is {fig['batched_over_naive']:.2f}x faster (target >= 2x); largest pixel difference "
         f"{fig['naive_max_abs_diff']:.1e}"),
    ]
    if "float64_max_abs_diff_per_scale" in fig:
        rows.append(("same sweep against a float64 run: largest pixel difference",
                     f"{max(fig['float64_max_abs_diff_per_scale']):.1e}",
                     "float32's own rounding, amplified by s up to 10"))
    small, large = (fig["forward_ms_per_image"][n] for n in FORWARD_BATCHES)
    ours, naive = fig["images_per_sweep"]["ours"], fig["images_per_sweep"]["naive"]
    rows.append((f"one model forward, per image, batch {FORWARD_BATCHES[0]} / {FORWARD_BATCHES[1]}",
                 f"{small:.2f} / {large:.2f} ms", f"bigger batches buy {small / large:.2f}x; the sweep also sends "
                 f"{ours} images through the model where the naive one sends {naive} ({naive / ours:.2f}x)"))
    peaks = fig["matmul_peak_gflops"]
    rows += [
        ("model FLOPs per default sweep", f"{fig['sweep_gflop']:.1f} GFLOP",
         f"{fig['achieved_gflops']:.1f} GFLOP/s achieved"),
        (f"matmul peak fp32 ({sizes['float32']}^3) / bf16 ({sizes['bfloat16']}^3)",
         f"{peaks['float32']:.0f} / {peaks['bfloat16']:.0f} GFLOP/s",
         f"utilisation {fig['utilisation_pct']:.0f}% of the fp32 peak"),
        ("training throughput, release config, batch 64", f"{fig['train_images_per_s']:.0f} img/s", release),
    ]
    return [(measure, name, value, note) for measure, value, note in rows]


def live_costs(model, repeats):
    """Seconds (median) of one live-slider column (4 samples, pure function) and of the default sweep, in turns."""
    from playground.views.guidance import live

    column = lambda: live.live_column(model, live.LiveRequest(DEFAULT_LABEL, live.LIVE_SCALE, DEFAULT_SAMPLES, 0))  # noqa: E731
    (column_s, sweep_s), _ = interleaved([column, lambda: default_sweep(model)], repeats)
    return {"live_column_s": column_s, "default_sweep_s": sweep_s}


PARTS = ("devices", "views", "live", "launches", "load", "judge")  # rows 1-3 and 6; 4; 8; 5; 9; 7


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=None,
                   help="where rows 1-3 and 6 run (default: cpu, and cuda when torch sees a GPU)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                   help="which rows to measure (default: all); 'devices' alone needs neither gradio nor the "
                        "training data, for a GPU machine that has little beyond PyTorch")
    p.add_argument("--quality-per-class", type=int, default=30, help="samples per digit per scale for the judge")
    p.add_argument("--quality-scales", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0, 8.0])
    p.add_argument("--cold-starts", type=int, default=5, help="launches of the app to take the median of")
    p.add_argument("--load-clients", type=int, default=50, help="visitors of the load test (part 'load')")
    p.add_argument("--load-seconds", type=float, default=60, help="how long the load test lasts")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if min(args.repeats, args.quality_per_class, args.cold_starts) < 1:
        p.error("--repeats, --cold-starts and --quality-per-class must be >= 1")
    if "judge" in args.parts:  # the part that samples at --quality-scales
        from playground.views.guidance.cfg import SCALE_RANGE  # plotly: only the parts that need it load it

        low, high = SCALE_RANGE
        if not all(low <= scale <= high for scale in args.quality_scales):  # also refuses NaN
            p.error(f"--quality-scales must lie in {low:g}..{high:g}, the app's range")
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices and not torch.cuda.is_available():
        p.error("--devices cuda: torch sees no CUDA GPU here")
    args.devices = list(dict.fromkeys(devices))
    return args


def launches(cold_starts):
    """Row 5's figures: `(report entries, table rows)` from `cold_starts` launches taken in turns."""
    runs = [(cold_start(), cold_start(fast_source_lines=False), bare_imports()) for _ in range(cold_starts)]
    (fast, calls), (slow, _) = (import_line_splitting(on) for on in (True, False))
    measures = ("cold_start", "cold_start_python_splitter", "bare_imports")
    medians = dict(zip(measures, (statistics.median(column) for column in zip(*runs, strict=True)), strict=True))
    report = {**{f"{name}_s": value for name, value in medians.items()},
              "launches_s": [dict(zip(measures, run, strict=True)) for run in runs],
              "import_line_splitting_s": {"c": fast, "python": slow, "calls": calls}}
    rows = [
        ("cold start (python app.py -> page answers)", "cpu", f"{medians['cold_start']:.1f} s",
         f"median of {cold_starts}; target <= 6 s; {medians['cold_start_python_splitter']:.1f} s with "
         f"Python 3.11's own splitter ({FAST_SOURCE_LINES_ENV}=0), launches taken in turns"),
        ("process settings and a bare `import gradio, torch` in a fresh interpreter", "cpu",
         f"{medians['bare_imports']:.1f} s", f"the floor under cold start: no app code runs; cold start is "
         f"{medians['cold_start'] - medians['bare_imports']:.2f} s above it (target <= 0.9 s)"),
        ("`import gradio` splitting source files into lines", "cpu", f"{fast:.2f} s",
         f"{slow:.2f} s with Python 3.11's own splitter ({FAST_SOURCE_LINES_ENV}=0); {calls:.0f} calls, "
         "for gradio's stub checks"),
    ]
    return report, rows


def print_judge(judged, per_class, q_scales):
    """Row 7 as tables (one per metric, a row per path); returns the largest accuracy gaps at s > 0."""
    print(f"\nthe judge on the cpu, {per_class} samples per digit per scale, seed 0 (the same noise on every path):")
    for metric, (title, digits) in QUALITY_METRICS.items():
        print(f"\n{title}\n\n| path | " + " | ".join(f"s = {s:g}" for s in q_scales) + " |")
        print("|---" * (len(q_scales) + 1) + "|")
        for name, (_, _, label) in QUALITY_PATHS.items():
            print(f"| {label} | " + " | ".join(f"{judged[metric][name][s]:.{digits}f}" for s in q_scales) + " |")
    acc, guided = judged["accuracy"], [s for s in q_scales if s > 0]
    if not guided:
        return None
    gaps = {name: max(100 * abs(acc["default"][s] - acc[name][s]) for s in guided) for name in acc if name != "default"}
    print("\nlargest accuracy gap at s > 0 (allowed: 1 point): "
          + "; ".join(f"{gap:.1f} against {QUALITY_PATHS[name][2]}" for name, gap in gaps.items()))
    return gaps


def main(argv=None):
    args = parse_args(argv)
    parts = set(args.parts)
    apply_process_settings()  # as the app and the other command lines do
    # Launches first, while the machine is as a user starting the app finds it (long compute can slow later work).
    launch_report, launch_rows = launches(args.cold_starts) if "launches" in parts else ({}, [])
    torch.manual_seed(0)
    model = load_pretrained()
    names = {name: hardware(torch.device(name)) for name in (args.devices if "devices" in parts else ["cpu"])}
    report = {"devices": names, "sweep": SWEEP, "parts": [part for part in PARTS if part in parts], **launch_report}
    print(f"# DiT Playground benchmark, torch {torch.__version__}", flush=True)
    print("\n".join(f"- {name}: {what}" for name, what in names.items()) + "\n", flush=True)

    rows = []
    if "devices" in parts:
        run = model.card["training"]
        release = (f"the release run on {run['hardware']}: "
                   f"{run['global_batch'] * run['steps'] / run['wall_time_s']:.0f} img/s (from its model card)")
        report["per_device"] = {}
        for name in args.devices:
            report["per_device"][name] = device_figures(model, torch.device(name), args.repeats)
            rows += device_rows(name, report["per_device"][name], release)
    if "views" in parts:
        for view, cost in view_costs(model, args.repeats).items():
            report[view] = cost
            rows.append((view, "cpu", f"{cost['seconds'] * 1000:.0f} ms, {cost['payload_bytes'] / 1e6:.2f} MB",
                         f"first call {cost['first_s'] * 1000:.0f} ms; target <= 150 ms, <= 1.5 MB"))
    if "live" in parts:
        report["live"] = lv = live_costs(model, args.repeats)
        rows.append(("live slider: one column (4 samples, 8 steps), server-side", "cpu",
                     f"{lv['live_column_s'] * 1000:.0f} ms", f"{lv['live_column_s'] / lv['default_sweep_s']:.2f}x the "
                     f"default sweep ({lv['default_sweep_s'] * 1000:.0f} ms, in turns); target <= 150 ms"))
    rows += launch_rows
    if rows:
        print("| measure | device | value | note |\n|---|---|---|---|")
        print("\n".join(f"| {' | '.join(row)} |" for row in rows), flush=True)
    if "load" in parts:
        with launched_app() as (url, pid, _):
            report["load"] = run_load(url, pid, args.load_clients, args.load_seconds)
        print("\nthe launched app under load (`python -m playground.bench.load`):\n\n"
              + report_markdown(report["load"]), flush=True)
    if "judge" in parts:
        report["judge"] = quality(model, args.quality_per_class, args.quality_scales)
        report["max_accuracy_gap_points"] = print_judge(report["judge"], args.quality_per_class, args.quality_scales)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
