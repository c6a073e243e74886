"""What kind of anomaly, and how bad: LightGBM classifiers over the signed deviations of metrics
the model knows by role (CPU, memory, heap, GC, disk, load, jobs, processes), trained on labelled
rows such as the generated metrics dataset. Columns are matched to roles by name, so a live
``node_memory_usage`` or an SMD column named ``mem`` can be diagnosed too; series with fewer than
two known roles get the type ``unknown``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from knowledge.statefile import write_bytes_atomic, write_json_atomic
from training.features import Baseline, numeric_frame, rolling_mean, zscores
from training.simulate import SEED_METRICS

if TYPE_CHECKING:
    from training.features import Deviations
    from training.model import Scored

ROLES: tuple[str, ...] = SEED_METRICS
# name fragments that map a column to a role, tried in order (first match wins)
ALIASES: tuple[tuple[str, str], ...] = (
    ("heap", "java_heap_usage"),
    ("gc", "java_gc_time"),
    ("garbage", "java_gc_time"),
    ("cpu", "cpu_usage"),
    ("mem", "memory_usage"),
    ("disk", "disk_usage"),
    ("filesystem", "disk_usage"),
    ("load", "load_average"),
    ("job", "spectrum_active_jobs"),
    ("vemkd", "vemkd_process_count"),
    ("process", "vemkd_process_count"),
)
FEATURES_PER_ROLE = ("now", "mean15", "mean60", "slope")
UNKNOWN = "unknown"


def role_of(column: str) -> str | None:
    name = column.lower()
    if name in ROLES:
        return name
    return next((role for part, role in ALIASES if part in name), None)


def role_columns(columns: Sequence[str]) -> dict[str, int]:
    """Role -> index of the first column that plays it."""
    out: dict[str, int] = {}
    for i, column in enumerate(columns):
        role = role_of(column)
        if role is not None and role not in out:
            out[role] = i
    return out


def role_features(z: np.ndarray, roles: dict[str, int]) -> np.ndarray:
    """rows x (roles x 4): the signed deviation now, its mean over 15 and 60 rows, and its slope
    (last 15 rows against the 15 before the last hour); NaN for roles the series lacks."""
    n = len(z)
    out = np.full((n, len(ROLES) * len(FEATURES_PER_ROLE)), np.nan)
    for r, role in enumerate(ROLES):
        if role not in roles:
            continue
        col = z[:, roles[role]][:, None]
        m15 = rolling_mean(col, 15)[:, 0]
        m60 = rolling_mean(col, 60)[:, 0]
        earlier = np.concatenate([np.full(45, m15[0]), m15[:-45]]) if n > 45 else np.full(n, m15[0])
        base = r * len(FEATURES_PER_ROLE)
        out[:, base] = col[:, 0]
        out[:, base + 1] = m15
        out[:, base + 2] = m60
        out[:, base + 3] = m15 - earlier
    return out


class Diagnoser:
    def __init__(
        self,
        type_model: lgb.Booster,
        severity_model: lgb.Booster | None,
        types: list[str],
        report: dict[str, Any],
    ) -> None:
        self.type_model = type_model
        self.severity_model = severity_model
        self.types = types
        self.report = report

    @classmethod
    def train(cls, typed: pd.DataFrame, seed: int = 0) -> Diagnoser:
        """Train from labelled rows with ``host``, ``ts``, metric columns, ``status``,
        ``anomaly_type`` and ``severity``; each host's baseline is fitted on its normal rows."""
        needed = {"status", "anomaly_type"}
        if not needed <= set(typed.columns):
            raise ValueError("labelled rows need 'status' and 'anomaly_type' columns")
        xs, types, severe = [], [], []
        hosts = typed.groupby("host", sort=True) if "host" in typed.columns else [("", typed)]
        for _, part in hosts:
            part = part.sort_values("ts") if "ts" in part.columns else part
            metrics = numeric_frame(part, ("batch_id",))
            normal = metrics[part["status"].to_numpy() == "normal"].to_numpy(float)
            if len(normal) < 30:
                continue
            base = Baseline.fit(normal, list(metrics.columns), (1,))
            z = zscores(metrics.to_numpy(float), base.median, base.scale)
            feats = role_features(z, role_columns(list(metrics.columns)))
            bad = part["status"].to_numpy() == "anomaly"
            xs.append(feats[bad])
            types += list(part["anomaly_type"].to_numpy()[bad])
            sev = part["severity"].to_numpy()[bad] if "severity" in part else ["warning"] * len(bad)
            severe += [s == "critical" for s in sev]
        if not xs or not types:
            raise ValueError("no labelled anomaly rows to learn types from")
        x = np.vstack(xs)
        names = sorted(set(map(str, types)))
        y = np.array([names.index(str(t)) for t in types])
        rng = np.random.default_rng(seed)
        test = rng.random(len(y)) < 0.2
        params = {
            "learning_rate": 0.1,
            "num_leaves": 15,
            "min_data_in_leaf": 20,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 2,
            "verbose": -1,
        }
        multi = dict(params, objective="multiclass", num_class=len(names))
        held = lgb.train(multi, lgb.Dataset(x[~test], y[~test]), num_boost_round=120)
        predicted = np.asarray(held.predict(x[test])).argmax(axis=1) if test.any() else np.zeros(0)
        report = _classification_report(y[test], predicted, names)
        type_model = lgb.train(multi, lgb.Dataset(x, y), num_boost_round=120)
        s = np.array(severe, dtype=int)
        severity_model = None
        if 0 < s.sum() < len(s):
            severity_model = lgb.train(
                dict(params, objective="binary"), lgb.Dataset(x, s), num_boost_round=80
            )
        return cls(type_model, severity_model, names, report)

    def summary(self) -> dict[str, Any]:
        return {"types": self.types, **self.report}

    def annotate(self, scored: Scored, dev: Deviations) -> None:
        """Fill type, confidence and severity for the flagged rows of ``scored``."""
        n = len(scored.score)
        scored.anomaly_type = [None] * n
        scored.type_confidence = np.zeros(n)
        scored.severity = ["none"] * n
        rows = np.flatnonzero(scored.is_anomaly)
        if not len(rows):
            return
        roles = role_columns(scored.columns)
        feats = role_features(dev.z, roles)[rows]
        known = len(roles) >= 2
        if known:
            proba = np.asarray(self.type_model.predict(feats))
            best = proba.argmax(axis=1)
        sev = (
            np.asarray(self.severity_model.predict(feats))
            if known and self.severity_model
            else None
        )
        for k, row in enumerate(rows):
            # the types describe the roles' signatures: if the metric that moved most has no
            # role (say, error_rate), the type would be a guess
            leading = role_of(scored.columns[int(scored.order[row][0])]) is not None
            if known and leading:
                scored.anomaly_type[row] = self.types[int(best[k])]
                scored.type_confidence[row] = float(proba[k, best[k]])
            else:
                scored.anomaly_type[row] = UNKNOWN
            critical = sev[k] >= 0.5 if sev is not None else scored.score[row] >= 0.8
            scored.severity[row] = "critical" if critical else "warning"

    def save(self, directory: Path) -> None:
        write_bytes_atomic(directory / "types.txt", self.type_model.model_to_string().encode())
        if self.severity_model is not None:
            write_bytes_atomic(
                directory / "severity.txt", self.severity_model.model_to_string().encode()
            )
        write_json_atomic(directory / "diagnosis.json", {"types": self.types, **self.report})

    @classmethod
    def load(cls, directory: Path) -> Diagnoser:
        meta = json.loads((directory / "diagnosis.json").read_text())
        types = lgb.Booster(model_str=(directory / "types.txt").read_text())
        sev_path = directory / "severity.txt"
        severity = lgb.Booster(model_str=sev_path.read_text()) if sev_path.exists() else None
        report = {k: v for k, v in meta.items() if k != "types"}
        return cls(types, severity, list(meta["types"]), report)


def _classification_report(
    truth: np.ndarray, predicted: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """Per-type precision, recall and F1 and the confusion matrix on the held-out 20 %."""
    k = len(names)
    confusion = np.zeros((k, k), dtype=int)
    for t, p in zip(truth, predicted, strict=True):
        confusion[int(t), int(p)] += 1
    per_type = {}
    for i, name in enumerate(names):
        tp = confusion[i, i]
        prec = tp / max(confusion[:, i].sum(), 1)
        rec = tp / max(confusion[i, :].sum(), 1)
        f1 = 2 * prec * rec / max(prec + rec, 1e-12)
        per_type[name] = {
            "precision": round(float(prec), 3),
            "recall": round(float(rec), 3),
            "f1": round(float(f1), 3),
            "support": int(confusion[i, :].sum()),
        }
    accuracy = float(np.trace(confusion) / max(confusion.sum(), 1))
    return {"per_type": per_type, "confusion": confusion.tolist(), "accuracy": round(accuracy, 3)}
