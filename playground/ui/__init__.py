"""The Gradio layer of the DiT Playground: a thin layer over `playground.views`, one module per page.

`app` assembles the chapters and pages of `playground.chapters`; `serving` loads the models once per process;
`turns` shares the cores between sampling requests and the other views; `openings` computes what each page opens
on; `widgets` holds the look and the wiring the pages share. Every named endpoint (the README lists them) skips
gradio's preprocessing, so every value a client sends, in range or not, reaches a validator, and a bad one gets a
message naming the field.
"""
