"""The sample and evaluate command lines, run as a user runs them (subprocess), plus the grid builder."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from playground.bench import bench
from playground.checkpoint import load_pretrained
from playground.cli import sample
from playground.grids import sweep_grid

REPO = sample.__file__.rsplit("/playground/", 1)[0]


def run(module, *args):
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_the_command_lines_import_neither_plotly_nor_gradio():
    check = ("import sys, playground.cli.sample, playground.cli.evaluate; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'plotly', 'gradio'}))")
    out = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sample_cli_writes_grid_and_npy(tmp_path):
    png, npy = tmp_path / "grid.png", tmp_path / "samples.npy"
    result = run("playground.cli.sample", "--labels", "3", "7", "--n", "2", "--scales", "0", "4", "7",
                 "--steps", "2", "--out", str(png), "--npy", str(npy))
    assert result.returncode == 0, result.stderr
    samples = np.load(npy)
    assert samples.shape == (3, 4, 28, 28) and samples.dtype == np.uint8
    grid = Image.open(png)
    assert grid.size == sweep_grid(samples, [0, 4, 7], row_labels=[3, 3, 7, 7], cell=3 * 28).size


def test_sample_cli_writes_a_denoising_gif_ending_on_the_png(tmp_path):
    png, gif = tmp_path / "grid.png", tmp_path / "steps.gif"
    result = run("playground.cli.sample", "--labels", "3", "--n", "2", "--scales", "0", "4", "--steps", "3",
                 "--out", str(png), "--gif", str(gif))
    assert result.returncode == 0, result.stderr
    with Image.open(gif) as animation:
        frames = [frame.convert("L") for frame in ImageSequence.Iterator(animation)]
    assert len(frames) == 3 and len({frame.size for frame in frames}) == 1
    final, last = np.asarray(Image.open(png).convert("L")), np.asarray(frames[-1])
    band = last.shape[0] - final.shape[0]  # the "step 3/3 · t = 0" band over the grid
    assert band > 0 and np.array_equal(last[band:], final)


def test_grid_places_each_digit_under_its_header():
    rng = np.random.default_rng(0)
    samples = rng.integers(0, 256, (2, 3, 28, 28), dtype=np.uint8)
    grid = np.asarray(sweep_grid(samples, [1.0, 4.5], cell=56))[..., 0]
    pad, header = 6, 18 + 2 * 6 + 4  # labelled_grid's defaults: pad 6, font 18
    assert grid.shape == (header + 3 * (56 + pad) + pad, 2 * (56 + pad) + pad)
    for j in range(2):
        x = pad + j * (56 + pad)
        for i in range(3):
            y = header + i * (56 + pad)
            assert np.array_equal(grid[y : y + 56 : 2, x : x + 56 : 2], samples[j, i])
        assert (grid[:header, x : x + 56] < 128).any()  # the "s = ..." header is drawn there
    with pytest.raises(ValueError, match="do not match"):
        sweep_grid(samples, [1.0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--labels", "12"], "--labels"),
        (["--scales", "nan"], "--scales"),
        (["--scales"], "--scales"),
        (["--steps", "0"], "--steps"),
        (["--steps", "1001"], "--steps"),
        (["--n", "0"], "--n"),
        (["--sampler", "euler"], "--sampler"),
    ],
)
def test_sample_rejects_bad_args(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sample.parse_args(args)
    assert exit_info.value.code != 0
    assert message in capsys.readouterr().err


def test_cli_bad_args_exit_nonzero_with_message(tmp_path):
    result = run("playground.cli.sample", "--labels", "10", "--out", str(tmp_path / "x.png"))
    assert result.returncode != 0 and "--labels must be digits 0..9" in result.stderr
    missing = tmp_path / "nothing.safetensors"
    result = run("playground.cli.sample", "--weights", str(missing), "--out", str(tmp_path / "x.png"))
    assert result.returncode != 0 and str(missing) in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_evaluate_cli_small_run(tmp_path):
    out = tmp_path / "eval.json"
    result = run("playground.cli.evaluate", "--per-class", "2", "--steps", "3", "--scales", "0", "4",
                 "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "s = 0:" in result.stderr and "s = 4:" in result.stderr  # a progress line per scale
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3 and "accuracy" in table[0]
    assert table[2].startswith("| s = 0 |") and table[4].startswith("| held-out real |")
    report = json.loads(out.read_text())
    assert report["settings"]["scales"] == [0.0, 4.0] and report["settings"]["per_class"] == 2
    keys = {"name", "scale", "samples", "accuracy", "confidence", "label_entropy", "frechet", "diversity",
            "nearest_train_mean", "nearest_train_median"}
    assert all(keys <= set(row) for row in report["rows"])
    assert [row["samples"] for row in report["rows"]] == [20, 20, 500]
    assert report["rows"][-1]["accuracy"] >= 0.97  # the reference row is the real held-out digits


def run_bench(tmp_path, *args, prelude="pass"):
    """(report, stdout) of `python -m playground.bench ... --json`, after `prelude` in the same interpreter."""
    out = tmp_path / "bench.json"
    code = f"{prelude}; from playground.bench.bench import main; main({[*args, '--json', str(out)]!r})"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text()), result.stdout


def table_rows(stdout):
    """The rows of the bench's measure table (the judge's tables follow it, after a blank line)."""
    lines = stdout.splitlines()
    start = lines.index("| measure | device | value | note |")
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return [line.split(" | ") for line in lines[start:end] if "---" not in line]


def flops_per_image(model):
    """One image's model FLOPs in a forward, written out layer by layer (matmuls and attention)."""
    cfg = model.config
    tokens, d, patch = (cfg.input_size // cfg.patch_size) ** 2, cfg.hidden_size, cfg.patch_size**2 * cfg.in_channels
    matmul = lambda rows, k, m: 2 * rows * k * m  # noqa: E731
    block = (matmul(1, d, 6 * d) + matmul(tokens, d, 3 * d) + 2 * matmul(tokens, tokens, d)  # adaLN, qkv, attention
             + matmul(tokens, d, d) + 2 * matmul(tokens, d, int(cfg.mlp_ratio * d)))  # out projection, MLP
    return (matmul(tokens, patch, d) + matmul(1, model.t_embedder.frequency_embedding_size, d)
            + matmul(1, d, d) + cfg.depth * block + matmul(1, d, 2 * d) + matmul(tokens, d, patch))


def test_bench_counts_every_model_flop_of_a_forward():
    model = load_pretrained()
    cfg, n = model.config, 5
    x, t, y = torch.randn(n, 1, cfg.input_size, cfg.input_size), torch.full((n,), 500), torch.arange(n)
    with torch.no_grad():
        assert bench.model_work(model, lambda: model(x, t, y)) == (n * flops_per_image(model), n)


@pytest.mark.slow
def test_bench_device_rows_need_neither_gradio_nor_the_training_data(tmp_path):
    # A GPU machine may have little beyond PyTorch: there `--parts devices` must run without these.
    report, stdout = run_bench(tmp_path, "--parts", "devices", "--repeats", "1", "--devices", "cpu",
                               prelude="import sys; sys.modules['gradio'] = sys.modules['mlxtend'] = None")
    assert report["parts"] == ["devices"] and list(report["devices"]) == list(report["per_device"]) == ["cpu"]
    cpu = report["per_device"]["cpu"]
    assert cpu["naive_max_abs_diff"] < 1e-3  # the textbook loop draws the same images
    assert "cpu_max_abs_diff" not in cpu  # only other devices are compared with the CPU
    assert cpu["batched_over_naive"] == pytest.approx(cpu["naive_sweep_s"] / cpu["default_sweep_s"])
    assert cpu["utilisation_pct"] == pytest.approx(
        100 * cpu["sweep_gflop"] / cpu["default_sweep_s"] / cpu["matmul_peak_gflops"]["float32"])
    assert cpu["images_per_sweep"] == {"ours": 288, "naive": 384}  # 6 scales x 4 samples x 8 steps
    assert set(cpu["forward_ms_per_image"]) == {"4", "40"} and min(cpu["forward_ms_per_image"].values()) > 0
    assert cpu["sweep_gflop"] == pytest.approx(288 * flops_per_image(load_pretrained()) / 1e9)
    assert cpu["train_images_per_s"] > 0  # measured, not judged
    diffs = cpu["float64_max_abs_diff_per_scale"]  # per scale of the default sweep: float32 rounding only
    assert len(diffs) == 6 and 0 < max(diffs) < 1e-3
    for key in ("cold_start_s", "judge", "timestep embedding view", "live", "load"):
        assert key not in report
    table = table_rows(stdout)
    assert table[0] == ["| measure", "device", "value", "note |"] and len(table) == 8
    assert {row[1] for row in table[1:]} == {"cpu"} and "| default CFG sweep" in stdout


def test_bench_rows_off_the_cpu_name_their_device_and_compare_with_the_cpu():
    fig = {"default_sweep_s": 0.04, "naive_sweep_s": 0.4, "batched_over_naive": 10.0, "naive_max_abs_diff": 2e-4,
           "cpu_max_abs_diff": 1.7e-4, "forward_ms_per_image": {4: 1.1, 40: 0.1},
           "images_per_sweep": {"ours": 288, "naive": 384}, "matmul_peak_gflops": {"float32": 5e4, "bfloat16": 7e5},
           "sweep_gflop": 79.1, "achieved_gflops": 1977.5, "utilisation_pct": 4.0, "train_images_per_s": 2792.0}
    rows = bench.device_rows("cuda", fig, "release")
    assert {row[1] for row in rows} == {"cuda"} and len(rows) == 6  # no float64 row: that one is the host's
    assert rows[0][2] == "40 ms" and rows[0][3].endswith("largest pixel difference from the CPU's sweep 1.7e-04")
    assert "(8192^3)" in rows[4][0] and rows[4][2] == "50000 / 700000 GFLOP/s"


@pytest.mark.slow
def test_bench_app_rows_measure_what_they_report(tmp_path):
    report, stdout = run_bench(tmp_path, "--parts", "views", "launches", "judge", "--repeats", "1",
                               "--cold-starts", "1", "--quality-per-class", "2", "--quality-scales", "1")
    assert report["parts"] == ["views", "launches", "judge"] and "per_device" not in report
    (launch,) = report["launches_s"]  # one launch of each kind, so its times are the reported medians
    measures = ("cold_start", "cold_start_python_splitter", "bare_imports")
    assert launch == {name: report[f"{name}_s"] for name in measures}
    assert report["import_line_splitting_s"]["calls"] > 50  # the probe saw gradio's stub checks split their sources
    for view in ("timestep embedding view", "with vs without MLP view", "adaLN view"):
        assert 0 < report[view]["payload_bytes"] < 1.5e6
    for metric in ("accuracy", "frechet", "diversity"):
        assert set(report["judge"][metric]) == {"default", "reference", "ddim_default_steps"}
        assert all(list(by_scale) == ["1.0"] for by_scale in report["judge"][metric].values())
    assert set(report["max_accuracy_gap_points"]) == {"reference", "ddim_default_steps"}
    assert {row[1] for row in table_rows(stdout)[1:]} == {"cpu"} and len(table_rows(stdout)) == 7
    assert "largest accuracy gap at s > 0" in stdout
