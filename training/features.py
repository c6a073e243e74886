"""Deviation features for any numeric metric columns, causal (a row sees only rows before it).

Two levels, both robust and scale-free, so that one trained model scores any set of metrics:

1. ``z``: each value against its column's baseline (median and a robust scale fitted on history),
   in sigmas, clipped.
2. ``g[w]``: the rolling mean of ``|z|`` over the last ``w`` rows, standardised against how that
   same rolling mean behaves on history. A burst of small spikes, a level shift and a slow drift all
   show up in some window; ``g`` says how unusual it is for *this* metric, so a noisy metric does
   not outrank a quiet one that suddenly moves.

The model sees only aggregates of ``g`` across metrics (l2, max, mean, top-3 mean, share above 3)
per window, and explanations fold the model's contributions back to metrics by each metric's share
of those aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

Z_CLIP = 20.0
G_CLIP = 50.0
AGGREGATES = ("l2", "max", "mean", "top3", "over3")


def feature_names(windows: Sequence[int]) -> list[str]:
    return [f"{agg}_w{w}" for w in windows for agg in AGGREGATES]


@dataclass(frozen=True)
class Baseline:
    """Robust per-column statistics of a history assumed mostly normal."""

    columns: tuple[str, ...]
    median: np.ndarray
    scale: np.ndarray
    low: np.ndarray  # 1st percentile: the normal band's lower edge
    high: np.ndarray  # 99th percentile
    roll_mean: dict[int, np.ndarray]  # per window: mean of the rolling mean of |z| on history
    roll_std: dict[int, np.ndarray]
    tail: np.ndarray  # the last rows of history: the warm-up for rolling windows

    @classmethod
    def fit(cls, values: np.ndarray, columns: Sequence[str], windows: Sequence[int]) -> Baseline:
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or len(values) < 2:
            raise ValueError("a baseline needs at least 2 rows of history")
        median, scale = robust_stats(values)
        z = np.abs(zscores(values, median, scale))
        roll_mean, roll_std = {}, {}
        for w in windows:
            rolled = rolling_mean(z, w)
            q25, q50, q75 = np.quantile(rolled, (0.25, 0.5, 0.75), axis=0)
            roll_mean[w] = q50
            # the interquartile range: robust to anomalies that are in the history too
            roll_std[w] = np.maximum((q75 - q25) / 1.349, np.maximum(0.1 * q50, 1e-3))
        keep = max(windows)
        return cls(
            columns=tuple(columns),
            median=median,
            scale=scale,
            low=np.quantile(values, 0.01, axis=0),
            high=np.quantile(values, 0.99, axis=0),
            roll_mean=roll_mean,
            roll_std=roll_std,
            tail=values[-keep:].copy(),
        )


def robust_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and a robust scale per column. The scale is the larger of the MAD (as sigma), half
    the standard deviation (so rare spikes in an otherwise flat metric set its scale) and 1 % of
    the column's range or level (so a constant column does not turn noise into alarms)."""
    median = np.median(values, axis=0)
    mad = np.median(np.abs(values - median), axis=0) * 1.4826
    spread = np.ptp(values, axis=0)
    floor = 0.01 * np.maximum(spread, np.abs(median)) + 1e-9
    return median, np.maximum(np.maximum(mad, 0.5 * values.std(axis=0)), floor)


def zscores(values: np.ndarray, median: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.clip((values - median) / scale, -Z_CLIP, Z_CLIP)


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Causal rolling mean over the last ``window`` rows (fewer at the start)."""
    if window <= 1:
        return values.copy()
    csum = np.cumsum(values, axis=0)
    out = csum.copy()
    out[window:] = csum[window:] - csum[:-window]
    counts = np.minimum(np.arange(1, len(values) + 1), window)[:, None]
    return out / counts


@dataclass
class Deviations:
    """Per-row, per-column deviations of scored rows (warm-up rows removed)."""

    z: np.ndarray  # signed z against the baseline
    g: dict[int, np.ndarray]  # per window, standardised rolling |z| (>= 0)
    features: np.ndarray  # rows x feature_names(windows)


def deviations(values: np.ndarray, baseline: Baseline, windows: Sequence[int]) -> Deviations:
    """Deviation features of ``values`` against a fitted baseline; the baseline's history tail
    warms up the rolling windows, so the first rows are scored like any other."""
    values = np.asarray(values, dtype=float)
    warm = len(baseline.tail)
    joined = np.vstack([baseline.tail, values]) if warm else values
    z = zscores(joined, baseline.median, baseline.scale)
    absz = np.abs(z)
    g = {}
    for w in windows:
        rolled = rolling_mean(absz, w)[warm:]
        g[w] = np.clip((rolled - baseline.roll_mean[w]) / baseline.roll_std[w], 0.0, G_CLIP)
    return Deviations(z=z[warm:], g=g, features=aggregate(g, windows))


MIN_HISTORY = 30  # rows before the first judged row
MAX_HISTORY = 10_080  # a week of 1-minute rows: older rows leave the expanding baseline


def refit_points(n: int) -> list[int]:
    """Where the expanding baseline is refitted: after ``MIN_HISTORY`` rows, then each time the
    history has grown by a tenth (at most a day of rows). Depends only on the position, never on
    ``n``, so a row's score does not change when rows are appended after it."""
    points, start = [], MIN_HISTORY
    while start < n:
        points.append(start)
        start += max(MIN_HISTORY, min(start // 10, 1440))
    return points


def expanding_deviations(values: np.ndarray, windows: Sequence[int]) -> Deviations:
    """Deviations without separate history: each block of rows is judged against a baseline
    fitted on the rows before it (up to ``MAX_HISTORY``), which is what live alerting does. The
    first ``MIN_HISTORY`` rows have no baseline and get zero deviation."""
    values = np.asarray(values, dtype=float)
    n, d = values.shape
    z = np.zeros((n, d))
    g = {w: np.zeros((n, d)) for w in windows}
    points = refit_points(n)
    stops = [*points[1:], n] if points else []  # MIN_HISTORY rows or fewer: nothing judged
    for start, stop in zip(points, stops, strict=True):
        history = values[max(0, start - MAX_HISTORY) : start]
        base = Baseline.fit(history, [str(i) for i in range(d)], windows)
        part = deviations(values[start:stop], base, windows)
        z[start:stop] = part.z
        for w in windows:
            g[w][start:stop] = part.g[w]
    return Deviations(z=z, g=g, features=aggregate(g, windows))


def aggregate(g: dict[int, np.ndarray], windows: Sequence[int]) -> np.ndarray:
    """The model's inputs: per window, the l2 norm, max, mean, top-3 mean and share above 3 of
    the per-metric deviations."""
    cols = []
    for w in windows:
        gw = g[w]
        top = np.sort(gw, axis=1)[:, -3:]
        cols += [
            np.sqrt((gw**2).sum(axis=1)),
            top[:, -1],
            gw.mean(axis=1),
            top.mean(axis=1),
            (gw > 3.0).mean(axis=1),
        ]
    return np.column_stack(cols) if cols else np.zeros((0, 0))


def metric_shares(g: dict[int, np.ndarray], windows: Sequence[int]) -> dict[int, np.ndarray]:
    """Per window, each metric's share (0..1, rows sum to 1) of the squared deviations: how the
    model's contribution for that window's aggregates is split among metrics."""
    out = {}
    for w in windows:
        sq = g[w] ** 2
        total = sq.sum(axis=1, keepdims=True)
        even = np.full_like(sq, 1.0 / max(sq.shape[1], 1))
        out[w] = np.where(total > 0, sq / np.where(total > 0, total, 1.0), even)
    return out


def numeric_frame(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> pd.DataFrame:
    """The numeric metric columns of a frame (timestamps, labels and ``exclude`` dropped)."""
    cols = [
        c
        for c in frame.columns
        if c not in exclude
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    return frame[cols]
