"""The simulated fleet (training.simulate) and its dataset file (training.metrics_dataset)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from training.metrics_dataset import (
    NORMAL_EXPLANATION,
    DatasetError,
    load_metrics_dataset,
    to_document,
    validate_document,
    write_metrics_dataset,
)
from training.simulate import (
    ANOMALY_TYPES,
    COLUMNS,
    METRIC_UNITS,
    SEED_METRICS,
    simulate_fleet,
)

ORIGIN_TYPES = ("cpu_spike", "memory_leak", "disk_full", "network_congestion")
ORIGIN_META = {
    "generated_at",
    "generator",
    "session_id",
    "total_samples",
    "anomaly_ratio",
    "config_hash",
    "generation_stats",
}
ORIGIN_SAMPLE = {
    "id",
    "timestamp",
    "metrics",
    "status",
    "anomaly_type",
    "explanation",
    "session_id",
    "batch_id",
}


@pytest.fixture(scope="module")
def fleet() -> pd.DataFrame:
    started = time.perf_counter()
    frame = simulate_fleet(20000, 0.2, seed=7)
    print(f"simulate_fleet(20000): {time.perf_counter() - started:.3f} s")
    return frame


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return simulate_fleet(3000, 0.25, hosts=2, seed=3)


def _episodes(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(type, episode rows, up to 30 normal rows just before it on the same host)."""
    for _, rows in frame[frame["status"] == "anomaly"].groupby("incident_id", sort=False):
        first = rows.index[0]
        before = frame.loc[max(first - 30, 0) : first - 1]
        before = before[(before["host"] == rows["host"].iloc[0]) & (before["status"] == "normal")]
        yield str(rows["anomaly_type"].iloc[0]), rows, before


def _quarter(rows: pd.DataFrame, metric: str, last: bool) -> float:
    n = max(1, len(rows) // 4)
    part = rows[metric].iloc[-n:] if last else rows[metric].iloc[:n]
    return float(part.mean())


Check = Callable[[pd.DataFrame, pd.DataFrame], bool]
SIGNATURES: dict[str, Check] = {
    "memory_leak": lambda g, b: bool(
        g["memory_usage"].iloc[-1] > g["memory_usage"].iloc[0] + 10
        and _quarter(g, "java_heap_usage", True) > _quarter(g, "java_heap_usage", False)
        and g["java_gc_time"].iloc[-1] > b["java_gc_time"].max()
    ),
    "disk_full": lambda g, b: bool(g["disk_usage"].max() > 90),
    "process_crash": lambda g, b: bool(
        g["vemkd_process_count"].max() < 0.6 * b["vemkd_process_count"].min()
        and g["spectrum_active_jobs"].mean() < b["spectrum_active_jobs"].mean()
    ),
    "cpu_spike": lambda g, b: bool(
        g["cpu_usage"].max() >= 75 and g["load_average"].max() > b["load_average"].max()
    ),
    "network_congestion": lambda g, b: bool(
        g["load_average"].mean() > b["load_average"].mean()
        and g["cpu_usage"].mean() < b["cpu_usage"].mean()
    ),
    "gc_pressure": lambda g, b: bool(
        g["java_gc_time"].mean() > b["java_gc_time"].max() and g["java_heap_usage"].max() > 90
    ),
    "job_backlog": lambda g, b: bool(
        g["spectrum_active_jobs"].iloc[-1] > b["spectrum_active_jobs"].max() + 20
        and g["load_average"].iloc[-1] > b["load_average"].mean()
    ),
    "thread_starvation": lambda g, b: bool(
        g["cpu_usage"].mean() < b["cpu_usage"].mean()
        and g["java_gc_time"].mean() < b["java_gc_time"].mean()
    ),
}


# ------------------------------------------------------------------------------- simulation
def test_same_seed_gives_the_same_frame_and_another_seed_does_not() -> None:
    a = simulate_fleet(4000, 0.2, seed=11)
    pd.testing.assert_frame_equal(a, simulate_fleet(4000, 0.2, seed=11))
    other = simulate_fleet(4000, 0.2, seed=12)
    assert not np.allclose(a["cpu_usage"], other["cpu_usage"])


def test_columns_units_and_descriptions() -> None:
    frame = simulate_fleet(500, 0.2, seed=1)
    assert tuple(frame.columns) == COLUMNS
    assert set(METRIC_UNITS) == set(SEED_METRICS) and METRIC_UNITS["cpu_usage"] == "%"
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert len(ANOMALY_TYPES) >= 7 and set(ORIGIN_TYPES) <= set(ANOMALY_TYPES)
    assert all(len(text) > 40 and "\n" not in text for text in ANOMALY_TYPES.values())


@pytest.mark.parametrize(
    ("n", "ratio", "hosts"), [(20000, 0.2, None), (5000, 0.05, None), (3000, 0.4, 3), (777, 0.1, 1)]
)
def test_anomaly_share_matches_the_ratio(n: int, ratio: float, hosts: int | None) -> None:
    frame = simulate_fleet(n, ratio, hosts=hosts, seed=2)
    assert len(frame) == n
    share = float((frame["status"] == "anomaly").mean())
    assert abs(share - ratio) <= 0.02


def test_every_type_is_present_and_the_origin_mix_holds(fleet: pd.DataFrame) -> None:
    counts = fleet.loc[fleet["status"] == "anomaly", "anomaly_type"].value_counts()
    assert set(counts.index) == set(ANOMALY_TYPES)
    assert set(counts.index[:2]) == {"cpu_spike", "memory_leak"}
    assert counts[list(ORIGIN_TYPES)].sum() > 0.6 * counts.sum()


def test_labels_are_consistent(fleet: pd.DataFrame) -> None:
    normal = fleet[fleet["status"] == "normal"]
    anomaly = fleet[fleet["status"] == "anomaly"]
    assert set(fleet["status"]) == {"normal", "anomaly"}
    assert normal["anomaly_type"].isna().all() and normal["incident_id"].isna().all()
    assert (normal["severity"] == "none").all()
    assert set(anomaly["severity"]) == {"warning", "critical"}
    assert anomaly["anomaly_type"].notna().all() and anomaly["incident_id"].notna().all()
    for _, rows in anomaly.groupby("incident_id"):
        assert rows["host"].nunique() == 1 and rows["anomaly_type"].nunique() == 1
        assert rows["severity"].nunique() == 1
        assert np.all(np.diff(rows.index) == 1), "an episode is one contiguous run"


def test_episodes_last_minutes_to_hours(fleet: pd.DataFrame) -> None:
    lengths = fleet[fleet["status"] == "anomaly"].groupby("incident_id").size()
    assert lengths.min() >= 3
    assert lengths.max() >= 120
    assert lengths.median() < 60


def test_every_episode_shows_its_signature(fleet: pd.DataFrame) -> None:
    seen: dict[str, int] = {}
    failures = []
    for kind, rows, before in _episodes(fleet):
        assert len(before) >= 10, "an episode has normal rows before it"
        seen[kind] = seen.get(kind, 0) + 1
        if not SIGNATURES[kind](rows, before):
            failures.append((kind, rows["incident_id"].iloc[0]))
    assert set(seen) == set(ANOMALY_TYPES)
    assert not failures


def test_critical_episodes_deviate_more(fleet: pd.DataFrame) -> None:
    peaks: dict[str, list[float]] = {"warning": [], "critical": []}
    for kind, rows, _ in _episodes(fleet):
        if kind == "cpu_spike":
            peaks[str(rows["severity"].iloc[0])].append(float(rows["cpu_usage"].max()))
    assert peaks["warning"] and peaks["critical"]
    assert np.median(peaks["critical"]) > np.median(peaks["warning"])


@pytest.mark.parametrize("step_s", [60, 30])
def test_each_host_is_one_contiguous_series(step_s: int) -> None:
    start = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
    frame = simulate_fleet(6000, 0.2, hosts=3, step_s=step_s, seed=5, start=start)
    assert frame["host"].nunique() == 3
    assert list(frame["host"]) == sorted(frame["host"])
    for _, rows in frame.groupby("host"):
        steps = rows["ts"].diff().dropna().dt.total_seconds()
        assert (steps == step_s).all()
        assert rows["ts"].iloc[0] >= pd.Timestamp(start)
        assert len(rows) == 2000


def test_default_fleet_gives_each_host_one_to_two_days(fleet: pd.DataFrame) -> None:
    spans = fleet.groupby("host")["ts"].agg(lambda ts: (ts.max() - ts.min()).total_seconds())
    assert len(spans) > 1
    assert ((spans >= 86400) & (spans <= 2 * 86400)).all()
    assert fleet["service"].nunique() > 1


def test_normal_behaviour_is_bounded_and_correlated(fleet: pd.DataFrame) -> None:
    normal = fleet[fleet["status"] == "normal"]
    for metric in ("cpu_usage", "memory_usage", "disk_usage", "java_heap_usage"):
        assert normal[metric].between(0, 100).all()
    assert (normal["disk_usage"] < 90).all()
    counts = fleet[["spectrum_active_jobs", "vemkd_process_count"]].to_numpy()
    assert np.array_equal(counts, np.round(counts))
    host = normal[normal["host"] == normal["host"].iloc[0]]
    assert host["cpu_usage"].corr(host["load_average"]) > 0.8
    assert host["spectrum_active_jobs"].corr(host["cpu_usage"]) > 0.6
    assert host["java_heap_usage"].corr(host["java_gc_time"]) > 0.1
    hourly = host.groupby(host["ts"].dt.hour)["cpu_usage"].mean()
    assert hourly.max() - hourly.min() > 5, "a daily cycle"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="anomaly_ratio"):
        simulate_fleet(100, 0.95)
    with pytest.raises(ValueError, match="hosts"):
        simulate_fleet(100, hosts=0)
    with pytest.raises(ValueError, match="step_s"):
        simulate_fleet(100, step_s=0)


def test_no_anomalies_when_the_ratio_is_zero() -> None:
    frame = simulate_fleet(2000, 0.0, seed=4)
    assert (frame["status"] == "normal").all()


# ---------------------------------------------------------------------------------- dataset
def test_document_follows_the_origin_schema(small: pd.DataFrame) -> None:
    when = datetime(2025, 7, 20, 11, 45, tzinfo=UTC)
    doc = to_document(small, session_id="session_x", config_hash="abc", generated_at=when)
    validate_document(doc)
    meta = doc["metadata"]
    assert set(meta) == ORIGIN_META
    assert meta["generated_at"] == "2025-07-20T11:45:00"
    stats = meta["generation_stats"]
    n_anomaly = int((small["status"] == "anomaly").sum())
    assert stats["anomaly_samples"] == n_anomaly
    assert stats["normal_samples"] + n_anomaly == meta["total_samples"] == len(small)
    assert sum(stats["anomaly_types"].values()) == n_anomaly
    assert meta["anomaly_ratio"] == pytest.approx(n_anomaly / len(small), abs=1e-4)
    samples = doc["training_samples"]
    assert all(ORIGIN_SAMPLE | {"host", "severity", "incident_id"} <= set(s) for s in samples)
    assert len({s["id"] for s in samples}) == len(samples)
    first = samples[0]
    assert first["timestamp"].endswith(".000000") and "T" in first["timestamp"]
    assert set(first["metrics"]) == set(SEED_METRICS)
    assert isinstance(first["metrics"]["vemkd_process_count"], int)
    assert {s["batch_id"] for s in samples} == {0, 1}


def test_explanations_name_what_shows_the_anomaly(small: pd.DataFrame) -> None:
    samples = to_document(small, session_id="s")["training_samples"]
    normal = [s for s in samples if s["status"] == "normal"]
    assert {s["explanation"] for s in normal} == {NORMAL_EXPLANATION}
    words = {
        "memory_leak": ("Memory usage", "memory leak"),
        "cpu_spike": ("CPU usage", "load average"),
        "disk_full": ("Disk usage", "%"),
        "process_crash": ("vemkd processes", "jobs"),
        "gc_pressure": ("GC time", "heap"),
    }
    for s in samples:
        if s["status"] == "anomaly":
            assert s["explanation"].endswith(".") and "\n" not in s["explanation"]
            for word in words.get(s["anomaly_type"], ()):
                assert word in s["explanation"]
    leaks = [s["explanation"] for s in samples if s["anomaly_type"] == "memory_leak"]
    assert leaks and "minutes" in leaks[-1]


def test_write_then_load_gives_the_same_frame(small: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "training" / "metrics_dataset.json"
    write_metrics_dataset(path, to_document(small, session_id="s"))
    assert not list(path.parent.glob(".*.tmp"))
    loaded = load_metrics_dataset(path)
    pd.testing.assert_frame_equal(loaded, small)


def test_load_sorts_by_host_then_time(small: pd.DataFrame, tmp_path: Path) -> None:
    doc = to_document(small, session_id="s")
    doc["training_samples"].reverse()
    path = tmp_path / "m.json"
    write_metrics_dataset(path, doc)
    pd.testing.assert_frame_equal(load_metrics_dataset(path), small)


def test_an_origin_file_without_host_keys_loads(tmp_path: Path) -> None:
    doc = to_document(simulate_fleet(300, 0.2, seed=1), session_id="s")
    for s in doc["training_samples"]:
        for key in ("host", "service", "severity", "incident_id"):
            del s[key]
    path = tmp_path / "origin.json"
    path.write_text(json.dumps(doc))
    frame = load_metrics_dataset(path)
    assert set(frame["host"]) == {"unknown"}
    assert set(frame.loc[frame["status"] == "anomaly", "severity"]) == {"warning"}


def _set_metric(s: dict[str, Any], value: object) -> None:
    s["metrics"]["cpu_usage"] = value


def _drop_metric(s: dict[str, Any], _: object) -> None:
    del s["metrics"]["disk_usage"]


BREAKS: list[tuple[str, Callable[[dict[str, Any], object], None], object, str]] = [
    ("missing metric", _drop_metric, None, "'disk_usage' is missing"),
    ("text metric", _set_metric, "abc", "'cpu_usage' must be"),
    ("bool metric", _set_metric, True, "'cpu_usage' must be"),
    ("nan metric", _set_metric, float("nan"), "'cpu_usage' must be finite"),
    ("unknown status", lambda s, v: s.update(status=v), "weird", "'status'"),
    ("missing batch", lambda s, v: s.pop("batch_id"), None, "'batch_id' is missing"),
    ("wrong type", lambda s, v: s.update(timestamp=v), 5, "'timestamp' must be a string"),
    ("bad time", lambda s, v: s.update(timestamp=v), "yesterday", "'timestamp' must be an ISO"),
    ("normal typed", lambda s, v: s.update(anomaly_type=v), "cpu_spike", "'anomaly_type'"),
    ("bad severity", lambda s, v: s.update(severity=v), "high", "'severity'"),
]


@pytest.mark.parametrize(("case", "breaks", "value", "needle"), BREAKS, ids=[b[0] for b in BREAKS])
def test_a_broken_sample_is_named_with_its_field(
    tmp_path: Path,
    case: str,
    breaks: Callable[[dict[str, Any], object], None],
    value: object,
    needle: str,
) -> None:
    doc = to_document(simulate_fleet(200, 0.0, seed=1), session_id="s")
    sample = doc["training_samples"][5]
    breaks(sample, value)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetError) as info:
        load_metrics_dataset(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and "training_samples[5]" in message
    assert needle in message
    assert isinstance(info.value, ValueError)


def test_document_level_errors() -> None:
    doc = to_document(simulate_fleet(50, 0.0, seed=1), session_id="s")
    with pytest.raises(DatasetError, match="top level"):
        validate_document([])
    broken = {**doc, "metadata": {k: v for k, v in doc["metadata"].items() if k != "generator"}}
    with pytest.raises(DatasetError, match="metadata: field 'generator' is missing"):
        validate_document(broken)
    short = {**doc, "training_samples": doc["training_samples"][:-1]}
    with pytest.raises(DatasetError, match="total_samples"):
        validate_document(short)
    samples = doc["training_samples"]
    twice = {**doc, "training_samples": [*samples[:-1], dict(samples[0])]}
    with pytest.raises(DatasetError, match=r"training_samples\[49\].*repeats"):
        validate_document(twice)


def test_corrupt_or_missing_files_are_dataset_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"metadata": {"generator": ')
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_metrics_dataset(path)
    with pytest.raises(DatasetError, match="no metrics dataset"):
        load_metrics_dataset(tmp_path / "absent.json")
