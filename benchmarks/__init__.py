"""Benchmarks: retrieval quality, load, and speed (``kbqa bench``); see docs/benchmarks.md."""
