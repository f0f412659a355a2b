"""One module per tab of the playground, with no gradio: numbers in; figures, images and text out.

Each view module owns its `DEFAULTS` (the function signatures and the UI widgets read them), its caps (`MAX_*`,
shown next to the widgets) and its validation. `playground.ui` builds one tab from each.
"""
