"""Synthetic anomalies injected into history assumed normal: the positives the detector learns
from, so that no labels are needed. Each episode touches a few metrics over a contiguous run of
rows, in one of four shapes seen in real incidents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("shift", "spikes", "noise", "ramp")


@dataclass(frozen=True)
class Episode:
    start: int
    stop: int
    columns: tuple[int, ...]
    shape: str
    magnitude: float  # in standard deviations of the column


def inject(
    values: np.ndarray,
    rng: np.random.Generator,
    *,
    fraction: float = 0.3,
    min_len: int = 3,
    max_len: int = 1000,
    max_columns: int = 12,
) -> tuple[np.ndarray, np.ndarray, list[Episode]]:
    """A copy of ``values`` with anomaly episodes covering about ``fraction`` of the rows, the 0/1
    label per row, and the episodes. Magnitudes are log-uniform between 0.5 and 6 standard
    deviations and lengths log-uniform, so the model learns gradations, not one easy cut."""
    out = np.array(values, dtype=float, copy=True)
    n, d = out.shape
    labels = np.zeros(n, dtype=np.int8)
    episodes: list[Episode] = []
    if n < 2 * min_len or d == 0:
        return out, labels, episodes
    sd = np.maximum(out.std(axis=0), 1e-3 * (np.abs(out).mean(axis=0) + 1.0))
    max_len = max(min_len + 1, min(max_len, n // 4))
    attempts = 0
    while labels.mean() < fraction and attempts < 10_000:
        attempts += 1
        length = int(np.exp(rng.uniform(np.log(min_len), np.log(max_len))))
        start = int(rng.integers(0, n - length))
        stop = start + length
        k = int(rng.integers(1, min(max_columns, d) + 1))
        cols = rng.choice(d, size=k, replace=False)
        shape = str(rng.choice(SHAPES))
        magnitude = float(np.exp(rng.uniform(np.log(0.5), np.log(6.0))))
        size = magnitude * sd[cols] * rng.choice([-1.0, 1.0], size=k)
        block = out[start:stop][:, cols]
        if shape == "shift":
            block += size
        elif shape == "ramp":
            block += size * np.linspace(0.0, 2.0, length)[:, None]
        elif shape == "noise":
            block += rng.normal(0.0, 1.0, (length, k)) * np.abs(size)
        else:
            hits = rng.random((length, k)) < rng.uniform(0.02, 0.3)
            block += hits * np.abs(size) * 3.0
        out[start:stop, cols] = block
        labels[start:stop] = 1
        episodes.append(Episode(start, stop, tuple(int(c) for c in cols), shape, magnitude))
    return out, labels, episodes
