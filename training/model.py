"""The anomaly model: a LightGBM detector over metric-agnostic deviation features, with a decision
threshold calibrated to a target false-alarm rate, plus a LightGBM diagnosis (anomaly type and
severity) for metrics it knows by name.

Training needs no labels: history assumed mostly normal, with synthetic anomaly episodes injected
as positives (``training.inject``). The threshold comes from held-out normal rows, so
``is_anomaly`` means "rarer than ``false_alarm_rate`` on normal data".
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import Field

from knowledge.config import StrictModel
from knowledge.statefile import write_bytes_atomic, write_json_atomic
from training import diagnosis
from training.features import (
    AGGREGATES,
    Baseline,
    Deviations,
    aggregate,
    deviations,
    expanding_deviations,
    feature_names,
    metric_shares,
    numeric_frame,
    rolling_mean,
    zscores,
)
from training.inject import inject

log = logging.getLogger(__name__)

LABEL_COLUMNS = ("status", "anomaly_type", "severity", "incident_id", "batch_id")
Explain = Literal["none", "flagged", "all"]
FORMAT_VERSION = 1
TIE_BREAK = 1e-3
GUARD_ROWS = 60  # after a labelled anomaly, rows whose short windows still see it


class ModelConfig(StrictModel):
    windows: tuple[int, ...] = (1, 5, 15, 60, 240)
    false_alarm_rate: float = Field(default=0.01, gt=0.0, lt=0.5)
    n_estimators: int = Field(default=300, ge=10, le=5000)
    num_leaves: int = Field(default=15, ge=2, le=255)
    learning_rate: float = Field(default=0.05, gt=0.0, le=1.0)
    injected_copies: int = Field(default=2, ge=1, le=10)
    injected_fraction: float = Field(default=0.3, gt=0.0, lt=0.9)
    holdout: float = Field(default=0.25, gt=0.0, lt=0.9)
    seed: int = 0


@dataclass
class Scored:
    """What ``AnomalyModel.score`` returns, one entry per input row."""

    columns: list[str]
    score: np.ndarray
    margin: np.ndarray
    is_anomaly: np.ndarray
    order: np.ndarray  # per row, column indexes, most contributing first
    contributions: np.ndarray | None  # rows x columns; NaN rows were not explained
    z: np.ndarray  # signed sigmas against the baseline
    baseline: Baseline | None
    anomaly_type: list[str | None] = field(default_factory=list)
    type_confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))
    severity: list[str] = field(default_factory=list)

    def top(self, row: int, limit: int | None = None) -> list[str]:
        """Column names of ``row``, most contributing first."""
        return [self.columns[i] for i in self.order[row][:limit]]

    @property
    def top_metrics(self) -> list[list[str]]:
        """Every row's ranking as names (built on demand: costly for large inputs)."""
        names = np.asarray(self.columns, dtype=object)
        return names[self.order].tolist()


class AnomalyModel:
    def __init__(
        self,
        booster: lgb.Booster,
        config: ModelConfig,
        threshold: float,
        spread: float,
        metadata: dict[str, Any],
        diagnoser: diagnosis.Diagnoser | None = None,
    ) -> None:
        self.booster = booster
        self.config = config
        self.threshold = threshold
        self.spread = spread
        self.metadata = metadata
        self.diagnoser = diagnoser

    # ------------------------------------------------------------------ training

    @classmethod
    def train(
        cls,
        normal: pd.DataFrame,
        config: ModelConfig | None = None,
        *,
        typed: pd.DataFrame | None = None,
        group_by: str | None = "host",
    ) -> AnomalyModel:
        """Fit on ``normal``: numeric metric columns, optionally a ``host`` column (each host is its
        own series, ordered by ``ts``) and a ``status`` column (rows marked ``anomaly`` become
        positives beside the injected ones, and stay out of the baselines). ``typed``: labelled
        rows (``status``, ``anomaly_type``, ``severity``) to train the diagnosis from, e.g. the
        generated metrics dataset."""
        config = config or ModelConfig()
        began = time.perf_counter()
        groups = _groups(normal, group_by)
        if not groups:
            raise ValueError("no numeric metric columns to train on")
        rng = np.random.default_rng(config.seed)
        windows = config.windows
        train_x, train_y, held = [], [], []
        for values, labels in groups:
            cut = int(len(values) * (1 - config.holdout))
            if cut < max(windows) or len(values) - cut < 10:
                raise ValueError(
                    f"too little history to train on: {len(values)} rows per series "
                    f"(need at least {2 * max(windows)})"
                )
            fit_part, fit_labels = values[:cut], labels[:cut]
            # normal rows whose windows still hold a labelled anomaly are neither class
            guard = min(max(windows), GUARD_ROWS)
            keep = (fit_labels == 1) | ~_after_anomaly(fit_labels, guard)
            base = Baseline.fit(fit_part[fit_labels == 0], [], windows)
            train_x.append(_in_sample(fit_part, base, windows).features[keep])
            train_y.append(fit_labels[keep])
            for _ in range(config.injected_copies):
                bad, injected, _eps = inject(fit_part, rng, fraction=config.injected_fraction)
                train_x.append(_in_sample(bad, base, windows).features[keep])
                train_y.append(np.maximum(injected, fit_labels)[keep])
            calm = (labels[cut:] == 0) & ~_after_anomaly(labels, guard)[cut:]
            held.append(deviations(values[cut:], base, windows).features[calm])
        if not sum(len(h) for h in held):
            raise ValueError("no normal rows left to calibrate the threshold on")
        x = np.vstack(train_x)
        y = np.concatenate(train_y)
        params = {
            "objective": "binary",
            "learning_rate": config.learning_rate,
            "num_leaves": config.num_leaves,
            "min_data_in_leaf": 50,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "monotone_constraints": [1] * x.shape[1],
            "seed": config.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 2,
            "verbose": -1,
        }
        names = feature_names(windows)
        booster = lgb.train(
            params,
            lgb.Dataset(x, y, feature_name=names, free_raw_data=True),
            num_boost_round=config.n_estimators,
        )
        held_x = np.vstack(held)
        raw = np.asarray(booster.predict(held_x, raw_score=True))
        spread = float(max(np.std(raw), 1e-3))
        held_margin = raw + _tie(held_x, spread)
        threshold = float(np.quantile(held_margin, 1 - config.false_alarm_rate))
        diagnoser = diagnosis.Diagnoser.train(typed, config.seed) if typed is not None else None
        columns = list(numeric_frame(normal, (group_by or "", *LABEL_COLUMNS)).columns)
        metadata = {
            "format": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "features": names,
            "trained_columns": columns,
            "series": len(groups),
            "rows": int(sum(len(v) for v, _ in groups)),
            "training_rows": len(y),
            "threshold": threshold,
            "false_alarm_rate": config.false_alarm_rate,
            "heldout_alarm_rate": float((held_margin >= threshold).mean()),
            "train_seconds": round(time.perf_counter() - began, 2),
            "diagnosis": diagnoser.summary() if diagnoser else None,
            "config": config.model_dump(mode="json"),
        }
        return cls(booster, config, threshold, spread, metadata, diagnoser)

    # ------------------------------------------------------------------ scoring

    def fit_baseline(self, history: pd.DataFrame) -> Baseline:
        frame = numeric_frame(history, LABEL_COLUMNS)
        _check_finite(frame)
        return Baseline.fit(frame.to_numpy(float), list(frame.columns), self.config.windows)

    def score(
        self,
        frame: pd.DataFrame,
        baseline: Baseline | None = None,
        *,
        explain: Explain = "flagged",
    ) -> Scored:
        """Score every row of ``frame`` (numeric columns are the metrics). With a baseline, rows
        are judged against it (its history warms up the windows); without one, each row is judged
        against the rows before it (causal, as in live alerting)."""
        metrics = numeric_frame(frame, LABEL_COLUMNS)
        if metrics.shape[1] == 0:
            raise ValueError("no numeric metric columns to score")
        _check_finite(metrics)
        columns = list(metrics.columns)
        values = metrics.to_numpy(float)
        windows = self.config.windows
        if baseline is not None:
            if list(baseline.columns) != columns:
                raise ValueError(
                    "the columns differ from the baseline's: "
                    + _column_diff(list(baseline.columns), columns)
                )
            dev = deviations(values, baseline, windows)
        else:
            dev = expanding_deviations(values, windows)
        margin = self._margin(dev)
        score = self.to_score(margin)
        flagged = margin >= self.threshold
        rows = _rows_to_explain(explain, flagged)
        contributions = np.full(values.shape, np.nan)
        if len(rows):
            contributions[rows] = self._contributions(dev, rows)
        top = _rank(contributions, dev)
        scored = Scored(
            columns=columns,
            score=score,
            margin=margin,
            is_anomaly=flagged,
            order=top,
            contributions=contributions,
            z=dev.z,
            baseline=baseline,
        )
        if self.diagnoser is not None:
            self.diagnoser.annotate(scored, dev)
        else:
            scored.anomaly_type = [None] * len(values)
            scored.type_confidence = np.zeros(len(values))
            scored.severity = ["none"] * len(values)
        return scored

    def _margin(self, dev: Deviations) -> np.ndarray:
        """The booster's raw score plus a tie-breaker far below its resolution: trees give equal
        margins to every row past their last split, so rows that tie are ordered by their total
        deviation, keeping the ranking meaningful at the top."""
        margin = np.asarray(self.booster.predict(dev.features, raw_score=True))
        return margin + _tie(dev.features, self.spread)

    def to_score(self, margin: np.ndarray) -> np.ndarray:
        """0..1, 0.5 at the threshold, strictly increasing in the margin and never reaching 0 or
        1 (a rational squashing instead of a sigmoid, which saturates to a flat 1.0)."""
        d = (np.asarray(margin, dtype=float) - self.threshold) / self.spread
        return 0.5 + 0.5 * d / (1.0 + np.abs(d))

    def _contributions(self, dev: Deviations, rows: np.ndarray) -> np.ndarray:
        """Per-metric contributions for ``rows``: LightGBM's per-feature contributions, summed
        per window and split among metrics by their share of that window's deviations."""
        windows = self.config.windows
        contrib = np.asarray(self.booster.predict(dev.features[rows], pred_contrib=True))[:, :-1]
        per_window = len(contrib[0]) // len(windows) if len(contrib) else 0
        shares = metric_shares({w: dev.g[w][rows] for w in windows}, windows)
        out = np.zeros((len(rows), dev.z.shape[1]))
        for i, w in enumerate(windows):
            c = contrib[:, i * per_window : (i + 1) * per_window].sum(axis=1, keepdims=True)
            out += np.maximum(c, 0.0) * shares[w]
        return out

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(directory / "model.txt", self.booster.model_to_string().encode())
        if self.diagnoser is not None:
            self.diagnoser.save(directory)
        write_json_atomic(
            directory / "model.json",
            {
                "format": FORMAT_VERSION,
                "config": self.config.model_dump(mode="json"),
                "threshold": self.threshold,
                "spread": self.spread,
                "metadata": self.metadata,
                "diagnosis": self.diagnoser is not None,
            },
        )

    @classmethod
    def load(cls, directory: Path) -> AnomalyModel:
        try:
            meta = json.loads((directory / "model.json").read_text())
            booster = lgb.Booster(model_str=(directory / "model.txt").read_text())
        except (OSError, ValueError, lgb.basic.LightGBMError) as exc:
            raise ValueError(f"cannot load the model in {directory}: {exc}") from None
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"model in {directory} has format {meta.get('format')!r}")
        diagnoser = diagnosis.Diagnoser.load(directory) if meta.get("diagnosis") else None
        return cls(
            booster,
            ModelConfig.model_validate(meta["config"]),
            float(meta["threshold"]),
            float(meta["spread"]),
            dict(meta.get("metadata") or {}),
            diagnoser,
        )


# ---------------------------------------------------------------------- helpers


def _groups(frame: pd.DataFrame, group_by: str | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(values, labels) per series: labels are 1 where ``status`` says ``anomaly`` (labelled
    data such as the generated dataset), else 0."""
    metrics = numeric_frame(frame, (group_by or "", *LABEL_COLUMNS))
    if metrics.shape[1] == 0:
        return []
    _check_finite(metrics)
    labelled = (
        (frame["status"] == "anomaly").to_numpy(np.int8)
        if "status" in frame.columns
        else np.zeros(len(frame), dtype=np.int8)
    )
    if not (group_by and group_by in frame.columns):
        return [(metrics.to_numpy(float), labelled)]
    out = []
    order = frame["ts"] if "ts" in frame.columns else pd.Series(np.arange(len(frame)), frame.index)
    for _, index in frame.groupby(group_by, sort=True).groups.items():
        rows = order.loc[index].sort_values(kind="stable").index
        positions = frame.index.get_indexer(rows)
        out.append((metrics.to_numpy(float)[positions], labelled[positions]))
    return out


def _tie(features: np.ndarray, spread: float) -> np.ndarray:
    """The tie-breaker: the l2 deviations of every window, summed, on a log scale."""
    return TIE_BREAK * spread * np.log1p(features[:, 0 :: len(AGGREGATES)].sum(axis=1))


def _after_anomaly(labels: np.ndarray, guard: int) -> np.ndarray:
    """Rows at or within ``guard`` rows after a labelled anomaly row."""
    if not labels.any():
        return np.zeros(len(labels), dtype=bool)
    recent = rolling_mean(labels[:, None].astype(float), guard + 1)[:, 0]
    return recent > 0


def _in_sample(values: np.ndarray, base: Baseline, windows: Sequence[int]) -> Deviations:
    """Deviations of the baseline's own history (no warm-up tail: the rows are the history)."""
    z = zscores(values, base.median, base.scale)
    absz = np.abs(z)
    g = {
        w: np.clip((rolling_mean(absz, w) - base.roll_mean[w]) / base.roll_std[w], 0.0, 50.0)
        for w in windows
    }
    return Deviations(z=z, g=g, features=aggregate(g, windows))


def _rows_to_explain(explain: Explain, flagged: np.ndarray) -> np.ndarray:
    if explain == "all":
        return np.arange(len(flagged))
    if explain == "flagged":
        return np.flatnonzero(flagged)
    return np.zeros(0, dtype=int)


def _rank(contributions: np.ndarray, dev: Deviations) -> np.ndarray:
    """Column order per row, most contributing first. Rows without contributions (or with none
    positive) are ranked by their largest standardised deviation over the windows."""
    fallback = np.max(np.stack(list(dev.g.values())), axis=0) + 1e-6 * np.abs(dev.z)
    key = np.where(np.isnan(contributions), 0.0, contributions)
    empty = key.sum(axis=1) <= 0
    key[empty] = fallback[empty]
    # ties broken by the raw deviation so the order is stable and meaningful
    key = key + 1e-9 * np.abs(dev.z)
    return np.argsort(-key, axis=1, kind="stable")


def _check_finite(frame: pd.DataFrame) -> None:
    values = frame.to_numpy(float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"column {frame.columns[col]!r} has a missing or non-finite value at row {row + 1}"
        )


def _column_diff(expected: list[str], got: list[str]) -> str:
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("unexpected " + ", ".join(extra))
    return "; ".join(parts) or "same names in a different order"
