"""The look of the app and the widgets and wiring its pages share."""

import gradio as gr

THEME = gr.themes.Soft(text_size="lg")
CSS = """
.gradio-container {max-width: 100% !important; padding-top: 4px !important;}
#title h1 {font-size: 26px; margin: 2px 0 0 0;}
#title p {margin: 2px 0 4px 0;}
.caps {font-size: 14px !important; color: #555;}
.big-run {font-size: 20px !important;}
.nowrap-table th, .nowrap-table td {white-space: nowrap;}
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


def plot(**kwargs):
    return gr.Plot(show_label=False, **kwargs)


def image(elem_id, value=None, height=380):
    # No button overlay: it would hide the last column's header.
    return gr.Image(value=value, show_label=False, type="pil", format="png", interactive=False, height=height,
                    elem_id=elem_id, buttons=[])


def digit_choices(num_classes):
    """Dropdown/radio choices `("0", 0) ... ` for the digits a model draws."""
    return [(str(i), i) for i in range(num_classes)]
