"""The look of the app and the widgets and wiring its pages share."""

import re

import gradio as gr

THEME = gr.themes.Soft(text_size="lg")
CSS = """
.gradio-container {max-width: 100% !important; padding-top: 4px !important;}
#title-bar {flex-wrap: nowrap; align-items: center; min-height: 0;}
#title p {margin: 0; font-size: 17px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;}
.caps {font-size: 14px !important; color: #555;}
.big-run {font-size: 20px !important;}
.nowrap-table th, .nowrap-table td {white-space: nowrap;}
body.present .fold, body.present .caps {display: none !important;}
body.present .prose {font-size: 20px !important;}
body.present .js-plotly-plot text {font-size: 16px !important;}
body.present .js-plotly-plot text.gtitle {font-size: 22px !important;}
body.present button.demo {font-size: 20px !important;}
body.present .image-container img {min-height: 60vh; object-fit: contain;}
.nowrap-head th {white-space: nowrap;}
.nowrap-table table, .nowrap-head table {display: block; max-width: 100%; overflow-x: auto;}
.scroll-x pre {max-width: 100%; overflow-x: auto; white-space: pre;}
#cfg-grid img, #cfg-live-column img {object-fit: contain;}
"""
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def user_error(fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, with its ValueError (bad input) shown to the person as a `gr.Error`."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise gr.Error(str(e), title="Please check the input") from e


def wire_demos(buttons, presets, fn, inputs, outputs, **event_settings):
    """One-click demos: each of `buttons` (`{name: gr.Button}`) fills `inputs` with `presets[name]`'s values (in
    the inputs' order), then runs `fn` on them. Returns the runs' events, so more can follow (`.success`)."""
    return [button.click(lambda preset=presets[name]: tuple(preset.values()), outputs=inputs,
                         api_visibility="private", queue=False)
            .then(fn, inputs, outputs, api_visibility="private", **event_settings)
            for name, button in buttons.items()]


def slug(name):
    """A one-click demo's name for links: its words, lower case, joined by hyphens ("When is a 3 decided? (3 → 8)"
    -> "when-is-a-3-decided-3-8")."""
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


def demo_buttons(names):
    """`{name: gr.Button}` of one-click demos: a link's `&demo=SLUG` and presenter mode's arrow keys find them by
    their id (`demo-<slug>`) and class (`demo`)."""
    return {name: gr.Button(name, size="md", elem_id=f"demo-{slug(name)}", elem_classes="demo") for name in names}


def fold(title="The numbers behind it"):
    """A fold that starts closed, for what a page's picture does not need on the first screen: tables, formulas,
    code, caps ("The numbers behind it") and settings beyond the primary ones ("More settings"). Presenter mode
    hides folds."""
    return gr.Accordion(title, open=False, elem_classes="fold")


def plot(**kwargs):
    return gr.Plot(show_label=False, **kwargs)


def image(elem_id, value=None, height=380):
    # No button overlay: it would hide the last column's header.
    return gr.Image(value=value, show_label=False, type="pil", format="png", interactive=False, height=height,
                    elem_id=elem_id, buttons=[])


def digit_choices(num_classes):
    """Dropdown/radio choices `("0", 0) ... ` for the digits a model draws."""
    return [(str(i), i) for i in range(num_classes)]
