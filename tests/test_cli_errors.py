"""Command lines: bad arguments exit non-zero with one line naming the argument, no traceback."""

import subprocess
import sys

import pytest
import torch
from live_app import REPO

from playground.bench import bench
from playground.cli import evaluate, sample, train, train_judge


@pytest.mark.parametrize(
    ("parse", "args", "message"),
    [
        (evaluate.parse_args, ["--per-class", "1"], "--per-class must be in 2..200"),
        (evaluate.parse_args, ["--per-class", "201"], "--per-class must be in 2..200"),
        (evaluate.parse_args, ["--per-class", "x"], "invalid int value: 'x'"),
        (evaluate.parse_args, ["--scales", "inf"], "--scales must be finite"),
        (evaluate.parse_args, ["--scales", "one"], "invalid float value: 'one'"),
        (evaluate.parse_args, ["--steps", "-1"], "--steps must be in 1..1000"),
        (evaluate.parse_args, ["--sampler", "euler"], "invalid choice: 'euler'"),
        (evaluate.parse_args, ["--data", "nothing.npz"], "argument --data: nothing.npz is not a file"),
        (sample.parse_args, ["--zoom", str(sample.MAX_ZOOM + 1)], "--zoom in 1..16"),
        (sample.parse_args, ["--n", "1000"], "is over 2000 images"),
        (train_judge.parse_args, ["--lr", "nan"], "finite --lr > 0"),
        (train_judge.parse_args, ["--lr", "0"], "finite --lr > 0"),
        (train_judge.parse_args, ["--epochs", "0"], "--epochs >= 1"),
        (train_judge.parse_args, ["--data", "nothing.npz"], "argument --data: nothing.npz is not a file"),
        (bench.main, ["--repeats", "0"], "--repeats, --cold-starts and --quality-per-class must be >= 1"),
        (bench.main, ["--quality-scales", "nan"], "--quality-scales must lie in -5..30, the app's range"),
        (bench.main, ["--quality-scales", "1", "31"], "--quality-scales must lie in -5..30, the app's range"),
        (bench.main, ["--devices", "tpu"], "invalid choice: 'tpu'"),
        pytest.param(bench.main, ["--devices", "cpu", "cuda"], "--devices cuda: torch sees no CUDA GPU here",
                     marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
        (bench.main, ["--quality-per-class", "0"], "--repeats, --cold-starts and --quality-per-class must be >= 1"),
        (bench.main, ["--parts", "speed"], "invalid choice: 'speed'"),
        (train.parse_args, ["--steps", "0"], "steps >= 1"),
        (train.parse_args, ["--ema", "1"], "0 <= ema < 1"),
        (train.parse_args, ["--batch-size", "x"], "invalid int value: 'x'"),
        *[
            (train.parse_args, args, args[0])
            for args in (
                ["--hidden-size", "190"],  # not a multiple of --num-heads and 4: ValueError in DiT()
                ["--num-heads", "0"],  # ZeroDivisionError in DiT()
                ["--patch-size", "5"],  # 28 is not a multiple: ValueError in DiT()
                ["--depth", "0"],  # trains a model without blocks
                ["--lr", "nan"],  # ValueError in AdamW
                ["--class-dropout-prob", "2"],  # accepted
                ["--log-every", "0"],  # ZeroDivisionError in the loop
                ["--ckpt-every", "0"],  # ZeroDivisionError in the loop
                ["--device", "tpu"],  # silently trains on the CPU
                ["--data", "nothing.npz"],  # FileNotFoundError traceback
            )
        ],
    ],
)
def test_cli_refuses_bad_args(parse, args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(args)
    assert exit_info.value.code != 0
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("playground.cli.evaluate", ["--per-class", "1"], "--per-class must be in 2..200"),
        ("playground.cli.evaluate", ["--judge", "none.safetensors", "--per-class", "2"], "none.safetensors is missing"),
        ("playground.cli.train_judge", ["--lr", "inf"], "finite --lr > 0"),
        ("playground.bench", ["--cold-starts", "0"], "--repeats, --cold-starts and --quality-per-class must be >= 1"),
        ("playground.cli.train", ["--steps", "0"], "steps >= 1"),
    ],
)
def test_cli_error_is_one_line_without_traceback(module, args, message):
    result = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0] and errors[0] == result.stderr.splitlines()[-1]
