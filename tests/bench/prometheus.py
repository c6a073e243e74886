"""Prometheus ingest: 1,000 series (50 hosts x 20 metrics) over an hour, through a real Prometheus.

    python -m tests.bench prometheus            # 1,000 series, median of 5 fetches
    python -m tests.bench prometheus --quick    # 100 series (10 hosts x 10 metrics), 3 fetches

Two hours of samples every 15 s (the fetched hour and the hour of history its baselines need)
are written as OpenMetrics, backfilled with ``promtool tsdb create-blocks-from openmetrics`` into
a fresh data dir, and served by the Debian ``prometheus`` binary on a loopback port. Then
``PrometheusSource.fetch()`` is timed over the hour (12 windows, step 60 s, day-before
comparison on): wall time, series/s, samples/s, documents. A few hosts carry a latency or CPU
spike so that host documents are made too. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import load_settings
from knowledge.demo.topology import METRICS
from knowledge.redaction import Redactor
from knowledge.sources.base import SourceContext
from knowledge.sources.openmetrics import write_openmetrics
from knowledge.sources.prometheus import PrometheusConfig, PrometheusSource, PromQuery
from knowledge.telemetry import MetricSeries
from tests.bench.common import Summary
from tests.servers.prometheus import MISSING, running_prometheus

REPO = Path(__file__).resolve().parents[2]
EXTRA = ("net_rx_mbps", "net_tx_mbps", "open_fds", "threads", "queue_depth", "cache_hit_ratio",
         "gc_count", "io_wait")  # fmt: skip
METRIC_NAMES = (*METRICS, *EXTRA)
SCRAPE_S = 15


def make_series(hosts: int, metrics: int, end: datetime, seed: int = 1) -> list[MetricSeries]:
    """``hosts`` x ``metrics`` series of two hours before ``end``, a sample every 15 s: a noisy
    level per series; every 10th host has a 20-minute spike in the last half hour."""
    rng = random.Random(seed)
    start = end - timedelta(hours=2)
    stamps = [start + timedelta(seconds=SCRAPE_S * i) for i in range(7200 // SCRAPE_S)]
    spike = (end - timedelta(minutes=30), end - timedelta(minutes=10))
    out = []
    for h in range(hosts):
        service, host = f"svc-{h % 5}", f"node-{h:03d}"
        for name in METRIC_NAMES[:metrics]:
            low, high = METRICS[name].normal if name in METRICS else (10.0, 60.0)
            level = rng.uniform(low, low + (high - low) * 0.6)
            values = []
            for t in stamps:
                v = level * (1 + rng.gauss(0, 0.03) + 0.02 * math.sin(t.timestamp() / 600))
                if (
                    h % 10 == 3
                    and spike[0] <= t < spike[1]
                    and name in ("latency_p95_ms", "cpu_usage")
                ):
                    v *= 6
                values.append(round(v, 3))
            unit = METRICS[name].unit if name in METRICS else ""
            out.append(MetricSeries(name, {"service": service, "host": host}, stamps, values, unit))
    return out


def run(hosts: int, metrics: int, repeat: int, summary: Summary) -> None:
    now = int(datetime.now(UTC).timestamp())
    end = datetime.fromtimestamp(now // 300 * 300 - 600, UTC)
    series = make_series(hosts, metrics, end)
    samples = sum(len(s.values) for s in series)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-prom-") as tmp:
        folder = Path(tmp)
        history = folder / "history.om"
        began = time.perf_counter()
        with history.open("w") as fh:
            write_openmetrics(series, fh)
        written = time.perf_counter() - began
        print(f"  {len(series)} series, {samples:,} samples written as OpenMetrics "
              f"({history.stat().st_size / 1e6:.1f} MB) in {written:.1f}s")  # fmt: skip
        began = time.perf_counter()
        with running_prometheus(folder / "prom", history) as server:
            ready = time.perf_counter() - began
            print(f"  promtool backfill + Prometheus start: {ready:.1f}s")
            settings = load_settings(config_dir=REPO / "data_config", environ={})
            context = SourceContext(
                name="prometheus",
                state_dir=folder,
                redact=Redactor().redact,
                analysis=settings.ai.analysis,
            )
            queries = tuple(
                PromQuery(name=n, promql=n, unit=METRICS[n].unit if n in METRICS else "",
                          host_label="host", service_label="service")
                for n in METRIC_NAMES[:metrics]
            )  # fmt: skip
            source = PrometheusSource(PrometheusConfig(url=server.url, queries=queries), context)
            start = end - timedelta(hours=1)
            timings, items, docs = [], 0, 0
            kinds: Counter[str] = Counter()
            source.fetch(start, end)  # warm-up: connections, Prometheus caches
            for _ in range(repeat):
                began = time.perf_counter()
                fetched = source.fetch(start, end)
                timings.append(time.perf_counter() - began)
                assert fetched.status == "ok", fetched.reason
                items, docs = fetched.items, len(fetched.documents)
                kinds = Counter(
                    f"{d.kind}/{'host' if d.host else 'service'}" for d in fetched.documents
                )
            began = time.perf_counter()
            raw = source.series_all(start - timedelta(hours=1), end)
            queried = time.perf_counter() - began
            source.close()
    wall = statistics.median(timings)
    label = f"{len(series)} series ({hosts} hosts x {metrics} metrics), 1 h"
    print(f"  fetch() over 1 h, median of {repeat}: {wall:.2f}s "
          f"(min {min(timings):.2f}s, max {max(timings):.2f}s)")  # fmt: skip
    print(f"  {len(series) / wall:,.0f} series/s, {items / wall:,.0f} points/s "
          f"({items:,} points at step 60 s incl. the hour of history), {docs} documents "
          f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")  # fmt: skip
    print(f"  of which the range queries alone (2 h, {len(raw)} series back): {queried:.2f}s")
    summary.add(f"fetch wall time, {label}", f"{wall:.2f} s")
    summary.add("series/s", f"{len(series) / wall:,.0f}")
    summary.add("documents per hour fetched", str(docs))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench prometheus")
    parser.add_argument("--quick", action="store_true", help="100 series, 3 fetches")
    args = parser.parse_args(list(argv or []))
    title = "prometheus" + (" (quick)" if args.quick else "")
    print(f"== {title}   [{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}]")
    if MISSING:
        print(f"  skipped: {MISSING}")
        return
    summary = Summary(title)
    if args.quick:
        run(hosts=10, metrics=10, repeat=3, summary=summary)
    else:
        run(hosts=50, metrics=20, repeat=5, summary=summary)
    summary.print()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
