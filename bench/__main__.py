"""`python -m bench`: the whole benchmark suite (see bench/README.md)."""

from bench.run import main

main()
