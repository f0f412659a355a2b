"""The figures of the forward-pass view, from arrays `forward.inside_view` has already read off the model.

Heatmaps are drawn cell by cell (`zsmooth: False`): a 7x7 map is 49 cells, each covering its 4x4 pixels of the
28x28 image (nearest neighbour, no interpolation), and no panel is narrower than its number of columns.
"""

import numpy as np

from playground import plots

ATTENTION_SCALE = [[0.0, "rgba(230,30,60,0)"], [1.0, "rgba(230,30,60,0.9)"]]  # transparent -> red, over x_t
GREY = [[0.0, "black"], [1.0, "white"]]  # MNIST look: ink white on black
BLOCK_COLOURS = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725", "#f89540", "#cc4778"]
HEAD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
HIDDEN = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}
T_AXIS = {"title": {"text": "t (0 clean → 999 noise)"}}  # app-wide: t increases to the right


def image_trace(img, ref, name):
    """A 28x28 image, each panel scaled to its own ±max |value| (hover gives the exact number)."""
    lim = float(np.abs(img).max()) or 1.0
    return {"type": "heatmap", "z": np.asarray(img, dtype=np.float32), "colorscale": GREY, "zmin": -lim,
            "zmax": lim, "showscale": False, "zsmooth": False,
            "hovertemplate": f"{name}<br>pixel (row %{{y}}, col %{{x}})<br>%{{z:.3f}}<extra></extra>", **ref}


def patch_trace(values, ref, p, coloraxis, what):
    """A grid x grid map drawn as grid x grid cells, each over its p x p pixels."""
    values = np.asarray(values, dtype=np.float32)
    g = values.shape[0]
    rows, cols = np.divmod(np.arange(g * g), g)
    return {"type": "heatmap", "z": values, "x0": (p - 1) / 2, "dx": p, "y0": (p - 1) / 2, "dy": p,
            "coloraxis": coloraxis, "zsmooth": False,
            "customdata": np.stack([rows, cols], -1).reshape(g, g, 2),
            "hovertemplate": f"patch (row %{{customdata[0]}}, col %{{customdata[1]}})<br>{what} %{{z:.4f}}"
                             "<extra></extra>", **ref}


def square(grid, ref, size):
    """Image axes: no ticks, row 0 on top, square pixels."""
    plots.set_axis(grid, ref["xaxis"], range=[-0.5, size - 0.5], constrain="domain", **HIDDEN)
    plots.set_axis(grid, ref["yaxis"], range=[size - 0.5, -0.5], scaleanchor=ref["xaxis"], constrain="domain",
                   **HIDDEN)


def box(ref, row, col, p, colour="#00e0ff"):
    return {"type": "rect", "xref": ref["xaxis"], "yref": ref["yaxis"], "x0": col * p - 0.5,
            "x1": (col + 1) * p - 0.5, "y0": row * p - 0.5, "y1": (row + 1) * p - 0.5,
            "line": {"color": colour, "width": 2}}


def matrix_trace(z, ref, name, x_name, y_name, colorscale="RdBu_r", lim=None, coloraxis=None):
    z = np.asarray(z, dtype=np.float32)
    lim = lim or float(np.abs(z).max()) or 1.0
    trace = {"type": "heatmap", "z": z, "zsmooth": False,
             "hovertemplate": f"{name}<br>{y_name} %{{y}}, {x_name} %{{x}}<br>%{{z:.3f}}<extra></extra>", **ref}
    if coloraxis:
        trace["coloraxis"] = coloraxis
    else:
        trace.update(colorscale=colorscale, zmin=-lim, zmax=lim, showscale=False)
    return trace


def patchify_figure(x, tokens16, embedded, pos, similarity, query, p, step_name):
    """x_t cut into patches, the tokens, their projection, the 2-D sin-cos table and how alike its positions are."""
    size, g, d = x.shape[-1], int(round(len(pos) ** 0.5)), pos.shape[1]
    qr, qc = query
    titles = [f"x_t ({step_name}) cut into {g}×{g} patches", f"{g * g} tokens × {p * p} pixels",
              f"x_embedder: {g * g} tokens × {d}", f"pos_embed {g * g}×{d}: col sin | cos | row sin | cos",
              "cosine similarity of positions", f"similarity to patch ({qr}, {qc})"]
    refs, grid = plots.grid(2, 3, titles, hspace=0.07, vspace=0.16)
    data = [image_trace(x, refs[0], "x_t"),
            matrix_trace(tokens16, refs[1], "pixel value", "pixel in patch", "token", colorscale=GREY),
            matrix_trace(embedded, refs[2], "x_embedder(x)", "hidden unit", "token"),
            matrix_trace(pos, refs[3], "pos_embed", "number", "patch", lim=1.0),
            matrix_trace(similarity, refs[4], "cosine", "patch", "patch", colorscale="Viridis"),
            patch_trace(similarity[qr * g + qc].reshape(g, g), refs[5], p, "coloraxis", "cosine")]
    low = float(similarity.min())
    data[4].update(zmin=low, zmax=1, colorscale="Viridis")
    shapes = [box(refs[0], qr, qc, p), box(refs[5], qr, qc, p)]
    for j in range(1, g):
        for ref in (refs[0],):
            shapes += [{"type": "line", "xref": ref["xaxis"], "yref": ref["yaxis"], "x0": j * p - 0.5,
                        "x1": j * p - 0.5, "y0": -0.5, "y1": size - 0.5, "line": {"color": "#ffb000", "width": 1}},
                       {"type": "line", "xref": ref["xaxis"], "yref": ref["yaxis"], "y0": j * p - 0.5,
                        "y1": j * p - 0.5, "x0": -0.5, "x1": size - 0.5, "line": {"color": "#ffb000", "width": 1}}]
    for j in range(1, 4):  # the four quarters: column sin, column cos, row sin, row cos
        shapes.append({"type": "line", "xref": refs[3]["xaxis"], "yref": refs[3]["yaxis"], "x0": j * d / 4 - 0.5,
                       "x1": j * d / 4 - 0.5, "y0": -0.5, "y1": g * g - 0.5, "line": {"color": "black", "width": 2}})
    square(grid, refs[0], size)
    square(grid, refs[5], size)
    for i in (1, 2, 3, 4):
        plots.set_axis(grid, refs[i]["yaxis"], autorange="reversed")
    plots.set_axis(grid, refs[4]["yaxis"], scaleanchor=refs[4]["xaxis"], constrain="domain")
    layout = plots.layout(
        f"Patchify: {size}×{size} pixels → {g * g} tokens of {p * p} numbers → {d} each, plus a fixed position",
        "pos_embed: first half encodes the column, second the row; each half sin first. Box = the query patch.",
        height=760, margin={"l": 40, "r": 20, "t": 110, "b": 30}, shapes=shapes,
        coloraxis={"colorscale": "Viridis", "cmin": low, "cmax": 1, "colorbar": {"title": {"text": "cos"}}},
        **grid)
    return plots.figure(data, layout)


def path_figure(x, tokens16, x_in, x_out, patches, eps, depth, step_name):
    """The data's path through one forward, from one step's traced tensors: x_t `[H, W]`, its patches as tokens
    `[T, p*p]`, the tokens entering the first block and leaving the last `[T, D]`, the final layer's tokens
    `[T, p*p*C']` and ε `[H, W]` laid back out by unpatchify."""
    (t_count, pixels), d, numbers = tokens16.shape, x_in.shape[1], patches.shape[1]
    size = x.shape[-1]
    image = f"[1, 1, {size}, {size}]"
    titles = [f"x_t<br>{image}", f"patchify<br>{t_count} tokens × {pixels}", f"+ embed, pos<br>{t_count} × {d}",
              f"{depth} blocks (t, y)<br>{t_count} × {d}", f"final_layer<br>{t_count} × {numbers}",
              f"unpatchify → ε<br>{image}"]
    # a few hidden units are far larger than the rest: one colour scale per panel, saturated at the 99th percentile
    robust = [float(np.percentile(np.abs(v), 99)) or None for v in (x_in, x_out)]
    refs, grid = plots.grid(1, 6, titles, hspace=0.045)
    data = [image_trace(x, refs[0], "x_t"),
            matrix_trace(tokens16, refs[1], "pixel value", "pixel in patch", "token", colorscale=GREY),
            matrix_trace(x_in, refs[2], "x entering block 0", "hidden unit", "token", lim=robust[0]),
            matrix_trace(x_out, refs[3], f"x leaving block {depth - 1}", "hidden unit", "token", lim=robust[1]),
            matrix_trace(patches, refs[4], "ε value", "pixel in patch", "token"),
            image_trace(eps, refs[5], "ε")]
    for i in (0, 5):
        square(grid, refs[i], size)
    for i in (1, 2, 3, 4):
        plots.set_axis(grid, refs[i]["xaxis"], **HIDDEN)
        plots.set_axis(grid, refs[i]["yaxis"], autorange="reversed", **HIDDEN)
    width = grid["xaxis"]["domain"][1]
    arrows = [{"text": "➜", "x": (i + 1) * width + (i + 0.5) * 0.045, "y": 0.5, "xref": "paper", "yref": "paper",
               "showarrow": False, "font": {"size": 26, "color": "#ff7f0e"}} for i in range(5)]
    layout = plots.layout(f"One forward at {step_name}: pixels → tokens → {depth} blocks → tokens → noise", None,
                          height=380, margin={"l": 10, "r": 10, "t": 100, "b": 10}, **grid)
    layout["annotations"] = layout.get("annotations", []) + arrows
    return plots.figure(data, layout)


def attention_coloraxis(maps):
    return {"colorscale": ATTENTION_SCALE, "cmin": 0, "cmax": float(np.max(maps)),
            "colorbar": {"title": {"text": "weight"}, "thickness": 14}}


def attention_grid_figure(x, maps, query, p, step_name):
    """`maps` `[depth, heads, T]`: the query patch's attention over the grid, every block and head, over x_t."""
    depth, heads, t_count = maps.shape
    g = int(round(t_count**0.5))
    refs, grid = plots.grid(heads, depth, [f"block {b} · head {h}" for h in range(heads) for b in range(depth)],
                            hspace=0.02, vspace=0.08)
    data, shapes = [], []
    for h in range(heads):
        for b in range(depth):
            ref = refs[h * depth + b]
            data += [image_trace(x, ref, "x_t"), patch_trace(maps[b, h].reshape(g, g), ref, p, "coloraxis", "weight")]
            shapes.append(box(ref, *query, p))
            square(grid, ref, x.shape[-1])
    layout = plots.layout(
        f"Where patch {query} looks, in every block and head ({step_name})",
        f"softmax(q kᵀ/√d) from the hooked q, k; each of the {g}×{g} cells covers its {p}×{p} pixels; "
        "box = the query; one colour scale for all",
        height=500, margin={"l": 20, "r": 20, "t": 100, "b": 20}, shapes=shapes,
        coloraxis=attention_coloraxis(maps), **grid)
    return plots.figure(data, layout)


def attention_over_t_figure(xs, maps, query, p, step_names, block, head):
    """`xs` `[steps, H, W]`, `maps` `[steps, T]`: one head's map of the query patch at every step."""
    steps, t_count = maps.shape
    g = int(round(t_count**0.5))
    refs, grid = plots.grid(1, steps, [name.replace(", ", "<br>") for name in step_names], hspace=0.012)
    data, shapes = [], []
    for i, ref in enumerate(refs):
        data += [image_trace(xs[i], ref, "x_t"), patch_trace(maps[i].reshape(g, g), ref, p, "coloraxis", "weight")]
        shapes.append(box(ref, *query, p))
        square(grid, ref, xs.shape[-1])
    layout = plots.layout(
        f"Block {block}, head {head}: the same query from noisy to clean", "each panel over that step's x_t",
        height=330, margin={"l": 20, "r": 20, "t": 120, "b": 10}, shapes=shapes,
        coloraxis=attention_coloraxis(maps), **grid)
    return plots.figure(data, layout)


def distance_figure(ts, distance, se, uniform, images):
    """`distance` `[steps, depth, heads]` mean attention distance in pixels over `images` samples, `se` its standard
    error, one panel per block, with `uniform` (a head attending to every patch alike) drawn in each."""
    steps, depth, heads = distance.shape
    refs, grid = plots.grid(1, depth, [f"block {b}" for b in range(depth)], hspace=0.025)
    data = []
    for b, ref in enumerate(refs):
        for h in range(heads):
            data.append({"type": "scatter", "x": list(ts), "y": distance[:, b, h].astype(np.float32),
                         "error_y": {"type": "data", "array": se[:, b, h].astype(np.float32), "thickness": 1},
                         "mode": "lines+markers", "name": f"head {h}", "legendgroup": f"h{h}", "showlegend": b == 0,
                         "line": {"color": HEAD_COLOURS[h % len(HEAD_COLOURS)]},
                         "hovertemplate": f"block {b}, head {h}<br>t = %{{x}}<br>%{{y:.2f}} px<extra></extra>",
                         **ref})
        data.append({"type": "scatter", "x": [ts[0], ts[-1]], "y": [uniform, uniform], "mode": "lines",
                     "name": f"uniform attention ({uniform:.1f} px)", "legendgroup": "uniform",
                     "showlegend": b == 0, "line": {"color": "#888", "dash": "dash", "width": 1.5},
                     "hovertemplate": f"uniform attention: {uniform:.2f} px<extra></extra>", **ref})
        plots.set_axis(grid, ref["xaxis"], **T_AXIS)
        plots.set_axis(grid, ref["yaxis"], range=[0, max(float((distance + se).max()), uniform) * 1.08],
                       matches="y", showticklabels=b == 0, title={"text": "px" if b == 0 else ""})
    layout = plots.layout("Mean attention distance against t",
                          f"Σ_j w_ij · |pos_i − pos_j| averaged over the queries, in pixels; mean over {images} "
                          "samples (bars: standard error); dashed: every patch weighted alike",
                          height=380, margin={"l": 60, "r": 20, "t": 110, "b": 50},
                          legend={"orientation": "h", "y": 0.97, "yanchor": "top", "x": 1, "xanchor": "right",
                                  "yref": "container"}, **grid)
    return plots.figure(data, layout)


def writes_figure(ts, attn, mlp, stream):
    """`[steps, depth]` mean per-token ‖gate ⊙ branch‖ of each branch, and the stream it is added to."""
    titles = ["attention: ‖gate_msa ⊙ attn‖", "MLP: ‖gate_mlp ⊙ mlp‖", "both, relative to ‖x‖ entering the block"]
    refs, grid = plots.grid(1, 3, titles, hspace=0.08)
    data = []
    for j, values in enumerate((attn, mlp, (attn + mlp) / stream)):
        for b in range(values.shape[1]):
            data.append({"type": "scatter", "x": list(ts), "y": values[:, b].astype(np.float32),
                         "mode": "lines+markers", "name": f"block {b}", "legendgroup": f"b{b}",
                         "showlegend": j == 0, "line": {"color": BLOCK_COLOURS[b % len(BLOCK_COLOURS)]},
                         "hovertemplate": f"block {b}<br>t = %{{x}}<br>%{{y:.3g}}<extra></extra>", **refs[j]})
        plots.set_axis(grid, refs[j]["xaxis"], **T_AXIS)
    plots.set_axis(grid, refs[2]["yaxis"], tickformat=".0%")
    layout = plots.layout("adaLN-Zero at work: how much each block adds to the residual stream",
                          "mean over the tokens of the L2 norm over the hidden units",
                          height=400, margin={"l": 60, "r": 20, "t": 100, "b": 50}, **grid)
    return plots.figure(data, layout)


def write_maps_figure(attn, mlp, g, step_name):
    """`[depth, T]` per-token ‖gate ⊙ branch‖ at one step, as grid x grid maps (rows: attention, MLP)."""
    depth = attn.shape[0]
    titles = [f"block {b} · attn" for b in range(depth)] + [f"block {b} · MLP" for b in range(depth)]
    refs, grid = plots.grid(2, depth, titles, hspace=0.02, vspace=0.1)
    data = []
    for i, ref in enumerate(refs):
        values = (attn if i < depth else mlp)[i % depth].reshape(g, g)
        data.append(patch_trace(values, ref, 1, "coloraxis", "‖gate ⊙ branch‖"))
        square(grid, ref, g)
    layout = plots.layout(f"Where each block writes ({step_name})",
                          f"per token ‖gate ⊙ branch‖, one {g}×{g} cell per patch, one colour scale",
                          height=470, margin={"l": 20, "r": 20, "t": 100, "b": 20},
                          coloraxis={"colorscale": "Viridis", "cmin": 0, "cmax": float(max(attn.max(), mlp.max())),
                                     "colorbar": {"thickness": 14}}, **grid)
    return plots.figure(data, layout)


def final_figure(x, patches, eps, x0, step_name):
    """The final layer's tokens `[T, p*p*C]`, unpatchified into ε, and the x0 it implies."""
    t_count, numbers = patches.shape
    titles = [f"x_t ({step_name})", f"final_layer: {t_count} tokens × {numbers}", "unpatchify → ε (28×28)",
              "implied x0 = (x_t − σε)/α"]
    refs, grid = plots.grid(1, 4, titles, hspace=0.05)
    data = [image_trace(x, refs[0], "x_t"), matrix_trace(patches, refs[1], "ε value", "pixel in patch", "token"),
            image_trace(eps, refs[2], "ε"), image_trace(x0, refs[3], "x0")]
    for i in (0, 2, 3):
        square(grid, refs[i], x.shape[-1])
    plots.set_axis(grid, refs[1]["yaxis"], autorange="reversed")
    layout = plots.layout("Final layer: modulated LayerNorm → Linear → unpatchify", "the conditional ε (no guidance)",
                          height=380, margin={"l": 40, "r": 20, "t": 100, "b": 30}, **grid)
    return plots.figure(data, layout)
