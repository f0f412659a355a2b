"""What the playground shows, with no gradio: numbers in; figures, images and text out.

One sub-package per chapter and one module per page (`playground.chapters`), helpers of a chapter beside its
pages. Each page module owns its `DEFAULTS` (the function signatures and the UI widgets read them), its caps
(`MAX_*`, shown next to the widgets) and its validator, which returns a frozen request the views take.
`playground.ui.<chapter>.<page>` lays each page out.
"""
