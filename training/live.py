"""Live detection: score the newest window of every (service, host) from a telemetry reader with
the promoted anomaly model, and describe what is anomalous in facts a chat message can show."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from knowledge.findings import likely_cause
from knowledge.sources.base import TelemetryReader
from training.explain import Fact, sentence, type_from_names
from training.features import Baseline
from training.model import AnomalyModel, Scored


@dataclass(frozen=True)
class MetricFact:
    """One metric's part in a detection: its value against its normal, in sigmas, and its share
    of the model's decision (0..1 over the metrics shown)."""

    metric: str
    value: float
    normal: float
    sigma: float
    unit: str = ""
    share: float = 0.0


@dataclass(frozen=True)
class Detection:
    """One (service, host) the model finds anomalous now."""

    service: str
    host: str
    anomaly_type: str
    severity: str  # "warning" | "critical"
    score: float  # 0..1
    confidence: float  # confidence in ``anomaly_type``, 0..1
    at: datetime  # the newest row scored
    since: datetime  # the first anomalous row of the current run
    top: tuple[MetricFact, ...]
    sentence: str
    frame: pd.DataFrame = field(repr=False, compare=False)  # ``ts`` + metric columns
    band: dict[str, tuple[pd.Series, pd.Series]] = field(
        default_factory=dict, repr=False, compare=False
    )  # per metric: (low, high) of its normal band, aligned with ``frame``

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.host, self.anomaly_type)


@dataclass(frozen=True)
class _Fitted:
    """A host's baseline (``None``: too little history when tried ``at``)."""

    at: datetime
    model: int  # id() of the model it was fitted for
    columns: tuple[str, ...]
    baseline: Baseline | None


class LiveScorer:
    """Scores the newest rows of every (service, host) the reader knows, with the model that
    ``model_source`` returns now (the promoted one: a newly promoted model is used at the next
    run). Each host's baseline is fitted on its own history (a day by default, so that daily
    cycles are normal) and refitted every ``refit``; between refits a run reads only the scored
    ``window`` plus the rows the longest feature window needs."""

    def __init__(
        self,
        model_source: Callable[[], AnomalyModel | None],
        reader: TelemetryReader,
        *,
        history: timedelta = timedelta(hours=24),
        window: timedelta = timedelta(minutes=15),
        chart_span: timedelta = timedelta(hours=2),
        refit: timedelta = timedelta(minutes=30),
        step_s: int = 60,
    ) -> None:
        self.model_source = model_source
        self.reader = reader
        self.history = history
        self.window = window
        self.chart_span = chart_span
        self.refit = refit
        self.step_s = step_s
        self._baselines: dict[tuple[str, str], _Fitted] = {}

    def detect(self, now: datetime) -> list[Detection]:
        model = self.model_source()
        if model is None:
            return []
        warm = timedelta(seconds=self.step_s * max(model.config.windows))
        frames = host_frames(self.reader, now - warm - self.window, now, self.step_s)
        self._refit_stale(model, frames, now)
        found = []
        for key, frame in frames.items():
            entry = self._baselines.get(key)
            if entry is None or entry.baseline is None:
                continue  # not enough history yet: tried again at the next refit
            detection = self._detect_one(model, key, frame, entry.baseline, now)
            if detection is not None:
                found.append(detection)
        return found

    def _refit_stale(
        self, model: AnomalyModel, frames: dict[tuple[str, str], pd.DataFrame], now: datetime
    ) -> None:
        """Refit, from one read of the whole history, the baselines that are missing, older
        than ``refit``, or for another model or column set. A host without enough history is
        remembered as tried, so it does not cause a history read on every run."""
        stale = {
            key: columns
            for key, frame in frames.items()
            if not self._fresh(key, model, columns := tuple(c for c in frame if c != "ts"), now)
        }
        if not stale:
            return
        history = host_frames(self.reader, now - self.history, now - self.window, self.step_s)
        min_rows = max(30, max(model.config.windows) // 4)
        for key, columns in stale.items():
            past = history.get(key)
            baseline = None
            if past is not None and len(past) >= min_rows and set(columns) <= set(past.columns):
                with contextlib.suppress(ValueError):
                    baseline = model.fit_baseline(past[list(columns)])
            self._baselines[key] = _Fitted(now, id(model), columns, baseline)

    def _fresh(
        self, key: tuple[str, str], model: AnomalyModel, columns: tuple[str, ...], now: datetime
    ) -> bool:
        entry = self._baselines.get(key)
        return (
            entry is not None
            and entry.model == id(model)
            and entry.columns == columns
            and now - entry.at < self.refit
        )

    def _detect_one(
        self,
        model: AnomalyModel,
        key: tuple[str, str],
        frame: pd.DataFrame,
        baseline: Baseline,
        now: datetime,
    ) -> Detection | None:
        service, host = key
        metrics = list(baseline.columns)
        recent_mask = (frame["ts"] > now - self.window).to_numpy()
        if not recent_mask.any():
            return None
        scored = model.score(frame[metrics], baseline, explain="flagged")
        if not scored.is_anomaly[-1]:
            return None
        recent = frame[recent_mask].reset_index(drop=True)
        scored = _tail(scored, len(frame) - len(recent))
        last = len(recent) - 1
        if not scored.is_anomaly[last]:
            return None
        run = last
        while run > 0 and scored.is_anomaly[run - 1]:
            run -= 1
        stamps = list(recent["ts"])
        facts = self._facts(scored, recent, metrics, baseline, last)
        anomaly_type = scored.anomaly_type[last] or "unknown"
        confidence = float(scored.type_confidence[last])
        if anomaly_type == "unknown":
            anomaly_type = type_from_names([f.metric for f in facts])
        lasting = [_lasting(scored, f, last, self.step_s) for f in facts]
        text = sentence(
            [
                Fact(f.metric, f.value, f.normal, f.sigma, f.unit, d)
                for f, d in zip(facts, lasting, strict=True)
            ],
            where=host,
            anomaly_type=anomaly_type if confidence > 0 else None,
            confidence=confidence,
            cause=likely_cause(f.metric for f in facts),
        )
        chart = frame[frame["ts"] > now - self.chart_span].reset_index(drop=True)
        return Detection(
            service=service,
            host=host,
            anomaly_type=anomaly_type,
            severity=scored.severity[last] if scored.severity[last] != "none" else "warning",
            score=float(scored.score[last]),
            confidence=confidence,
            at=stamps[last],
            since=stamps[run],
            top=tuple(facts),
            sentence=text,
            frame=chart,
            band=_band(baseline, chart, [f.metric for f in facts]),
        )

    def _facts(
        self,
        scored: Scored,
        recent: pd.DataFrame,
        metrics: list[str],
        baseline: Baseline,
        row: int,
        limit: int = 3,
    ) -> list[MetricFact]:
        contributions = scored.contributions
        shares = contributions[row] if contributions is not None else np.zeros(len(metrics))
        shares = np.nan_to_num(shares, nan=0.0)
        total = shares.sum() or 1.0
        out = []
        for name in scored.top(row, limit):
            i = metrics.index(name)
            out.append(
                MetricFact(
                    metric=name,
                    value=float(recent[name].iloc[row]),
                    normal=float(baseline.median[i]),
                    sigma=float(scored.z[row, i]),
                    unit=self.reader.unit(name),
                    share=float(shares[i] / total),
                )
            )
        return out


def _tail(scored: Scored, offset: int) -> Scored:
    """The rows of ``scored`` from ``offset`` on."""
    contributions = scored.contributions[offset:] if scored.contributions is not None else None
    return Scored(
        columns=scored.columns,
        score=scored.score[offset:],
        margin=scored.margin[offset:],
        is_anomaly=scored.is_anomaly[offset:],
        order=scored.order[offset:],
        contributions=contributions,
        z=scored.z[offset:],
        baseline=scored.baseline,
        anomaly_type=scored.anomaly_type[offset:],
        type_confidence=scored.type_confidence[offset:],
        severity=scored.severity[offset:],
    )


def host_frames(
    reader: TelemetryReader, start: datetime, end: datetime, step_s: int
) -> dict[tuple[str, str], pd.DataFrame]:
    """One frame per (service, host): ``ts`` plus a column per metric the host has, on a regular
    grid; short gaps are filled forward, metrics with no data are dropped."""
    rows: dict[tuple[str, str], dict[str, pd.Series]] = {}
    for metric in reader.metric_names():
        for series in reader.query_range(metric, start, end, step_s):
            if not series.values:
                continue
            key = (series.service, series.host)
            values = pd.Series(series.values, index=pd.DatetimeIndex(series.timestamps))
            current = rows.setdefault(key, {})
            if metric in current:  # several series per host (e.g. disks): keep the largest
                values = pd.concat([current[metric], values], axis=1).max(axis=1)
            current[metric] = values
    frames = {}
    for key, columns in rows.items():
        frame = pd.DataFrame(columns).sort_index()
        frame = frame[~frame.index.duplicated()].ffill(limit=5).dropna(axis=1, how="all").dropna()
        if frame.empty:
            continue
        frame.index.name = "ts"
        frames[key] = frame.reset_index()
    return frames


def _lasting(scored: Scored, fact: MetricFact, row: int, step_s: int) -> timedelta:
    """How long the metric has been more than 2 sigmas off, up to ``row``."""
    i = scored.columns.index(fact.metric)
    k = row
    while k >= 0 and abs(scored.z[k, i]) > 2.0:
        k -= 1
    return timedelta(seconds=(row - k) * step_s)


def _band(
    baseline: Baseline, frame: pd.DataFrame, metrics: list[str]
) -> dict[str, tuple[pd.Series, pd.Series]]:
    """The normal band per metric: the baseline's median +- 3 robust sigmas, within the
    history's 1st-99th percentiles widened by that margin."""
    out = {}
    for name in metrics:
        i = baseline.columns.index(name)
        low = baseline.median[i] - 3 * baseline.scale[i]
        high = baseline.median[i] + 3 * baseline.scale[i]
        out[name] = (
            pd.Series(low, index=frame.index, dtype=float),
            pd.Series(high, index=frame.index, dtype=float),
        )
    return out
