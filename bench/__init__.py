"""Benchmarks: `make bench` prints the strategy table (python -m bench.run)."""
