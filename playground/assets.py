"""Where the shipped files live: every checkpoint (beside its JSON card) and the precomputed trade-off curves."""

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_DIT = ASSETS / "dit_mnist.safetensors"  # the DiT the app serves unless told otherwise
DEFAULT_JUDGE = ASSETS / "judge.safetensors"  # the MNIST classifier that scores samples
DEFAULT_CLASSIFIER = ASSETS / "noisy_classifier.safetensors"  # the guide of classifier guidance
TRADEOFF_FILE = ASSETS / "tradeoff.json"  # written by `python -m playground.cli.tradeoff`
# Three small DiTs identical but for their label-dropout rate, keyed by the rate as their file names spell it.
COMPANIONS = {p: ASSETS / f"dit_mnist_small_p{p.replace('.', '')}.safetensors" for p in ("0", "0.1", "0.5")}
AUTOGUIDE_WEAK = COMPANIONS["0.1"]  # autoguidance's weaker model of the same conditioning (smaller, shorter-trained)
