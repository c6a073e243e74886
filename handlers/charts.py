"""The chart attached to an alert: its top metrics over the detection window, each with its normal
band shaded and the anomalous window in red. Rendered with matplotlib's Agg canvas on a private
``Figure`` (no pyplot, so no global state and safe from threads)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from datetime import datetime, tzinfo

    from knowledge.telemetry import MetricSeries
    from training.live import Detection

MAX_PANELS = 3
SIZE_IN = (8.0, 5.0)
DPI = 100  # 800 x 500 px
LINE = "#1f5fa8"
BAND = "#9ec5e8"
ANOMALY = "#d62728"


def chart_metrics(detection: Detection) -> list[str]:
    """The metrics to draw: the top metrics present in the frame, else its first numeric
    columns; at most ``MAX_PANELS``."""
    frame = detection.frame
    numeric = [
        c for c in frame.columns if c != "ts" and pd.api.types.is_numeric_dtype(frame[c].dtype)
    ]
    chosen = [f.metric for f in detection.top if f.metric in numeric]
    chosen = list(dict.fromkeys(chosen)) or numeric
    return chosen[:MAX_PANELS]


def alert_figure(detection: Detection) -> Figure:
    """The chart as a ``Figure``: one panel per metric of ``chart_metrics``."""
    metrics = chart_metrics(detection)
    with mpl.rc_context({"font.size": 8, "axes.titlesize": 9}):
        figure = Figure(figsize=SIZE_IN, dpi=DPI)
        FigureCanvasAgg(figure)
        x = _times(detection.frame)
        dated = x.dtype.kind == "M"
        since = _instant(detection.since) if dated else None
        at = _instant(detection.at) if dated else None
        axes = figure.subplots(max(len(metrics), 1), 1, sharex=True, squeeze=False)[:, 0]
        for ax, metric in zip(axes, metrics, strict=False):
            _panel(ax, x, detection, metric, since, at)
        if not metrics:
            axes[0].text(0.5, 0.5, "no metric data", ha="center", va="center")
        if dated:
            axes[-1].xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=5))
            axes[-1].xaxis.set_major_formatter(DateFormatter("%H:%M"))
            axes[-1].set_xlabel("UTC")
        figure.suptitle(f"{detection.service}/{detection.host}: {detection.anomaly_type}")
        figure.subplots_adjust(left=0.09, right=0.98, top=0.91, bottom=0.1, hspace=0.35)
    return figure


def alert_chart(detection: Detection) -> bytes:
    """The chart as PNG bytes (about 800 x 500 px)."""
    figure = alert_figure(detection)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _panel(
    ax: Axes,
    x: np.ndarray,
    detection: Detection,
    metric: str,
    since: float | None,
    at: float | None,
) -> None:
    y = pd.to_numeric(detection.frame[metric], errors="coerce").to_numpy(dtype=float)
    band = detection.band.get(metric)
    if band is not None:
        low, high = (np.asarray(pd.to_numeric(s, errors="coerce"), dtype=float) for s in band)
        if len(low) == len(y) and len(high) == len(y):
            ax.fill_between(x, low, high, color=BAND, alpha=0.5, linewidth=0, label="normal")
    if since is not None and at is not None:
        ax.axvspan(since, at, color=ANOMALY, alpha=0.15, linewidth=0)
    ax.plot(x, y, color=LINE, linewidth=1.2)
    fact = next((f for f in detection.top if f.metric == metric), None)
    unit = f" ({fact.unit})" if fact is not None and fact.unit else ""
    ax.set_title(f"{metric}{unit}", loc="left")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
    ax.grid(True, linewidth=0.3, alpha=0.5)
    ax.margins(x=0)


def _times(frame: pd.DataFrame) -> np.ndarray:
    """The x values: ``ts`` as naive UTC datetime64, else the row numbers."""
    if "ts" in frame.columns:
        ts = pd.to_datetime(frame["ts"], utc=True, errors="coerce")
        return ts.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    return np.arange(len(frame), dtype=float)


def _instant(when: datetime | None) -> float | None:
    """``when`` as a matplotlib date number (naive UTC)."""
    if when is None:
        return None
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_convert(None) if stamp.tzinfo is not None else stamp
    return float(date2num(stamp.to_datetime64()))


def metric_chart(series: list[MetricSeries], title: str, limit: float | None = None) -> bytes:
    """One metric over time for a few hosts (one line each), with the team's limit dashed: the
    chart of ``explain METRIC``. PNG bytes, 800 x 400 px."""
    with mpl.rc_context({"font.size": 8, "axes.titlesize": 9}):
        figure = Figure(figsize=(8.0, 4.0), dpi=DPI)
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        for item in series:
            x = np.array([_instant(t) for t in item.timestamps], dtype=float)
            ax.plot(x, np.asarray(item.values, dtype=float), linewidth=1.2, label=item.host)
        if limit is not None:
            ax.axhline(limit, color=ANOMALY, linestyle="--", linewidth=1, label="limit")
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=6))
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
        ax.set_xlabel("UTC")
        ax.set_title(title, loc="left")
        ax.grid(True, linewidth=0.3, alpha=0.5)
        ax.margins(x=0)
        if series:
            ax.legend(loc="upper left", fontsize=7, frameon=False)
        figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.14)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


@dataclass(frozen=True)
class TrendPanel:
    """One panel of the digest's trend chart: a line per service, the team's limit dashed."""

    title: str
    lines: dict[str, tuple[list[datetime], list[float]]]  # service -> (times, values)
    limit: float | None = None


def digest_chart(panels: list[TrendPanel], title: str, zone: tzinfo) -> bytes:
    """The digest's trend chart: one panel per ``TrendPanel`` (p95 latency and error rate per
    service), times in ``zone``. PNG bytes, 800 x 500 px."""
    with mpl.rc_context({"font.size": 8, "axes.titlesize": 9}):
        figure = Figure(figsize=SIZE_IN, dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.subplots(max(len(panels), 1), 1, sharex=True, squeeze=False)[:, 0]
        for ax, panel in zip(axes, panels, strict=False):
            for name, (times, values) in sorted(panel.lines.items()):
                x = np.array([_instant(t) for t in times], dtype=float)
                ax.plot(x, np.asarray(values, dtype=float), linewidth=1.1, label=name)
            if panel.limit is not None:
                ax.axhline(panel.limit, color=ANOMALY, linestyle="--", linewidth=1, label="limit")
            ax.set_title(panel.title, loc="left")
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.grid(True, linewidth=0.3, alpha=0.5)
            ax.margins(x=0)
        if panels and panels[0].lines:
            axes[0].legend(loc="upper left", fontsize=7, frameon=False, ncol=6)
        if not panels:
            axes[0].text(0.5, 0.5, "no metric data", ha="center", va="center")
        axes[-1].xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=7, tz=zone))
        axes[-1].xaxis.set_major_formatter(DateFormatter("%a %H:%M", tz=zone))
        axes[-1].set_xlabel(str(zone))
        figure.suptitle(title)
        figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.1, hspace=0.3)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
