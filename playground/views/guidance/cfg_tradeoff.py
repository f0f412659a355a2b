"""The CFG page's all-class picture: the precomputed CFG curve (`python -m playground.cli.tradeoff`), samples of every
digit at each scale, as a three-panel figure (Frechet distance, accuracy, diversity against s) and a sentence computed
from it. A sweep of one digit with a handful of samples cannot show the trade-off at the level of the distribution;
this can.
"""

from pathlib import Path

from playground import plots
from playground.assets import ASSETS, TRADEOFF_FILE
from playground.inputs import fmt
from playground.views.guidance import curves
from playground.views.guidance.cfg import KIND_COLOURS

TRADEOFF_COMMAND = f"{curves.COMMAND} --out assets/tradeoff.json"


def load_tradeoff(path=TRADEOFF_FILE, curve="cfg"):
    """`(run, None)` with `run` the JSON of `python -m playground.cli.tradeoff` holding `curve`, or `(None, reason)`."""
    shown = Path(path)
    if shown.is_relative_to(ASSETS.parent):
        shown = shown.relative_to(ASSETS.parent)  # say assets/tradeoff.json, not this machine's full path
    run = curves.load_tradeoff(path)
    if run is None:
        return None, f"{shown} is missing or unreadable: precompute it with `{TRADEOFF_COMMAND}` (30 of each digit)."
    if not curves.points(run, curve):
        return None, f"{shown} has no '{curve}' curve yet: rerun `{TRADEOFF_COMMAND} --resume --methods {curve}`."
    return run, None


def tradeoff_points(run, curve="cfg"):
    """The curve's points sorted by scale, each with `s` set to its scale (s, or g for classifier guidance)."""
    return sorted(({**p, "s": float(curves.scale_of(p))} for p in curves.points(run, curve)), key=lambda p: p["s"])


def tradeoff_facts(run, curve="cfg"):
    """What the all-class curve says, computed: the lowest Frechet distance and the scales whose ±2 SE reach it
    (`curves.best_point`), the last scale's, whether its rise is beyond that noise, accuracy and diversity."""
    points = tradeoff_points(run, curve)
    best, overlaps = curves.best_point(points)
    last = points[-1]
    settings = run.get("settings", {})
    return {
        "samples": settings.get("per_class", 0) * 10,
        "per_class": settings.get("per_class"),
        "best": best,
        "best_s": best["s"],
        "best_frechet": best["frechet"],
        "tied_with_best": [p["s"] for p in overlaps],
        "last": last,
        "last_s": last["s"],
        "last_frechet": last["frechet"],
        "rise_is_real": last is not best and all(p is not last for p in overlaps),
        "floor": run.get("real_floor", {}).get("frechet"),
        "first": points[0],
    }


def tradeoff_markdown(run, curve="cfg"):
    """The sentence computed from the precomputed all-class curve."""
    f = tradeoff_facts(run, curve)
    first, last = f["first"], f["last"]
    text = (
        f"**The whole distribution** ({f['samples']} samples per scale, {f['per_class']} of each digit; "
        f"`{run.get('command', TRADEOFF_COMMAND).strip()}`): the Frechet distance to held-out real digits is lowest "
        f"at **s = {fmt(f['best_s'])}** ({curves.fmt_point(f['best'], 'frechet')}"
        + (f"; {curves.floor_text(run)}" if f["floor"] is not None else "")
        + ")"
    )
    if f["tied_with_best"]:
        text += f", with s = {', '.join(fmt(s) for s in f['tied_with_best'])} within 2 standard errors of it"
    if f["rise_is_real"]:
        text += f", and rises to {curves.fmt_point(last, 'frechet')} at s = {fmt(f['last_s'])}"
    else:
        text += f"; at s = {fmt(f['last_s'])} it is {curves.fmt_point(last, 'frechet')}, within the noise"
    text += (
        f". Judge accuracy goes from {curves.fmt_point(first, 'accuracy')} at s = {fmt(first['s'])} to "
        f"{curves.fmt_point(last, 'accuracy')} at s = {fmt(f['last_s'])}, and diversity from "
        f"{curves.diversity_from_real(first['diversity'], first.get('diversity_se'), run)} to "
        f"{curves.diversity_from_real(last['diversity'], last.get('diversity_se'), run)}."
    )
    if f["rise_is_real"]:
        text += (
            f" Past s = {fmt(f['best_s'])}, more guidance does not make the samples better as a whole: it makes "
            "the set of digits less like real handwriting."
        )
    return text


def tradeoff_figure(run, curve="cfg"):
    """Frechet distance (± SE, with the real-data floor), accuracy (95% interval) and diversity (± SE) against s."""
    points = tradeoff_points(run, curve)
    xs = [p["s"] for p in points]
    refs, grid_layout = plots.grid(
        1, 3, ["Frechet distance to real digits (lower = closer)", "judge accuracy", "diversity (pixel distance)"],
        hspace=0.08,
    )

    def line(key, colour, ref, error, name):
        return {
            "type": "scatter", "x": xs, "y": [p[key] for p in points], "mode": "lines+markers", "name": name,
            "line": {"color": colour, "width": 3}, "marker": {"size": 8}, "error_y": error, "showlegend": False,
            "hovertemplate": f"s = %{{x}}<br>{name} %{{y:.3g}}<extra></extra>", **ref,
        }

    def se_bars(key):
        return {"type": "data", "array": [p.get(key) or 0 for p in points], "thickness": 2, "width": 5}

    wilson = {
        "type": "data", "symmetric": False, "thickness": 2, "width": 5,
        "array": [p["accuracy_high"] - p["accuracy"] for p in points],
        "arrayminus": [p["accuracy"] - p["accuracy_low"] for p in points],
    }
    data = [
        line("frechet", "#d62728", refs[0], se_bars("frechet_se"), "Frechet"),
        line("accuracy", KIND_COLOURS["accuracy"], refs[1], wilson, "accuracy"),
        line("diversity", KIND_COLOURS["diversity"], refs[2], se_bars("diversity_se"), "diversity"),
    ]
    shapes, notes = curves.floor_marks(run, refs[0]["xaxis"], refs[0]["yaxis"])
    for note in notes:  # the full sentence is wider than a third of the figure: on hover, its mean on the band
        note.update(hovertext=note["text"], text=f"real digits: {curves.floor_band(run)[1]:.1f}")
    diversity_shapes, diversity_notes = curves.real_diversity_marks(run, "y", refs[2]["xaxis"], refs[2]["yaxis"])
    shapes += diversity_shapes
    grid_layout["annotations"] += notes + diversity_notes
    f = tradeoff_facts(run, curve)
    title = (f"All ten digits, {f['samples']} samples per scale: Frechet distance lowest at s = {fmt(f['best_s'])} "
             f"({f['best_frechet']:.1f}), {f['last_frechet']:.1f} at s = {fmt(f['last_s'])}")
    figure_layout = plots.layout(title, "error bars: ± 1 standard error (Frechet, diversity), 95% Wilson interval "
                                 "(accuracy)<br>shaded: real training digits against the held-out ones (Frechet), "
                                 "real digits' diversity (read it as distance from that, not more-is-better)",
                                 height=400, margin={"l": 60, "r": 20, "t": 120, "b": 60}, shapes=shapes,
                                 **grid_layout)
    for ref in refs:
        plots.set_axis(figure_layout, ref["xaxis"], title={"text": "guidance scale s"})
    plots.set_axis(figure_layout, refs[0]["yaxis"], rangemode="tozero")
    plots.set_axis(figure_layout, refs[1]["yaxis"], range=[0, 1.05])
    return plots.figure(data, figure_layout)


def tradeoff_view(path=TRADEOFF_FILE, curve="cfg"):
    """`{"figure", "markdown"}` of the precomputed all-class curve, or a figure and text that say what is missing."""
    run, reason = load_tradeoff(path, curve)
    if run is None:
        return {"figure": plots.message_figure(reason, title="No precomputed trade-off"), "markdown": reason}
    return {"figure": tradeoff_figure(run, curve), "markdown": tradeoff_markdown(run, curve)}
