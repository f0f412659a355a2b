"""What classifier guidance costs against CFG: `python scripts/guidance_cost.py` (30 samples, 8 steps, one scale).

Classifier guidance adds a classifier forward and a backward through it at every step; CFG doubles the DiT's
batch. Both are timed in turns in one process (7 rounds, medians), so load on the machine hits both alike.
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch  # noqa: E402

from playground.checkpoint import load_pretrained  # noqa: E402
from playground.guidance import Guidance  # noqa: E402
from playground.noisy_classifier import load_classifier  # noqa: E402
from playground.sampling import sample_guided  # noqa: E402

torch.set_num_threads(2)
model, clf = load_pretrained(), load_classifier()
labels = list(range(10)) * 3  # 30 samples, one scale
runs = {"CFG s=4": lambda: sample_guided(model, labels, [4.0], steps=8, seed=0),
        "classifier g=8 (s=0)": lambda: sample_guided(model, labels, [0.0], steps=8, seed=0,
                                                         guidance=Guidance(classifier=clf, classifier_scale=8.0)),
        "plain conditional s=1": lambda: sample_guided(model, labels, [1.0], steps=8, seed=0)}
times = {k: [] for k in runs}
for _ in range(7):
    for k, fn in runs.items():
        t0 = time.perf_counter()
        fn()
        times[k].append(time.perf_counter() - t0)
for k, v in times.items():
    print(f"{k}: median {statistics.median(v) * 1000:.0f} ms over 7 interleaved runs")
ratio = statistics.median(times["classifier g=8 (s=0)"]) / statistics.median(times["CFG s=4"])
print(f"classifier guidance / CFG: {ratio:.2f}")
