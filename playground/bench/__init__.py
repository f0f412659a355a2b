"""Measuring code: the benchmark (`python -m playground.bench`), the load test, the textbook baseline loop and the
app launcher."""
