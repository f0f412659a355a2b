"""The one plotly look of the playground and the one way its figures are built: plain dicts, validated once.

Every view builds `data` (a list of trace dicts) and `layout(title, subtitle, ...)`, then `figure(data, layout)`:
one validation per figure instead of one per `update_*` call. `grid` lays out panels of subplots in the same
dict form. Nothing here imports gradio.
"""

import functools
import textwrap

import numpy as np
import plotly.graph_objects as go

FONT = {"size": 15, "family": "Helvetica, Arial, sans-serif"}
TITLE_SIZE = 19
COLOURS = {"raw": "#636efa", "trained": "#ef553b", "fresh": "#00a080"}  # the three embeddings of the MLP view
# A small template: plotly's own ones are deep-copied into every figure, which costs ~15 ms each.
_AXIS = {"gridcolor": "#e5e5e5", "zerolinecolor": "#c8c8c8", "linecolor": "#888", "automargin": True}


@functools.cache
def template():
    """The template, validated once, on the first figure: built on import, it would load plotly's validators
    into every program that imports this module, the app's start included."""
    return go.layout.Template(layout={
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": _AXIS,
        "yaxis": _AXIS,
        "colorway": list(COLOURS.values()) + ["#ab63fa", "#ffa15a", "#19d3f3"],
    })


def figure_title(text, subtitle=None):
    """A bold, left-aligned title that states the point, with an optional grey subtitle."""
    title_dict = {"text": f"<b>{text}</b>", "x": 0.01, "xanchor": "left", "y": 0.985, "yanchor": "top",
                  "font": {"size": TITLE_SIZE}}
    if subtitle:
        title_dict["subtitle"] = {"text": subtitle, "font": {"size": 14, "color": "#555"}}
    return title_dict


def layout(text, subtitle=None, height=440, margin=None, **extra):
    """The shared look for a shared screen: large fonts, a title that states the point, white background."""
    return {
        "template": template(),
        "font": FONT,
        "title": figure_title(text, subtitle),
        "height": height,
        "margin": margin or {"l": 70, "r": 30, "t": 90 if subtitle else 60, "b": 60},
        "hoverlabel": {"font": {"size": 15}},
        **extra,
    }


def figure(data, figure_layout):
    """A plotly Figure from a list of trace dicts and a `layout(...)` dict, validated once."""
    return go.Figure({"data": data, "layout": figure_layout})


def message_figure(text, title="Nothing to show", height=300):
    """An empty figure that says why there is nothing to plot (never a blank box)."""
    wrapped = "<br>".join(textwrap.wrap(str(text), 60))
    note = {"text": wrapped, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper", "showarrow": False,
            "font": {"size": 16}}
    hidden = {"visible": False}
    return figure([], layout(title, height=height, annotations=[note], xaxis=hidden, yaxis=hidden))


def grid(n_rows, n_cols, titles, hspace=0.06, vspace=0.14, scenes=False):
    """Axes (or 3-D scenes) of an n_rows x n_cols grid, as layout entries plus per-cell trace references.

    Returns `(refs, layout)`: `refs[i]` is `{"xaxis": "x2", "yaxis": "y2"}` (or `{"scene": "scene2"}`) for
    cell i in row-major order; `layout` holds the axis domains and one title annotation per cell.
    """
    width = (1 - hspace * (n_cols - 1)) / n_cols
    height = (1 - vspace * (n_rows - 1)) / n_rows
    refs, cells, annotations = [], {}, []
    for i in range(n_rows * n_cols):
        r, c = divmod(i, n_cols)
        suffix = "" if i == 0 else str(i + 1)
        x0, y1 = c * (width + hspace), 1 - r * (height + vspace)
        x0, x1, y0, y1 = (min(max(round(v, 6), 0.0), 1.0) for v in (x0, x0 + width, y1 - height, y1))
        if scenes:
            cells[f"scene{suffix}"] = {"domain": {"x": [x0, x1], "y": [y0, y1]}}
            refs.append({"scene": f"scene{suffix}"})
        else:
            cells[f"xaxis{suffix}"] = {"domain": [x0, x1], "anchor": f"y{suffix}"}
            cells[f"yaxis{suffix}"] = {"domain": [y0, y1], "anchor": f"x{suffix}"}
            refs.append({"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
        if i < len(titles):
            annotations.append(
                {
                    "text": titles[i],
                    "x": (x0 + x1) / 2,
                    "y": y1,
                    "xref": "paper",
                    "yref": "paper",
                    "xanchor": "center",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 14},
                }
            )
    cells["annotations"] = annotations
    return refs, cells


def set_axis(grid_layout, ref, **props):
    """Merge axis properties into the grid layout entry of `ref` ('x2' -> grid_layout['xaxis2'])."""
    name = ref[0] + "axis" + ref[1:]
    grid_layout[name] = {**grid_layout[name], **props}


def image_panels(panels, n_cols, title, subtitle=None, height=520, hspace=0.03, vspace=0.12):
    """Small images side by side, each pixel one cell (no smoothing), with hover values.

    `panels`: list of `(caption, array [H, W], (zmin, zmax), colorscale)`; a None entry leaves its cell empty.
    """
    n_rows = -(-len(panels) // n_cols)
    refs, grid_layout = grid(n_rows, n_cols, [p[0] if p else "" for p in panels], hspace=hspace, vspace=vspace)
    data = []
    for ref, panel in zip(refs, panels, strict=False):
        hidden = {"visible": False}
        set_axis(grid_layout, ref["xaxis"], **hidden, constrain="domain")
        set_axis(grid_layout, ref["yaxis"], **hidden, autorange="reversed", scaleanchor=ref["xaxis"])
        if panel is None:
            continue
        _, values, (zmin, zmax), colorscale = panel
        data.append({"type": "heatmap", "z": np.asarray(values, dtype=np.float64).round(4).tolist(), "zmin": zmin,
                     "zmax": zmax, "colorscale": colorscale, "showscale": False, **ref,
                     "hovertemplate": "row %{y}, col %{x}: %{z:.3f}<extra></extra>"})
    return figure(data, layout(title, subtitle, height=height, **grid_layout))
