"""The pictures and plots of the view of when the digit is decided, from the runs `decided` has already made."""

import numpy as np

from playground import plots
from playground.data import to_uint8
from playground.grids import labelled_grid
from playground.views.inside.cuts import mean_se

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


def change_bars(names, change, name, colour, ref):
    """Bars of the mean RMS change per run (`change[n]`: per sample), with their standard errors."""
    means, errors = zip(*(mean_se(change[n]) for n in names), strict=True)
    errors = [se or 0.0 for se in errors]  # one sample: no error bar
    return {"type": "bar", "x": names, "y": np.float32(means), "name": name, "marker": {"color": colour},
            "error_y": {"type": "data", "array": np.float32(errors)}, "offsetgroup": name,
            "hovertemplate": f"{name}<br>%{{x}}<br>RMS %{{y:.2f}}<extra></extra>", **ref}


def cut_figure(names, fraction, change, control, label, r, chance):
    """Bars per run: the share read as `label` (if judged, beside `chance`) and the RMS pixel change from the plain
    run (`change[n]`: per sample; mean ± SE), beside the same cuts on unconditional samples (`control`, or None)."""
    titles = ([f"share the judge reads as {label}"] if fraction else []) + ["pixel change from the plain run (RMS)"]
    refs, grid = plots.grid(1, len(titles), titles, hspace=0.1)
    data = []
    if fraction:
        data.append({"type": "bar", "x": names, "y": [fraction[n] for n in names], "marker": {"color": "#636efa"},
                     "text": [format(fraction[n], ".0%") for n in names], "textposition": "outside",
                     "showlegend": False, "hovertemplate": "%{x}<br>%{y:.0%}<extra></extra>", **refs[0]})
        data.append({"type": "scatter", "x": [names[0], names[-1]], "y": [chance, chance], "mode": "lines",
                     "name": f"chance ({chance:.0%})", "line": {"color": "#888", "dash": "dot"}, **refs[0]})
        plots.set_axis(grid, refs[0]["yaxis"], tickformat=".0%", range=[0, 1.15])
    data.append(change_bars(names, change, f"{label}s at s = {r.scale:g}", "#636efa", refs[-1]))
    if control is not None:
        data.append(change_bars(names, control, "unconditional (s = 0)", "#aaaaaa", refs[-1]))
    top = max(float(np.max(c[n])) for c in (change, control or change) for n in names) or 1.0
    plots.set_axis(grid, refs[-1]["yaxis"], tickformat=".2f", range=[0, top * 1.1])
    samples = f"the same noise, {len(change['plain'])} samples; bars: mean ± SE"
    if r.cut_kind == "null label":
        title, subtitle = ("Hand blocks the null label: which blocks carry the class?",
                           f"each bar: the named blocks get the null label ({samples}); unconditional rows are "
                           "untouched by this cut")
    else:
        title, subtitle = ("Zero blocks' gates: which blocks do the samples need?",
                           f"each bar: the named blocks' gates zeroed, the whole block gone ({samples})"
                           + ("; grey: the same cuts on unconditional samples" if control is not None else ""))
    layout = plots.layout(title, subtitle, height=420, barmode="group",
                          margin={"l": 60, "r": 20, "t": 110, "b": 80},
                          legend={"orientation": "h", "y": 0.99, "yanchor": "top", "x": 1, "xanchor": "right",
                                  "yref": "container"}, **grid)
    return plots.figure(data, layout)


def lie_figure(ts, told, rms):
    """What the network was told against the true t of each step, and how far its x0 moved from the plain run's;
    t increases to the right (the run itself goes right to left)."""
    refs, grid = plots.grid(1, 2, ["the t the network sees", "x0 prediction: RMS difference from the plain run"],
                            hspace=0.1)
    ts = [int(t) for t in ts]
    steps = np.arange(1, len(ts) + 1)
    data = [
        {"type": "scatter", "x": ts, "y": ts, "name": "true t", "mode": "lines+markers", **refs[0]},
        {"type": "scatter", "x": ts, "y": list(told), "name": "told t'", "mode": "lines+markers",
         "line": {"dash": "dash"}, **refs[0]},
        {"type": "bar", "x": ts, "y": np.asarray(rms, dtype=np.float32), "name": "RMS Δx0", "showlegend": False,
         "customdata": steps, "hovertemplate": "step %{customdata}, t = %{x}<br>RMS %{y:.3f}<extra></extra>",
         **refs[1]},
    ]
    for ref in refs:
        plots.set_axis(grid, ref["xaxis"], title={"text": "t (0 clean → 999 noise)"}, range=[-40, 1040])
    plots.set_axis(grid, refs[0]["yaxis"], title={"text": "t'"}, range=[-30, 1030])
    layout = plots.layout("Lie about t: the sampler steps with the true t, the network is told t'", None,
                          height=360, margin={"l": 60, "r": 20, "t": 80, "b": 50},
                          legend={"x": 0.01, "y": 0.98, "xanchor": "left", "yanchor": "top",
                                  "bgcolor": "rgba(255,255,255,0.8)"}, **grid)
    return plots.figure(data, layout)
