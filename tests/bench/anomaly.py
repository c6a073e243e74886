"""Anomaly model benchmarks: quality on the labelled SMD machines (when ../shared/data/smd is
there), batch scoring speed, the live scorer over 1,000 series, and training on 20k samples.

python -m tests.bench anomaly [--quick]
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tests.bench.common import measure
from tests.training.fleet import COLUMNS, FrameReader, clean
from training.evaluate import evaluate_smd
from training.live import LiveScorer
from training.model import AnomalyModel
from training.pipeline import split_generated, train_evaluated
from training.simulate import simulate_fleet

SMD = Path(__file__).resolve().parents[3] / "shared" / "data" / "smd"
TARGETS = {"f1_own": 0.55, "f1_best": 0.60, "hitrate_150": 0.75}


def smd_quality() -> None:
    if not (SMD / "test").is_dir():
        print(f"SMD quality: skipped ({SMD} is not there)")
        return
    report = evaluate_smd(SMD)
    print("SMD, point-wise (no point adjustment); a model per machine, trained on train/ only")
    print(
        f"{'machine':<14}{'F1 own':>8}{'F1 best':>9}{'HR@150%':>9}{'alarms':>8}"
        f"{'train s':>9}{'score s':>9}"
    )
    for row in report["machines"]:
        print(
            f"{row['machine']:<14}{row['f1_own']:8.3f}{row['f1_best']:9.3f}"
            f"{row['hitrate_150']:9.3f}{row['alarm_rate']:8.3f}{row['train_s']:9.1f}"
            f"{row['score_s']:9.1f}"
        )
    mean = report["mean"]
    print(f"{'mean':<14}{mean['f1_own']:8.3f}{mean['f1_best']:9.3f}{mean['hitrate_150']:9.3f}")
    print("targets       " + "   ".join(f"{k} >= {v}" for k, v in TARGETS.items()))


def batch_scoring(rows: int) -> None:
    history = clean(6000, seed=1)
    model = AnomalyModel.train(history)
    baseline = model.fit_baseline(history)
    frame = clean(rows, seed=2)
    for explain in ("none", "flagged"):
        ms = measure(
            f"score {rows:,} rows x {len(COLUMNS)} metrics (explain={explain})",
            lambda e=explain: model.score(frame, baseline, explain=e),  # type: ignore[misc]
            repeat=5,
        )
        print(f"{'':<58} = {rows / ms * 1000:,.0f} rows/s (target >= 100,000)")
    ms = measure(
        "score + explain every row (pred_contrib), 2,000 rows",
        lambda: model.score(frame.head(2000), baseline, explain="all"),
        repeat=3,
    )
    print(f"{'':<58} = {2000 / ms * 1000:,.0f} rows/s")


def live_scorer(series: int) -> None:
    hosts = series // len(COLUMNS)
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    rows = 1500
    stamps = [now - timedelta(minutes=m) for m in range(rows - 1, -1, -1)]
    frames = {}
    for i in range(hosts):
        frame = clean(rows, seed=100 + i)
        if i % 25 == 0:  # a few hosts misbehave
            frame.loc[rows - 20 :, "memory_usage"] += 20
        frame.insert(0, "ts", stamps)
        frames[(f"svc-{i % 10}", f"host-{i}")] = frame
    model = AnomalyModel.train(clean(6000, seed=1))
    scorer = LiveScorer(lambda: model, FrameReader(frames, now))
    began = time.perf_counter()
    found = scorer.detect(now)
    first = time.perf_counter() - began
    steady = []
    for _ in range(5):
        began = time.perf_counter()
        scorer.detect(now)
        steady.append(time.perf_counter() - began)
    print(
        f"live scorer over {hosts * len(COLUMNS):,} series ({hosts} hosts): first run (fits "
        f"baselines) {first:.2f} s, steady median {statistics.median(steady):.2f} s "
        f"(target <= 2 s); {len(found)} hosts flagged, {len(range(0, hosts, 25))} injected"
    )


def training(samples: int, repeat: int) -> None:
    data = split_generated(simulate_fleet(samples, 0.2, seed=0), "generated fleet")
    times, held = [], {}
    for _ in range(repeat):
        _model, held, seconds = train_evaluated(data)
        times.append(seconds)
    detection = held.get("detection", {})
    print(
        f"train on {samples:,} generated samples: median {statistics.median(times):.1f} s over "
        f"{repeat} (target <= 30 s); held-out hosts: F1 {detection.get('f1', float('nan')):.3f}, "
        f"false alarms {held.get('false_alarm_rate', float('nan')):.4f}"
    )
    per_type = held.get("per_type", {})
    if per_type:
        print(
            "  type F1 on flagged held-out rows: "
            + ", ".join(f"{k} {v['f1']:.2f}" for k, v in sorted(per_type.items()))
        )


def main(options: list[str]) -> None:
    quick = "--quick" in options
    print("== anomaly model ==")
    np.seterr(all="ignore")
    batch_scoring(20_000 if quick else 100_000)
    live_scorer(1000)
    training(20_000, 1 if quick else 3)
    smd_quality()
