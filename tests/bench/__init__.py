"""Benchmarks: speed and memory figures, printed, never asserted. Run ``python -m tests.bench``."""
