"""Benchmarks: retrieval quality, load, and speed (``kbqa bench``); see bench/README.md."""
