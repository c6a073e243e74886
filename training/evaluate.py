"""How good the anomaly model is: on labelled real data in the SMD layout (point-wise F1 without
point adjustment, at the model's decision and at the best threshold, and interpretation
HitRate@150%), and on the held-out part of the generated dataset (per-type precision, recall,
F1 and the confusion matrix)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.model import AnomalyModel, ModelConfig


def pointwise_f1(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    predicted = np.asarray(predicted, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    tp = int((predicted & truth).sum())
    precision = tp / max(int(predicted.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"precision": precision, "recall": recall, "f1": f1}


def best_f1(score: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The best point-wise F1 over every threshold on ``score``."""
    truth = np.asarray(truth, dtype=bool)
    order = np.argsort(-np.asarray(score), kind="stable")
    ranked = np.asarray(score)[order]
    tp = np.cumsum(truth[order])
    k = np.arange(1, len(order) + 1)
    precision = tp / k
    recall = tp / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    cut = np.r_[ranked[1:] != ranked[:-1], True]  # only where the score changes
    best = int(np.argmax(np.where(cut, f1, -1.0)))
    return {
        "precision": float(precision[best]),
        "recall": float(recall[best]),
        "f1": float(f1[best]),
        "threshold": float(ranked[best]),
    }


def hit_rate(
    top_metrics: list[list[int]], segments: list[tuple[int, int, list[int]]], ratio: float = 1.5
) -> float:
    """Interpretation HitRate@ratio: in every labelled row, the share of the cause metrics found
    among the detector's top ceil(ratio x |causes|) metrics, averaged over rows."""
    hits = []
    for start, stop, causes in segments:
        k = math.ceil(ratio * len(causes))
        wanted = set(causes)
        for row in range(start, min(stop, len(top_metrics))):
            hits.append(len(wanted & set(top_metrics[row][:k])) / len(causes))
    return float(np.mean(hits)) if hits else float("nan")


def read_smd_machine(directory: Path, machine: str) -> dict[str, Any]:
    def table(split: str) -> pd.DataFrame:
        values = np.loadtxt(directory / split / f"{machine}.txt", delimiter=",", ndmin=2)
        return pd.DataFrame(values, columns=[f"m{i + 1}" for i in range(values.shape[1])])

    labels = np.loadtxt(directory / "test_label" / f"{machine}.txt").astype(int)
    segments = []
    interp = directory / "interpretation_label" / f"{machine}.txt"
    if interp.exists():
        for line in interp.read_text().splitlines():
            if ":" not in line:
                continue
            span, dims = line.strip().split(":")
            start, stop = (int(x) for x in span.split("-"))
            segments.append((start, stop, [int(d) - 1 for d in dims.split(",") if d]))
    return {"train": table("train"), "test": table("test"), "labels": labels, "segments": segments}


def evaluate_smd(
    directory: Path, config: ModelConfig | None = None, machines: list[str] | None = None
) -> dict[str, Any]:
    """Train on each machine's ``train/`` (no labels), score ``test/``, compare with the labels.
    A model per machine, since each machine is its own set of metrics."""
    names = machines or sorted(p.stem for p in (directory / "test").glob("*.txt"))
    rows = []
    for machine in names:
        data = read_smd_machine(directory, machine)
        began = time.perf_counter()
        model = AnomalyModel.train(data["train"], config, group_by=None)
        trained = time.perf_counter() - began
        baseline = model.fit_baseline(data["train"])
        began = time.perf_counter()
        scored = model.score(data["test"], baseline, explain="all")
        scoring = time.perf_counter() - began
        top = scored.order.tolist()
        own = pointwise_f1(scored.is_anomaly, data["labels"])
        best = best_f1(scored.score, data["labels"])
        rows.append(
            {
                "machine": machine,
                "f1_own": own["f1"],
                "precision_own": own["precision"],
                "recall_own": own["recall"],
                "f1_best": best["f1"],
                "hitrate_150": hit_rate(top, data["segments"]),
                "alarm_rate": float(scored.is_anomaly.mean()),
                "train_s": trained,
                "score_s": scoring,
            }
        )
    keys = ("f1_own", "f1_best", "hitrate_150")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    return {"machines": rows, "mean": mean}


def evaluate_generated(model: AnomalyModel, heldout: pd.DataFrame) -> dict[str, Any]:
    """Detection and diagnosis on held-out generated hosts (``host``, ``ts``, metrics,
    ``status``, ``anomaly_type``), scored causally (each row against the rows before it, as in
    live alerting; the first quarter of each host is warm-up): point-wise F1 and the false-alarm
    rate, and per-type precision / recall / F1 with the confusion matrix for the rows flagged."""
    truth_all, flagged_all, types_true, types_pred = [], [], [], []
    for _, part in heldout.groupby("host", sort=True):
        part = part.sort_values("ts").reset_index(drop=True)
        warm = len(part) // 4
        if warm < max(model.config.windows) // 4:
            continue
        scored = model.score(part, None, explain="none")
        truth = (part["status"] == "anomaly").to_numpy()[warm:]
        flagged = scored.is_anomaly[warm:]
        truth_all.append(truth)
        flagged_all.append(flagged)
        both = np.flatnonzero(truth & flagged) + warm
        types_true += list(part["anomaly_type"].to_numpy()[both])
        types_pred += [scored.anomaly_type[i] for i in both]
    if not truth_all:
        return {"rows": 0}
    truth = np.concatenate(truth_all)
    flagged = np.concatenate(flagged_all)
    names = sorted({str(t) for t in types_true} | {str(t) for t in types_pred})
    confusion = [
        [
            sum(
                1
                for t, p in zip(types_true, types_pred, strict=True)
                if str(t) == a and str(p) == b
            )
            for b in names
        ]
        for a in names
    ]
    per_type = {}
    for i, name in enumerate(names):
        tp = confusion[i][i]
        col = sum(confusion[j][i] for j in range(len(names)))
        row = sum(confusion[i])
        p, r = tp / max(col, 1), tp / max(row, 1)
        per_type[name] = {
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / max(p + r, 1e-12),
            "support": row,
        }
    return {
        "rows": len(truth),
        "detection": pointwise_f1(flagged, truth),
        "false_alarm_rate": float(flagged[~truth].mean()) if (~truth).any() else 0.0,
        "types": names,
        "per_type": per_type,
        "confusion": confusion,
    }
