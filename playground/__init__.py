"""DiT Playground: see how a Diffusion Transformer conditions on time and class.

Importing the package, or any module in it, has no effect outside it: the process-wide settings live in
`playground.process`, and the programs (`app.py`, the command lines) apply them explicitly.
"""
