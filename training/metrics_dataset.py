"""``metrics_dataset.json``: the generated metrics the anomaly model trains on, in the origin's
schema, and back.

The document is ``{"metadata": {...}, "training_samples": [...]}`` exactly as the origin
describes it; each sample also carries ``host``, ``service``, ``severity`` and ``incident_id`` so
that episodes and per-host series survive the trip. Timestamps are written as the origin writes
them (``2025-07-20T11:45:00.000000``) and are UTC. A file from elsewhere without those four keys
still loads (host ``unknown``, severity ``warning`` for anomalies).

``load_metrics_dataset`` validates before it builds the frame: anything wrong is a
``DatasetError`` of one line that names the sample and the field.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowledge.errors import VigilError
from knowledge.statefile import write_json_atomic
from training.simulate import (
    COLUMNS,
    COUNT_METRICS,
    SEED_METRICS,
    SEVERITIES,
    STATUSES,
)

GENERATOR = "vigil-simulate-v1"
NORMAL_EXPLANATION = "System operating within normal parameters."
UNKNOWN_HOST = "unknown"


class DatasetError(VigilError, ValueError):
    """A metrics dataset is unreadable or does not follow the schema. One line, naming the
    sample (index and id) and the field."""


# ------------------------------------------------------------------------------ frame -> doc
def to_document(
    frame: pd.DataFrame,
    *,
    session_id: str,
    generator: str = GENERATOR,
    config_hash: str = "",
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The origin's ``metrics_dataset.json`` document for a frame shaped like
    ``simulate_fleet``'s. Samples are ordered by host then time; ``batch_id`` is the host's
    position among the sorted hosts."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks the columns {missing}; build it with simulate_fleet")
    f = frame.sort_values(["host", "ts"], kind="stable").reset_index(drop=True)
    ts = pd.to_datetime(f["ts"], utc=True).dt.tz_convert(None)
    stamps = np.datetime_as_string(ts.to_numpy().astype("datetime64[us]"), unit="us").tolist()
    hosts = f["host"].astype(str).tolist()
    batch = {h: i for i, h in enumerate(sorted(set(hosts)))}
    status = f["status"].astype(str).tolist()
    services = f["service"].astype(str).tolist()
    severity = f["severity"].astype(str).tolist()
    kinds = [None if _missing(k) else str(k) for k in f["anomaly_type"]]
    incidents = [None if _missing(k) else str(k) for k in f["incident_id"]]
    metrics = {m: _json_numbers(m, f[m].to_numpy(dtype=np.float64)) for m in SEED_METRICS}
    explanations = explain_rows(f)
    samples = [
        {
            "id": f"{status[i]}_{hosts[i]}_{_compact(stamps[i])}",
            "timestamp": stamps[i],
            "metrics": {m: metrics[m][i] for m in SEED_METRICS},
            "status": status[i],
            "anomaly_type": kinds[i],
            "explanation": explanations[i],
            "session_id": session_id,
            "batch_id": batch[hosts[i]],
            "host": hosts[i],
            "service": services[i],
            "severity": severity[i],
            "incident_id": incidents[i],
        }
        for i in range(len(f))
    ]
    anomalies = Counter(k for s, k in zip(status, kinds, strict=True) if s == "anomaly")
    n_anomaly = sum(anomalies.values())
    when = generated_at or datetime.now(UTC)
    return {
        "metadata": {
            "generated_at": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "generator": generator,
            "session_id": session_id,
            "total_samples": len(samples),
            "anomaly_ratio": round(n_anomaly / len(samples), 4) if samples else 0.0,
            "config_hash": config_hash,
            "generation_stats": {
                "normal_samples": len(samples) - n_anomaly,
                "anomaly_samples": n_anomaly,
                "anomaly_types": {str(k): n for k, n in sorted(anomalies.items())},
            },
        },
        "training_samples": samples,
    }


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _compact(stamp: str) -> str:
    """``2025-07-20T11:45:00.000000`` -> ``20250720114500``."""
    return stamp[:19].replace("-", "").replace("T", "").replace(":", "")


def _json_numbers(metric: str, values: np.ndarray) -> list[float | int]:
    """Values rounded to 2 decimals; whole counts as ints, as the origin writes them."""
    rounded: list[float] = np.round(values, 2).tolist()
    if metric in COUNT_METRICS:
        return [int(v) if v.is_integer() else v for v in rounded]
    return list(rounded)


# ------------------------------------------------------------------------------ explanations
def explain_rows(frame: pd.DataFrame) -> list[str]:
    """One plain sentence per row of a frame sorted by host then time: the normal sentence, or
    for an anomaly the metrics that show it, now against just before its episode began."""
    n = len(frame)
    out = [NORMAL_EXPLANATION] * n
    anomalous = (frame["status"] == "anomaly").to_numpy()
    if not anomalous.any():
        return out
    host = frame["host"].astype(str).to_numpy()
    kind = frame["anomaly_type"].to_numpy()
    incident = frame["incident_id"].to_numpy()
    ts = pd.to_datetime(frame["ts"], utc=True).dt.tz_convert(None).to_numpy()
    secs = ts.astype("datetime64[s]").astype(np.int64)
    values = {m: frame[m].to_numpy(dtype=np.float64) for m in SEED_METRICS}
    before = 0
    for i in np.flatnonzero(anomalous).tolist():
        new_run = (
            i == 0
            or not anomalous[i - 1]
            or host[i - 1] != host[i]
            or kind[i - 1] != kind[i]
            or incident[i - 1] != incident[i]
        )
        if new_run:
            before = i - 1 if i > 0 and host[i - 1] == host[i] and not anomalous[i - 1] else i
        was = {m: float(values[m][before]) for m in SEED_METRICS}
        now = {m: float(values[m][i]) for m in SEED_METRICS}
        out[i] = _sentence(str(kind[i]), was, now, int(secs[i] - secs[before]))
    return out


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{max(seconds, 1)} seconds"
    if seconds < 3 * 3600:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"


def _sentence(kind: str, was: dict[str, float], now: dict[str, float], seconds: int) -> str:
    """The sentence of one anomaly row of type ``kind``."""
    span = _duration(seconds)
    cpu, mem, disk = now["cpu_usage"], now["memory_usage"], now["disk_usage"]
    load, heap, gc = now["load_average"], now["java_heap_usage"], now["java_gc_time"]
    jobs, procs = now["spectrum_active_jobs"], now["vemkd_process_count"]
    if kind == "memory_leak":
        return (
            f"Memory usage climbed from {was['memory_usage']:.0f} % to {mem:.0f} % over {span} "
            f"with java heap at {heap:.0f} % and GC time at {gc:.1f} %: a memory leak."
        )
    if kind == "cpu_spike":
        return (
            f"CPU usage jumped from {was['cpu_usage']:.0f} % to {cpu:.0f} % with the load "
            f"average at {load:.1f} (was {was['load_average']:.1f}) for {span}: a CPU spike."
        )
    if kind == "disk_full":
        return (
            f"Disk usage rose from {was['disk_usage']:.0f} % to {disk:.0f} % in {span}: "
            "the disk is filling up."
        )
    if kind == "network_congestion":
        return (
            f"The load average rose from {was['load_average']:.1f} to {load:.1f} while CPU usage "
            f"fell from {was['cpu_usage']:.0f} % to {cpu:.0f} % and {jobs:.0f} running jobs "
            f"stalled for {span}: network congestion, tasks waiting on I/O."
        )
    if kind == "gc_pressure":
        return (
            f"Java GC time is {gc:.1f} % (was {was['java_gc_time']:.1f} %) with the heap at "
            f"{heap:.0f} % for {span}: GC pressure, the heap is too full to collect."
        )
    if kind == "job_backlog":
        return (
            f"Running Spectrum jobs piled up from {was['spectrum_active_jobs']:.0f} to "
            f"{jobs:.0f} in {span} with the load average at {load:.1f}: a job backlog."
        )
    if kind == "process_crash":
        return (
            f"vemkd processes dropped from {was['vemkd_process_count']:.0f} to {procs:.0f} and "
            f"running jobs from {was['spectrum_active_jobs']:.0f} to {jobs:.0f} {span} ago: "
            "a process crash."
        )
    if kind == "thread_starvation":
        return (
            f"CPU usage fell from {was['cpu_usage']:.0f} % to {cpu:.0f} % and java GC time to "
            f"{gc:.1f} % with the heap still at {heap:.0f} % while {jobs:.0f} jobs wait, for "
            f"{span}: thread starvation, the work is blocked."
        )
    return f"Metrics left their normal range for {span}: {kind.replace('_', ' ')}."


# -------------------------------------------------------------------------------- validation
_META: dict[str, tuple[type, ...]] = {
    "generated_at": (str,),
    "generator": (str,),
    "session_id": (str,),
    "total_samples": (int,),
    "anomaly_ratio": (int, float),
    "config_hash": (str,),
    "generation_stats": (dict,),
}
_STATS: dict[str, tuple[type, ...]] = {
    "normal_samples": (int,),
    "anomaly_samples": (int,),
    "anomaly_types": (dict,),
}
_SAMPLE: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "timestamp": (str,),
    "metrics": (dict,),
    "status": (str,),
    "anomaly_type": (str, type(None)),
    "explanation": (str,),
    "session_id": (str,),
    "batch_id": (int,),
}
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "host": (str,),
    "service": (str,),
    "severity": (str,),
    "incident_id": (str, type(None)),
}
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    dict: "an object",
    list: "a list",
}


def expect_field(where: str, obj: dict[str, Any], key: str, types: tuple[type, ...]) -> Any:
    """``obj[key]``, or ``DatasetError`` naming ``where`` and ``key`` when it is missing or not
    one of ``types`` (a bool is never a number)."""
    if key not in obj:
        raise DatasetError(f"{where}: field {key!r} is missing")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, types):
        wanted = " or ".join(_TYPE_NAMES.get(t, "null") for t in types)
        raise DatasetError(f"{where}: field {key!r} must be {wanted}, got {show_value(value)}")
    return value


def show_value(value: object) -> str:
    """``value`` as a short repr for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_document(doc: Any) -> None:
    """Raise ``DatasetError`` at the first thing in ``doc`` that breaks the schema."""
    if not isinstance(doc, dict):
        raise DatasetError("the top level must be an object with metadata and training_samples")
    meta = expect_field("top level", doc, "metadata", (dict,))
    for key, types in _META.items():
        expect_field("metadata", meta, key, types)
    stats = meta["generation_stats"]
    for key, types in _STATS.items():
        expect_field("metadata.generation_stats", stats, key, types)
    samples = expect_field("top level", doc, "training_samples", (list,))
    if meta["total_samples"] != len(samples):
        raise DatasetError(
            f"metadata: field 'total_samples' is {meta['total_samples']} but there are "
            f"{len(samples)} training_samples"
        )
    seen: set[str] = set()
    for i, sample in enumerate(samples):
        _check_sample(i, sample, seen)


_FAST = {k: frozenset(t) for k, t in {**_SAMPLE, **_OPTIONAL}.items()}
_FAST_OPTIONAL = frozenset(_OPTIONAL)


def _looks_valid(sample: Any) -> bool:
    """A quick yes for a well-formed sample (exact JSON types); a no sends it to the detailed
    check, which names what is wrong."""
    if sample.__class__ is not dict:
        return False
    for key, classes in _FAST.items():
        value = sample.get(key, _FAST)
        if value.__class__ not in classes and not (value is _FAST and key in _FAST_OPTIONAL):
            return False
    metrics: dict[str, Any] = sample["metrics"]
    for m in SEED_METRICS:
        number = metrics.get(m)
        if not isinstance(number, int | float) or number is True or number is False:
            return False
        if not math.isfinite(number):
            return False
    status = sample["status"]
    return (
        status in STATUSES
        and (status == "anomaly") == (sample["anomaly_type"].__class__ is str)
        and sample.get("severity", "none") in SEVERITIES
    )


def _check_sample(i: int, sample: Any, seen: set[str]) -> None:
    if not _looks_valid(sample):
        _check_fields(i, sample)
    key = sample["id"]
    if key in seen:
        raise DatasetError(f"training_samples[{i}] (id {key!r}): field 'id' repeats an earlier one")
    seen.add(key)
    try:
        datetime.fromisoformat(sample["timestamp"])
    except ValueError:
        raise DatasetError(
            f"training_samples[{i}] (id {key!r}): field 'timestamp' must be an ISO time, "
            f"got {show_value(sample['timestamp'])}"
        ) from None


def _check_fields(i: int, sample: Any) -> None:
    """Raise ``DatasetError`` naming the first field of ``sample`` that breaks the schema."""
    where = f"training_samples[{i}]"
    if not isinstance(sample, dict):
        raise DatasetError(f"{where}: must be an object, got {show_value(sample)}")
    if isinstance(sample.get("id"), str):
        where += f" (id {sample['id']!r})"
    for key, types in _SAMPLE.items():
        expect_field(where, sample, key, types)
    for key, types in _OPTIONAL.items():
        if key in sample:
            expect_field(where, sample, key, types)
    metrics = sample["metrics"]
    for m in SEED_METRICS:
        value = expect_field(f"{where} metrics", metrics, m, (int, float))
        if not math.isfinite(value):
            raise DatasetError(f"{where} metrics: field {m!r} must be finite, got {value!r}")
    status = sample["status"]
    if status not in STATUSES:
        raise DatasetError(
            f"{where}: field 'status' must be normal or anomaly, got {show_value(status)}"
        )
    if (status == "anomaly") != isinstance(sample["anomaly_type"], str):
        raise DatasetError(
            f"{where}: field 'anomaly_type' must be a type name for anomalies and null otherwise"
        )
    if sample.get("severity", "none") not in SEVERITIES:
        raise DatasetError(
            f"{where}: field 'severity' must be one of {', '.join(SEVERITIES)}, "
            f"got {show_value(sample['severity'])}"
        )


# ------------------------------------------------------------------------------ doc -> frame
def to_frame(doc: dict[str, Any]) -> pd.DataFrame:
    """The frame of a valid document (see ``validate_document``), columns ``COLUMNS``, sorted
    by host then time."""
    samples = doc["training_samples"]
    status = [s["status"] for s in samples]
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(
                [s["timestamp"] for s in samples], format="ISO8601", utc=True
            ).astype("datetime64[ns, UTC]"),
            "host": pd.array([s.get("host", UNKNOWN_HOST) for s in samples], dtype="str"),
            "service": pd.array([s.get("service", UNKNOWN_HOST) for s in samples], dtype="str"),
            **{
                m: np.array([s["metrics"][m] for s in samples], dtype=np.float64)
                for m in SEED_METRICS
            },
            "status": pd.array(status, dtype="str"),
            "anomaly_type": pd.Series([s["anomaly_type"] for s in samples], dtype=object),
            "severity": pd.array(
                [
                    s.get("severity", "warning" if st == "anomaly" else "none")
                    for s, st in zip(samples, status, strict=True)
                ],
                dtype="str",
            ),
            "incident_id": pd.Series([s.get("incident_id") for s in samples], dtype=object),
        }
    )
    return frame.sort_values(["host", "ts"], kind="stable").reset_index(drop=True)


def parse_document(text: str, where: str, validate: Callable[[Any], None]) -> dict[str, Any]:
    """The document in ``text`` once ``validate`` accepts it; ``DatasetError`` naming
    ``where`` when it is not JSON or off the schema."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise DatasetError(f"{where}: not valid JSON ({exc})") from None
    try:
        validate(doc)
    except DatasetError as exc:
        raise DatasetError(f"{where}: {exc}") from None
    return doc


def write_metrics_dataset(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically (a reader sees the old file or the new one)."""
    write_json_atomic(Path(path), document)


def load_metrics_dataset(path: Path) -> pd.DataFrame:
    """The validated frame of the dataset at ``path``; ``DatasetError`` (one line) when it is
    missing, not JSON, or off the schema."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no metrics dataset there; generate one first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the metrics dataset ({exc})") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise DatasetError(
            f"{path}: not valid JSON ({exc}); restore a backup or generate it again"
        ) from None
    try:
        validate_document(doc)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    return to_frame(doc)


__all__ = [
    "GENERATOR",
    "NORMAL_EXPLANATION",
    "DatasetError",
    "explain_rows",
    "load_metrics_dataset",
    "parse_document",
    "to_document",
    "to_frame",
    "validate_document",
    "write_metrics_dataset",
]
