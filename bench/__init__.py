"""Benchmarks (not tests): `python -m bench.generation` and `python -m bench.training`."""
