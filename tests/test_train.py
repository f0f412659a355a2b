import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.checkpoint import load_weights

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--hidden-size", "64", "--depth", "2", "--num-heads", "2", "--batch-size", "16", "--warmup", "5",
         "--log-every", "5", "--ckpt-every", "10"]


def train(out, *extra, launcher=(sys.executable, "-m")):
    cmd = [*launcher, "playground.cli.train", "--out", str(out), *SMALL, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    train(out, "--steps", "30")
    return out


def test_short_run_lowers_the_loss_and_writes_a_card(straight_run):
    log = json.loads((straight_run / "loss_log.json").read_text())
    assert [e["step"] for e in log] == [5, 10, 15, 20, 25, 30]
    assert log[-1]["loss"] < 0.8 * log[0]["loss"]
    _, card = load_weights(straight_run / "dit_mnist.safetensors")
    assert card["training"]["steps"] == 30 and card["config"]["hidden_size"] == 64
    assert card["training"]["final_loss"] == log[-1]["loss"]


def test_same_command_same_weights_and_resume_is_exact(straight_run, tmp_path):
    train(tmp_path, "--steps", "30", "--stop-after", "10")
    assert not (tmp_path / "dit_mnist.safetensors").exists()
    out = train(tmp_path, "--steps", "30", "--resume")
    assert "resumed at step 10" in out
    a, _ = load_weights(straight_run / "dit_mnist.safetensors")
    b, _ = load_weights(tmp_path / "dit_mnist.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_torchrun_two_cpu_processes(tmp_path):
    torchrun = str(Path(sys.executable).parent / "torchrun")
    out = train(tmp_path, "--steps", "10", launcher=(torchrun, "--nproc_per_node", "2", "--master_port", "29517", "-m"))
    assert "2 process(es) on cpu" in out
    _, card = load_weights(tmp_path / "dit_mnist.safetensors")
    assert card["training"]["processes"] == 2
    assert (tmp_path / "resume_rng0.safetensors").exists() and (tmp_path / "resume_rng1.safetensors").exists()
