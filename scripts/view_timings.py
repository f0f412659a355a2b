"""How long each sampling view takes, pure functions only: `python scripts/view_timings.py [--repeats 3]`.

Loads the shipped weights once, then times every view that samples (its defaults) in turns, on 2 threads, and
prints the median of --repeats runs. The app adds gradio's round trip on top.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch  # noqa: E402

from playground.assets import AUTOGUIDE_WEAK, COMPANIONS  # noqa: E402
from playground.checkpoint import load_pretrained  # noqa: E402
from playground.judge import load_judge  # noqa: E402
from playground.noisy_classifier import load_classifier  # noqa: E402
from playground.views.guidance import classifier as classifier_guidance
from playground.views.guidance import dropout as label_dropout  # noqa: E402
from playground.views.guidance import step as guided_step  # noqa: E402
from playground.views.guidance import variants as guidance_lab
from playground.views.guidance.curves import load_tradeoff  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    torch.set_num_threads(2)
    model, judge, tradeoff = load_pretrained(), load_judge(), load_tradeoff()
    weak, classifier = load_pretrained(AUTOGUIDE_WEAK), load_classifier()
    companions = {rate: load_pretrained(path) for rate, path in COMPANIONS.items()}
    step, lab = guided_step.STEP_DEFAULTS, guidance_lab.LAB_DEFAULTS
    drop, cg = label_dropout.DEFAULTS, classifier_guidance.DEFAULTS
    views = {
        "/guided_step": lambda: guided_step.guided_step_view(model, guided_step.validate_step(*step.values())),
        "/guidance_lab": lambda: guidance_lab.lab_view(model, guidance_lab.validate_lab(*lab.values()), judge=judge,
                                                       weak_model=weak, tradeoff=tradeoff),
        "/label_dropout": lambda: label_dropout.label_dropout_view(
            companions, model, label_dropout.validate(*drop.values()), judge=judge, tradeoff=tradeoff),
        "/classifier_guidance": lambda: classifier_guidance.classifier_guidance_view(
            model, classifier, judge, classifier_guidance.validate(*cg.values()), tradeoff=tradeoff),
    }
    times = {name: [] for name in views}
    for _ in range(repeats):
        for name, view in views.items():
            t0 = time.perf_counter()
            view()
            times[name].append(time.perf_counter() - t0)
    print(f"| view | median of {repeats} | runs |\n|---|---|---|")
    for name, seconds in times.items():
        print(f"| `{name}` | {statistics.median(seconds):.2f} s | {', '.join(f'{s:.2f}' for s in seconds)} |")


if __name__ == "__main__":
    main()
