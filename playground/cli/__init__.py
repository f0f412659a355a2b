"""Command-line programs: sample, evaluate, train, the trade-off curves, and the trainers of the judge and of the
noise-aware classifier."""
