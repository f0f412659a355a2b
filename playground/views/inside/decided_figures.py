"""The pictures and plots of the view of when the digit is decided, from the runs `decided` has already made."""

import numpy as np

from playground import plots
from playground.data import to_uint8
from playground.grids import labelled_grid

READ_COLOURS = ["#2ca02c", "#d62728", "#bbbbbb"]  # the drawn class, the class switched to, anything else


def image_grid(images, headers, row_labels, cell=64):
    """float `[rows, cols, 1, H, W]` in [-1, 1] -> a labelled PIL grid (pixels upscaled nearest-neighbour)."""
    return labelled_grid(to_uint8(images).numpy(), headers, row_labels, cell=cell, font_size=16)


def no_judge_figure():
    return plots.message_figure("The judge did not load, so the finished digits are not read.")


def switch_figure(reads, label, other):
    """`reads[k][s]`: the judge's digit for sample s when the label switches at step k."""
    reads = np.asarray(reads)  # [K, S]
    code = np.where(reads == label, 0, np.where(reads == other, 1, 2)).T.astype(np.float32)  # [S, K]
    steps = reads.shape[0] - 1
    trace = {
        "type": "heatmap", "z": code, "x": list(range(steps + 1)), "y": [f"sample {s + 1}" for s in range(len(code))],
        "zmin": 0, "zmax": 2, "showscale": False, "xgap": 3, "ygap": 3, "zsmooth": False,
        "colorscale": [[0, READ_COLOURS[0]], [0.33, READ_COLOURS[0]], [0.34, READ_COLOURS[1]], [0.66, READ_COLOURS[1]],
                       [0.67, READ_COLOURS[2]], [1, READ_COLOURS[2]]],
        "text": reads.T.astype(str), "texttemplate": "%{text}", "textfont": {"size": 20, "color": "white"},
        "hovertemplate": "switch at step %{x}<br>%{y}<br>judge reads %{text}<extra></extra>",
    }
    layout = plots.layout(
        f"Which digit the judge reads when {label} switches to {other} at step k",
        f"green = {label}, red = {other}, grey = another digit; k = 0 switches before the first step, "
        f"k = {steps} never", height=120 + 44 * len(code), margin={"l": 90, "r": 20, "t": 90, "b": 50},
        xaxis={"title": {"text": "step k of the switch"}, "tickvals": list(range(steps + 1)), "showgrid": False},
        yaxis={"autorange": "reversed", "showgrid": False})
    return plots.figure([trace], layout)


def cut_figure(names, fraction, change, label):
    """Bars per run: the share read as `label` (if judged) and the RMS pixel change from the plain run."""
    titles = ([f"share the judge reads as {label}"] if fraction else []) + ["pixel change from the plain run (RMS)"]
    refs, grid = plots.grid(1, len(titles), titles, hspace=0.1)
    data = []
    series = ([fraction] if fraction else []) + [change]
    for ref, values, fmt in zip(refs, series, (".0%", ".2f") if fraction else (".2f",), strict=True):
        data.append({"type": "bar", "x": names, "y": [values[n] for n in names], "marker": {"color": "#636efa"},
                     "text": [format(values[n], fmt) for n in names], "textposition": "outside",
                     "hovertemplate": f"%{{x}}<br>%{{y:{fmt}}}<extra></extra>", **ref})
        top = max(values.values()) or 1.0
        plots.set_axis(grid, ref["yaxis"], tickformat=fmt, range=[0, top * 1.18])
    if fraction:
        plots.set_axis(grid, refs[0]["yaxis"], range=[0, 1.15])
    layout = plots.layout("Cut one route at a time: which blocks carry the class?",
                          "each bar: the same noise with the named blocks cut", height=400,
                          margin={"l": 60, "r": 20, "t": 100, "b": 80}, showlegend=False, **grid)
    return plots.figure(data, layout)


def lie_figure(ts, told, rms):
    """What the network was told against the true t, and how far its x0 moved from the plain run's."""
    refs, grid = plots.grid(1, 2, ["the t the network sees", "x0 prediction: RMS difference from the plain run"],
                            hspace=0.1)
    steps = list(range(1, len(ts) + 1))
    data = [
        {"type": "scatter", "x": steps, "y": list(ts), "name": "true t", "mode": "lines+markers", **refs[0]},
        {"type": "scatter", "x": steps, "y": list(told), "name": "told t'", "mode": "lines+markers",
         "line": {"dash": "dash"}, **refs[0]},
        {"type": "bar", "x": steps, "y": np.asarray(rms, dtype=np.float32), "name": "RMS Δx0", "showlegend": False,
         "hovertemplate": "step %{x}<br>RMS %{y:.3f}<extra></extra>", **refs[1]},
    ]
    for ref in refs:
        plots.set_axis(grid, ref["xaxis"], title={"text": "step"}, tickvals=steps)
    plots.set_axis(grid, refs[0]["yaxis"], title={"text": "t"}, range=[-30, 1030])
    layout = plots.layout("Lie about t: the sampler steps with the true t, the network is told t'", None,
                          height=360, margin={"l": 60, "r": 20, "t": 80, "b": 50},
                          legend={"x": 0.01, "y": 0.02, "xanchor": "left", "yanchor": "bottom",
                                  "bgcolor": "rgba(255,255,255,0.8)"}, **grid)
    return plots.figure(data, layout)
