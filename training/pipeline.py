"""Train, evaluate and register an anomaly model in one call: what ``vigil model train`` does,
and what the bot does on its first start when no model is promoted yet."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from training.evaluate import evaluate_generated
from training.model import AnomalyModel, ModelConfig
from training.registry import ModelRegistry, data_hash

log = logging.getLogger(__name__)

HELD_OUT_HOSTS = 0.25


@dataclass(frozen=True)
class Trained:
    version: str
    model: AnomalyModel
    metrics: dict[str, Any]
    seconds: float
    promoted: bool


def split_hosts(
    frame: pd.DataFrame, share: float = HELD_OUT_HOSTS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows and held-out rows, split by host (the held-out hosts are never seen)."""
    if "host" not in frame.columns:
        return frame, frame.iloc[0:0]
    hosts = sorted(frame["host"].unique())
    held = max(1, round(len(hosts) * share)) if len(hosts) > 1 else 0
    keep = set(hosts[: len(hosts) - held])
    mask = frame["host"].isin(keep)
    return frame[mask], frame[~mask]


def train_labelled(
    frame: pd.DataFrame, config: ModelConfig | None = None
) -> tuple[AnomalyModel, dict[str, Any]]:
    """Train on a labelled fleet (the generated metrics dataset: ``host``, ``ts``, metrics,
    ``status``, ``anomaly_type``, ``severity``) and evaluate on held-out hosts."""
    train, held = split_hosts(frame)
    drop = [c for c in ("service", "incident_id", "batch_id") if c in train.columns]
    model = AnomalyModel.train(
        train.drop(columns=[*drop, "anomaly_type", "severity"], errors="ignore"),
        config,
        typed=train.drop(columns=drop),
    )
    metrics: dict[str, Any] = {"train_seconds": model.metadata["train_seconds"]}
    if not held.empty:
        report = evaluate_generated(model, held.drop(columns=drop))
        metrics["heldout"] = report
    return model, metrics


def train_and_register(
    registry: ModelRegistry,
    frame: pd.DataFrame,
    *,
    config: ModelConfig | None = None,
    trained_on: str,
    promote: bool | None = None,
) -> Trained:
    """Train (labelled fleet when the frame has ``status``, else unlabelled history), add to the
    registry, and promote when asked, or by default when nothing is promoted yet."""
    began = time.perf_counter()
    if "status" in frame.columns and "anomaly_type" in frame.columns:
        model, metrics = train_labelled(frame, config)
    else:
        model = AnomalyModel.train(frame, config)
        metrics = {"train_seconds": model.metadata["train_seconds"]}
    version = registry.add(
        model, metrics=metrics, data_hash=data_hash(frame), trained_on=trained_on
    )
    should_promote = registry.promoted_version() is None if promote is None else promote
    if should_promote:
        registry.promote(version)
    return Trained(version, model, metrics, time.perf_counter() - began, should_promote)
