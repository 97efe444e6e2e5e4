"""Benchmarks and harnesses that print JSON; never part of `make test`."""
