"""``metrics_dataset.json`` as a managed file: generated from the simulated fleet when its
settings change, backed up before it is replaced, recovered from a backup when damaged."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.dataset_files import Backups, load_or_recover
from training.metrics_dataset import (
    GENERATOR,
    parse_document,
    to_document,
    validate_document,
    write_metrics_dataset,
)
from training.simulate import simulate_fleet


@dataclass(frozen=True)
class MetricsSpec:
    samples: int
    anomaly_ratio: float
    seed: int

    def config_hash(self) -> str:
        canonical = json.dumps(
            {
                "generator": GENERATOR,
                "samples": self.samples,
                "anomaly_ratio": self.anomaly_ratio,
                "seed": self.seed,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class MetricsReport:
    generated: bool
    samples: int
    anomalies: int
    seconds: float
    message: str
    recovery: str | None = None


def parse_metrics(text: str, where: str) -> dict[str, Any]:
    """The validated metrics document in ``text``; ``DatasetError`` naming ``where``."""
    return parse_document(text, where, validate_document)


def read_metrics_meta(
    path: Path, backups: Backups, *, read_only: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """The metadata of the metrics dataset at ``path`` (recovered from a backup when damaged;
    ``read_only``: only read from the backup), and the message if there was one."""
    loaded = load_or_recover(path, parse_metrics, backups, "metrics dataset", read_only=read_only)
    return (loaded.value or {}).get("metadata"), loaded.message


def generate_metrics(
    path: Path,
    spec: MetricsSpec,
    backups: Backups,
    *,
    session_id: str,
    force: bool = False,
) -> MetricsReport:
    """Make sure ``path`` holds the dataset ``spec`` describes: nothing to do when it already
    does (same settings, valid file); otherwise back the old one up and generate it again."""
    meta, recovery = read_metrics_meta(path, backups)
    wanted = spec.config_hash()
    if meta is not None and meta.get("config_hash") == wanted and not force:
        n = int(meta["total_samples"])
        anomalies = int(meta["generation_stats"]["anomaly_samples"])
        return MetricsReport(False, n, anomalies, 0.0, "metrics dataset up to date", recovery)
    began = time.perf_counter()
    frame = simulate_fleet(spec.samples, spec.anomaly_ratio, seed=spec.seed)
    doc = to_document(
        frame, session_id=session_id, config_hash=wanted, generated_at=datetime.now(UTC)
    )
    backups.backup(path)
    write_metrics_dataset(path, doc)
    stats = doc["metadata"]["generation_stats"]
    if meta is None:
        why = "generated"
    else:
        why = "generated again: its settings changed (samples, anomaly ratio or seed)"
    return MetricsReport(
        True,
        doc["metadata"]["total_samples"],
        int(stats["anomaly_samples"]),
        time.perf_counter() - began,
        f"metrics dataset {why}",
        recovery,
    )
