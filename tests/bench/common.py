"""Helpers for benchmarks: repeat a callable and report the median and spread."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure(label: str, run: Callable[[], object], repeat: int = 15, unit: str = "ms") -> float:
    """Run ``run`` ``repeat`` times (after one warm-up) and print median, p10 and p90."""
    run()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * (1000 if unit == "ms" else 1))
    samples.sort()
    median = statistics.median(samples)
    p10 = samples[max(0, len(samples) // 10)]
    p90 = samples[min(len(samples) - 1, len(samples) * 9 // 10)]
    print(f"{label:<58} median {median:8.2f} {unit}   p10 {p10:8.2f}   p90 {p90:8.2f}")
    return median
