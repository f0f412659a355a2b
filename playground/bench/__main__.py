"""`python -m playground.bench`: the benchmark (see `playground.bench.bench`)."""

from playground.bench.bench import main

if __name__ == "__main__":
    main()
