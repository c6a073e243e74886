"""Synthetic normal behaviour for model tests and benchmarks, and a TelemetryReader over
in-memory frames (one per host) for the live scorer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from knowledge.telemetry import LogRecord, MetricSeries

COLUMNS = ("cpu_usage", "memory_usage", "disk_usage", "load_average", "queue", "latency")


def clean(rows: int, seed: int) -> pd.DataFrame:
    """Normal behaviour: a daily cycle, AR(1) noise, and correlated columns."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    day = np.sin(2 * np.pi * t / 1440)
    noise = np.zeros((rows, len(COLUMNS)))
    for i in range(1, rows):
        noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 1, len(COLUMNS))
    base = np.array([40.0, 55.0, 60.0, 2.0, 20.0, 120.0])
    amp = np.array([15.0, 3.0, 0.5, 0.8, 6.0, 20.0])
    scale = np.array([2.0, 0.8, 0.2, 0.15, 1.5, 6.0])
    values = base + amp * day[:, None] + scale * noise
    values[:, 3] += 0.02 * (values[:, 0] - 40)  # load follows cpu
    return pd.DataFrame(values, columns=list(COLUMNS))


class FrameReader:
    """A TelemetryReader over in-memory frames (one per host), for the live scorer."""

    def __init__(
        self,
        frames: dict[tuple[str, str], pd.DataFrame],
        now: datetime,
        columns: Sequence[str] = COLUMNS,
    ) -> None:
        self.frames = frames
        self.columns = list(columns)
        self._now = now

    def now(self) -> datetime:
        return self._now

    def hosts(self) -> list[tuple[str, str]]:
        return list(self.frames)

    def metric_names(self) -> list[str]:
        return list(self.columns)

    def unit(self, metric: str) -> str:
        return "%" if metric.endswith("usage") else ""

    def query_range(
        self,
        metric: str,
        start: datetime,
        end: datetime,
        step_s: int = 60,
        service: str | None = None,
        host: str | None = None,
    ) -> list[MetricSeries]:
        out = []
        for (svc, h), frame in self.frames.items():
            if metric not in frame.columns:
                continue
            part = frame[(frame["ts"] >= start) & (frame["ts"] <= end)]
            out.append(
                MetricSeries(
                    metric,
                    {"service": svc, "host": h},
                    list(part["ts"]),
                    [float(v) for v in part[metric]],
                )
            )
        return out

    def logs(
        self,
        start: datetime,
        end: datetime,
        service: str | None = None,
        host: str | None = None,
    ) -> list[LogRecord]:
        return []
