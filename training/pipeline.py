"""Train, evaluate and register an anomaly model: the one path behind ``vigil model train`` and
the default model the bot trains on its first start when none is promoted."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from training.evaluate import evaluate_generated
from training.model import AnomalyModel, ModelConfig
from training.registry import ModelRegistry, data_hash

HELDOUT = 0.3  # the newest share of each host's rows (or of a history) kept out of training


@dataclass(frozen=True)
class TrainingData:
    """``normal``: the training rows (numeric metrics, maybe ``host``, ``ts`` and ``status``);
    ``typed``: labelled rows for the diagnosis; ``heldout``: the newest rows, for evaluation."""

    normal: pd.DataFrame
    typed: pd.DataFrame | None
    heldout: pd.DataFrame
    description: str
    generated: bool  # labelled generated data (``evaluate_generated`` applies)


@dataclass(frozen=True)
class Trained:
    version: str
    model: AnomalyModel
    figures: dict[str, Any]
    seconds: float
    promoted: bool


def split_generated(frame: pd.DataFrame, description: str) -> TrainingData:
    """The oldest rows of every host for training (with ``status``: the model keeps labelled
    anomalies out of its baselines and learns from them; all of them train the diagnosis), the
    newest ``HELDOUT`` share for evaluation."""
    frame = frame.sort_values(["host", "ts"], kind="stable").reset_index(drop=True)
    position = frame.groupby("host").cumcount()
    size = frame.groupby("host")["ts"].transform("size")
    held = (position >= size * (1 - HELDOUT)).to_numpy()
    train = frame[~held]
    return TrainingData(train, train, frame[held], description, generated=True)


def split_history(frame: pd.DataFrame, description: str) -> TrainingData:
    """An unlabelled history (one series, e.g. a CSV): the oldest rows train, the newest
    ``HELDOUT`` share is held out."""
    cut = int(len(frame) * (1 - HELDOUT))
    return TrainingData(frame.iloc[:cut], None, frame.iloc[cut:], description, generated=False)


def heldout_figures(model: AnomalyModel, data: TrainingData) -> dict[str, Any]:
    """Figures on the held-out rows: detection and diagnosis for generated data; for an
    unlabelled history, the share of held-out rows flagged, which should be near the
    false-alarm rate when the data is mostly normal."""
    if data.generated:
        return evaluate_generated(model, data.heldout)
    scored = model.score(data.heldout, model.fit_baseline(data.normal), explain="none")
    return {
        "heldout_rows": len(data.heldout),
        "heldout_alarm_rate": round(float(scored.is_anomaly.mean()), 4),
    }


def train_evaluated(
    data: TrainingData, config: ModelConfig | None = None
) -> tuple[AnomalyModel, dict[str, Any], float]:
    """Train on ``data`` and evaluate on its held-out rows: (model, figures, seconds)."""
    began = time.perf_counter()
    model = AnomalyModel.train(data.normal, config, typed=data.typed)
    seconds = time.perf_counter() - began
    return model, {"train_seconds": round(seconds, 2), **heldout_figures(model, data)}, seconds


def train_and_register(
    registry: ModelRegistry,
    data: TrainingData,
    *,
    config: ModelConfig | None = None,
    promote: bool | None = None,
) -> Trained:
    """Train, evaluate, add to the registry, and promote when asked, or by default when nothing
    is promoted yet."""
    model, figures, seconds = train_evaluated(data, config)
    version = registry.add(
        model, metrics=figures, data_hash=data_hash(data.normal), trained_on=data.description
    )
    should_promote = registry.promoted_version() is None if promote is None else promote
    if should_promote:
        registry.promote(version)
    return Trained(version, model, figures, seconds, should_promote)
