"""The trade-off CLI: what it measures per point, its resumable file, and its report."""

import json
import math
import subprocess
import sys

import pytest
import torch

from playground.cli.tradeoff import edm_sigma, nearest_other_digit
from playground.diffusion import ALPHAS_CUMPROD
from playground.guidance import INTERVAL


def test_interval_is_the_papers_sigma_range_on_this_schedule():
    # EDM2's sigma in (0.28, 5.42]: the first t above 0.28 and the last t at or below 5.42
    sigma = ((1 - ALPHAS_CUMPROD) / ALPHAS_CUMPROD).sqrt()
    assert INTERVAL == (int((sigma <= 0.28).sum()), int((sigma <= 5.42).sum()) - 1)
    assert edm_sigma(INTERVAL[0] - 1) <= 0.28 < edm_sigma(INTERVAL[0])
    assert edm_sigma(INTERVAL[1]) <= 5.42 < edm_sigma(INTERVAL[1] + 1)
    assert edm_sigma(500) == pytest.approx(math.sqrt((1 - ALPHAS_CUMPROD[500].item()) / ALPHAS_CUMPROD[500].item()))


def test_negative_of_each_digit_is_its_nearest_other_class_mean():
    class Features(torch.nn.Module):
        def features(self, x):
            return x.flatten(1)[:, :2]

    means = torch.tensor([[float(d), 0.0] for d in range(10)])
    means[7] = torch.tensor([1.2, 0.0])  # 7 sits next to 1
    labels = torch.arange(10).repeat_interleave(3)
    images = torch.zeros(30, 1, 28, 28)
    images.view(30, -1)[:, :2] = means.repeat_interleave(3, 0)
    negative = nearest_other_digit(Features(), images, labels)
    # positions 0, 1, 2, 3, 4, 5, 6, 1.2, 8, 9; ties go to the lower digit
    assert negative == [1, 7, 7, 2, 3, 4, 5, 1, 9, 8]


@pytest.mark.slow
def test_cli_writes_resumes_and_reports(tmp_path):
    out = tmp_path / "t.json"
    run = [sys.executable, "-m", "playground.cli.tradeoff", "--out", str(out), "--per-class", "2"]
    subprocess.run([*run, "--methods", "companion_p0"], check=True, capture_output=True, timeout=300)
    first = json.loads(out.read_text())
    point = first["curves"]["companion_p0"]["points"][0]
    assert point["s"] == 1.0 and 0 <= point["accuracy_low"] <= point["accuracy"] <= point["accuracy_high"] <= 1
    assert first["settings"]["per_class"] == 2 and first["real_floor"]["frechet"] > 0
    subprocess.run([*run, "--methods", "companion_p0", "no_clip", "--resume"], check=True, capture_output=True,
                   timeout=300)
    second = json.loads(out.read_text())
    assert second["curves"]["companion_p0"] == first["curves"]["companion_p0"]  # kept, not recomputed
    assert [p["s"] for p in second["curves"]["no_clip"]["points"]] == [1.0, 2.0, 4.0]
    report = subprocess.run([*run, "--report"], check=True, capture_output=True, text=True, timeout=60).stdout
    assert report.count("| 1 | ") == 2 and "**no_clip**" in report
