"""Benchmarks: `make bench` runs every module listed in BENCHMARKS and records the figures."""
