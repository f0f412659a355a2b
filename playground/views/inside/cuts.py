"""The numbers and sentences of the cut experiment (`decided.cut_experiment`), from runs it has already made.

Every run of one request starts from the same noise per sample, so two runs are compared sample by sample (a paired
difference, its mean and standard error over the samples); with one sample there is no error, and nothing is ranked.
"""

import numpy as np

SEPARATED = 2.0  # standard errors a paired difference must exceed to count


def rms_per_sample(runs):
    """`{name: [samples]}`: each run's RMS pixel change from `runs["plain"]`, sample by sample."""
    return {n: (f - runs["plain"]).pow(2).mean(dim=(1, 2, 3)).sqrt().double().numpy() for n, f in runs.items()}


def mean_se(values):
    """Mean and standard error of `values` (None for one value)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None


def with_se(values, fmt=".2f", sign=""):
    mean, se = mean_se(values)
    return f"{mean:{sign}{fmt}}" + (f" ± {se:{fmt}}" if se is not None else "")


def separation(a, b):
    """Paired `a - b` over the samples: +1 / -1 where it is above / below zero by more than SEPARATED standard
    errors, 0 where it is not (or with one sample)."""
    mean, se = mean_se(np.asarray(a) - np.asarray(b))
    if se is None or abs(mean) <= SEPARATED * se:
        return 0
    return 1 if mean > 0 else -1


def extremes(change, names):
    """Which of `names` (runs of one block each) changes the samples most and least, or that the samples do not
    separate it from the runner-up."""
    if len(names) < 2:
        return ""
    if len(change[names[0]]) == 1:
        return "; one sample: no standard error, so the blocks are not ranked"
    order = sorted(names, key=lambda n: -change[n].mean())
    words = []
    for which, first, second in (("most", order[0], order[1]), ("least", order[-1], order[-2])):
        if separation(change[first], change[second]):
            words.append(f"{first} changes them {which}")
        else:
            words.append(f"{first} and {second} change them {which}, within {SEPARATED:g} SE of each other")
    return "; " + "; ".join(words)


def blocks_of(names):
    return ", ".join(n.removeprefix("block ") for n in names) or "none"


def control_line(change, control, singles, label, scale):
    """The unconditional control of a zero-gates cut, computed: how much one block's cut changes the samples with the
    label (`change`, s = `scale`) and without it (`control`, s = 0), block by block, paired over the samples."""
    samples = len(change["plain"])
    ranges = [f"{min(c[n].mean() for n in singles):.2f}–{max(c[n].mean() for n in singles):.2f}"
              for c in (control, change)]
    line = (f"- **Control: the same cuts on unconditional samples** (s = 0, the null label, the same noise). Zeroing "
            f"a block's gates removes the whole block, whatever the label: one block alone changes the unconditional "
            f"samples by RMS {ranges[0]} and the {label}s at s = {scale:g} by {ranges[1]} (means over "
            f"{samples} sample{'s' if samples > 1 else ''}). ")
    if samples == 1:
        line += "With one sample there is no standard error, so the two are not compared block by block. "
    else:
        verdicts = {n: separation(change[n], control[n]) for n in singles}
        line += ("With the label minus without, paired over the samples (± SE): "
                 + ", ".join(f"{n.removeprefix('block ')}: {with_se(change[n] - control[n], sign='+')}"
                             for n in singles)
                 + f". Within {SEPARATED:g} SE (about as much either way): block(s) "
                 + blocks_of([n for n in singles if verdicts[n] == 0])
                 + "; more with the label: " + blocks_of([n for n in singles if verdicts[n] > 0])
                 + "; more without: " + blocks_of([n for n in singles if verdicts[n] < 0]) + ". ")
    return line + ("So this cut shows which blocks the samples need, not which carry the class: handing a block "
                   "the null label asks that.")


NO_CONTROL = ("- This model has no null class, so there is no unconditional run to compare with: zeroing a block's "
              "gates removes the whole block, so it shows which blocks the samples need, not which carry the class.")


def judge_line(reads, singles, label, named, kind):
    """What the judge reads (`reads[name]`: its digit per sample) with each block cut, and what that supports for
    this kind of cut; `named`: the digit in words ("a 3")."""
    names, samples = list(reads), len(reads["plain"])
    count = {n: sum(x == label for x in reads[n]) for n in names}
    shown = lambda n: f"{count[n]}/{samples}"  # noqa: E731
    lost = [n for n in singles if count[n] < count["plain"]]
    line = (f"- **The judge reads {named}** in {shown('plain')} plain samples; with one block cut: "
            + ", ".join(f"{n.removeprefix('block ')}: {shown(n)}" for n in singles)
            + f"; {names[1]}: {shown(names[1])} (reads {'·'.join(map(str, reads[names[1]]))}); "
            f"{names[-1]} blocks: {shown(names[-1])} (reads {'·'.join(map(str, reads[names[-1]]))}). ")
    if kind == "null label":
        line += (f"Handing block(s) {blocks_of(lost)} alone the null label loses the digit in some of these "
                 f"{samples} samples: they carry the class here; the others can be cut one at a time without "
                 "losing it." if lost else
                 f"No single block's cut loses the digit in these {samples} samples: the label still reaches the "
                 "network through the other blocks.")
        return line + " (With every block cut, the final layer still gets the label.)"
    return line + (f"Zeroing block(s) {blocks_of(lost)} alone loses the digit in some of these {samples} samples: "
                   "the digit needs them." if lost else
                   f"No single block's zeroing loses the digit in these {samples} samples.")
