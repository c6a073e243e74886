"""Helpers for benchmarks: repeat a callable and report the median and spread; percentiles of
samples taken elsewhere; a summary of figures printed at the end of a run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


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


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples`` by nearest rank; NaN when empty."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """p50, p95 and max of samples in milliseconds."""

    p50: float
    p95: float
    max: float
    n: int

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Latency:
        return cls(
            percentile(samples_ms, 50),
            percentile(samples_ms, 95),
            max(samples_ms, default=float("nan")),
            len(samples_ms),
        )

    def __str__(self) -> str:
        return (
            f"p50 {self.p50:8.1f} ms   p95 {self.p95:8.1f} ms   max {self.max:8.1f} ms"
            f"  (n={self.n})"
        )


@dataclass
class Summary:
    """Figures collected during a run, printed together at the end."""

    title: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: str, target: str = "") -> None:
        self.rows.append((name, value, target))

    def print(self) -> None:
        width = max((len(name) for name, _, _ in self.rows), default=10)
        print(f"\n== summary: {self.title}")
        for name, value, target in self.rows:
            print(f"  {name:<{width}}  {value}{'   (target ' + target + ')' if target else ''}")
