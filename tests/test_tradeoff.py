"""The trade-off CLI: what it measures per point, its resumable file, and its report."""

import json
import math
import subprocess
import sys

import pytest
import torch

from playground.cli import tradeoff
from playground.cli.tradeoff import edm_sigma, nearest_other_digit, real_references
from playground.diffusion import ALPHAS_CUMPROD
from playground.guidance import INTERVAL
from playground.judge import diversity, frechet_distance


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


class FirstPixels(torch.nn.Module):
    """A stand-in judge whose features are the first four pixels: enough for a Frechet distance."""

    def features(self, x):
        return x.flatten(1)[:, :4]


def fake_digits(per_class, seed):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(10).repeat_interleave(per_class)
    return torch.rand(len(labels), 1, 28, 28, generator=gen) * 2 - 1, labels


def test_the_real_references_are_the_floor_its_spread_and_the_real_diversity():
    train, held = fake_digits(9, 0), fake_digits(5, 1)
    refs = real_references(FirstPixels(), train, held, per_class=3)
    floor, spread = refs["real_floor"], refs["real_floor"]["spread"]
    first = torch.cat([train[0][train[1] == d][:3] for d in range(10)])  # the first 3 of each digit, as before
    assert floor["frechet"] == round(frechet_distance(FirstPixels(), first, held[0]), 3)
    assert len(spread["values"]) == 3 and spread["values"][0] == floor["frechet"]  # 9 per digit: 3 disjoint subsets
    assert (spread["low"], spread["high"]) == (min(spread["values"]), max(spread["values"]))
    real = refs["real_diversity"]
    assert real["value"] == round(diversity(*held), 4) and len(real["per_digit"]) == 10
    assert refs["real_pixels"]["grey"] == pytest.approx(0.9, abs=0.05)  # uniform noise: 90% inside (-0.9, 0.9)


def test_reference_only_updates_the_references_and_keeps_the_curves(tmp_path, monkeypatch):
    out = tmp_path / "t.json"
    curves_ = {"cfg": {"x": "s", "points": [{"s": 1.0, "accuracy": 0.9}]}}
    settings = {"per_class": 3, "seed": 0, "sampler": "ddim", "steps": 8}
    out.write_text(json.dumps({"settings": settings, "command": "python -m x", "curves": curves_,
                               "real_floor": {"frechet": 1.0, "what": "old"}}))
    train, held = fake_digits(9, 0), fake_digits(5, 1)
    split = {"train": ((train[0][:, 0].numpy() + 1) * 127.5, train[1].numpy()),
             "held_out": ((held[0][:, 0].numpy() + 1) * 127.5, held[1].numpy())}
    monkeypatch.setattr(tradeoff, "load_split", lambda path=None: split)
    monkeypatch.setattr(tradeoff, "load_judge", FirstPixels)
    tradeoff.main(["--reference-only", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["curves"] == curves_ and result["command"] == "python -m x"  # nothing sampled, nothing renamed
    assert len(result["real_floor"]["spread"]["values"]) == 3 and "real_diversity" in result
    assert "over 3 subsets" in tradeoff.report({**result, "curves": {}})
    with pytest.raises(SystemExit, match="needs an existing trade-off file"):
        tradeoff.main(["--reference-only", "--out", str(tmp_path / "absent.json")])
