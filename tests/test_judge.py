"""The judge checkpoint and the sample metrics, against real digits and hand-computed examples."""

import math
import shutil

import pytest
import torch

from playground.checkpoint import CheckpointError, save_weights
from playground.cli.train_judge import random_shift
from playground.data import load_split, to_model_range
from playground.judge import (
    DEFAULT_JUDGE,
    Judge,
    classify,
    diversity,
    diversity_standard_error,
    evaluate_samples,
    frechet_distance,
    frechet_from_features,
    histogram_entropy,
    load_judge,
    nearest_train_distance,
    wilson_interval,
)


@pytest.fixture(scope="module")
def split():
    return load_split()


@pytest.fixture(scope="module")
def judge():
    return load_judge()


@pytest.fixture(scope="module")
def held_out(split):
    images, labels = split["held_out"]
    return to_model_range(images), torch.as_tensor(labels)


def test_judge_held_out_accuracy_matches_card(judge, held_out):
    scores = classify(judge, *held_out)
    assert scores["accuracy"] >= 0.97
    assert scores["accuracy"] == pytest.approx(judge.card["held_out_accuracy"], abs=1e-4)
    assert len(judge.card["held_out_per_class_accuracy"]) == 10
    assert scores["label_entropy"] > 2.29  # 50 of each digit, almost all recognised
    assert judge(held_out[0][:3]).shape == (3, 10) and judge.features(held_out[0][:3]).shape == (3, 128)


def test_load_judge_names_a_damaged_or_foreign_file(tmp_path):
    damaged = tmp_path / "judge.safetensors"
    shutil.copy(DEFAULT_JUDGE, damaged)
    shutil.copy(DEFAULT_JUDGE.with_suffix(".json"), damaged.with_suffix(".json"))
    with open(damaged, "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x01" if f.read(1) != b"\x01" else b"\x02")
    with pytest.raises(CheckpointError, match=str(damaged)):
        load_judge(damaged)
    foreign = tmp_path / "foreign.safetensors"
    save_weights({"fc.weight": torch.zeros(2, 2)}, foreign, {"name": "not a judge"})
    with pytest.raises(CheckpointError, match="foreign.safetensors.*missing"):
        load_judge(foreign)


def test_classify_hand_computed():
    # A judge that ignores its input and always gives logits (0, ..., 0, 2 at digit 3).
    judge = Judge()
    for p in judge.parameters():
        torch.nn.init.zeros_(p)
    judge.head.bias.data[3] = 2.0
    images, labels = torch.zeros(4, 1, 28, 28), torch.tensor([3, 3, 1, 0])
    scores = classify(judge, images, labels)
    assert scores["accuracy"] == 0.5
    assert scores["confidence"] == pytest.approx(math.exp(2) / (math.exp(2) + 9))
    assert scores["label_entropy"] == 0.0
    assert scores["predicted"] == [3, 3, 3, 3]


def test_histogram_entropy():
    assert histogram_entropy(torch.arange(10)) == pytest.approx(math.log(10))
    assert histogram_entropy(torch.tensor([0, 0, 1, 1])) == pytest.approx(math.log(2))
    assert histogram_entropy(torch.tensor([7, 7, 7])) == 0.0


def test_diversity_hand_computed():
    black, white = -torch.ones(1, 28, 28), torch.ones(1, 28, 28)
    one_pixel = black.clone()
    one_pixel[0, 5, 5] = 1.0
    # Label 2: black vs white, distance sqrt(784) = 28. Label 4: one pixel apart, distance 1.
    # Label 9 has a single sample and is skipped.
    images = torch.stack([black, white, black, one_pixel, white])
    assert diversity(images, torch.tensor([2, 2, 4, 4, 9])) == pytest.approx((28 + 1) / 2)
    # Three samples of one label: pairs (b, w) 28, (b, b) 0, (w, b) 28 -> mean 56 / 3.
    assert diversity(torch.stack([black, white, black]), torch.tensor([1, 1, 1])) == pytest.approx(56 / 3)
    assert math.isnan(diversity(images[:2], torch.tensor([0, 1])))


def test_nearest_train_distance(split):
    train = to_model_range(split["train"][0][:200])
    itself = nearest_train_distance(train[:50], train)  # cdist's matmul path leaves ~1e-6 of rounding
    assert itself["mean"] == pytest.approx(0.0, abs=1e-5) and itself["median"] == pytest.approx(0.0, abs=1e-5)
    black, white = -torch.ones(1, 1, 28, 28), torch.ones(1, 1, 28, 28)
    half = black.clone()
    half[..., :14] = 0.0  # 392 pixels at 0.5 on the [0, 1] scale: distance sqrt(392 * 0.25) from black
    result = nearest_train_distance(torch.cat([black, white]), torch.cat([half, white]))
    assert result["mean"] == pytest.approx(math.sqrt(392 * 0.25) / 2)


def test_frechet_distance(judge, held_out):
    images = held_out[0]
    assert frechet_distance(judge, images, images) == pytest.approx(0.0, abs=1e-6)
    shifted = torch.roll(images, shifts=4, dims=-1)
    assert frechet_distance(judge, shifted, images) > 1.0
    # Identical distributions of different digits score far nearer than shifted ones.
    assert frechet_distance(judge, images[::2], images[1::2]) < frechet_distance(judge, shifted[::2], images[1::2]) / 4


def test_evaluate_samples_keys(judge, split, held_out):
    images, labels = held_out
    train = to_model_range(split["train"][0][:100])
    assert set(evaluate_samples(judge, images[:20], labels[:20])) == {
        "accuracy", "accuracy_low", "accuracy_high", "confidence", "label_entropy", "diversity", "diversity_se"}
    scores = evaluate_samples(judge, images[:20], labels[:20], real=images, train=train)
    assert set(scores) >= {"frechet", "frechet_se", "nearest_train_mean", "nearest_train_median"}
    assert scores["nearest_train_mean"] > 0  # held-out digits are not in the training set


def test_random_shift_translates_each_image():
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(random_shift(x, 0, gen), x)
    shifted = random_shift(x, 2, gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    for a, p in zip(shifted, padded, strict=True):
        crops = [p[:, i : i + 28, j : j + 28] for i in range(5) for j in range(5)]
        assert any(torch.equal(a, c) for c in crops)


def test_wilson_interval_against_the_closed_form():
    # 8 of 10: centre (p + z^2/2n) / (1 + z^2/n), half-width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    z, n, p = 1.96, 10, 0.8
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert wilson_interval(8, 10) == pytest.approx((centre - half, centre + half))
    low, high = wilson_interval(4, 4)
    assert high == 1.0 and low == pytest.approx(0.5101, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_diversity_standard_error_is_the_spread_of_fold_means():
    torch.manual_seed(0)
    images, labels = torch.rand(20, 1, 28, 28) * 2 - 1, torch.tensor([1] * 10 + [2] * 10)
    folds = [diversity(images[[i for i in range(20) if (i % 10) % 5 == k]],
                       labels[[i for i in range(20) if (i % 10) % 5 == k]]) for k in range(5)]
    expected = torch.tensor(folds).std().item() / math.sqrt(5)
    assert diversity_standard_error(images, labels) == pytest.approx(expected)


def test_frechet_from_features_of_identical_sets_is_zero_and_grows_with_a_shift():
    f = torch.randn(200, 8, dtype=torch.float64)
    assert frechet_from_features(f, f) == pytest.approx(0, abs=1e-8)
    assert frechet_from_features(f + 1.0, f) == pytest.approx(8.0, rel=1e-6)  # |mu1 - mu2|^2 = 8 x 1^2
