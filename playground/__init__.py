"""DiT Playground: see how a Diffusion Transformer conditions on time and class."""
