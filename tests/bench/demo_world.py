"""How fast the demo world answers the queries the demo, the alerts job and tests make.

Targets: one metric over 24 h for the whole fleet in under 50 ms; one hour of fleet logs in
under 300 ms; a full alerts pass (every metric, 65 min of history) well under a second.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from handlers import alerts
from handlers.deps import Deps
from handlers.types import ChatRequest
from knowledge.config import AnalysisConfig, Baseline
from knowledge.demo import DemoWorld, SimClock
from tests.bench.common import measure

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def main() -> None:
    print("== demo world")
    end = START + timedelta(hours=30)
    world = DemoWorld(seed=42, start=START, clock=SimClock(START, 60.0, lambda: 30 * 60.0))
    measure(
        "query_range cpu_usage, 24 h x 12 hosts",
        lambda: world.query_range("cpu_usage", end - timedelta(hours=24), end),
    )
    measure("logs, 1 h, whole fleet", lambda: world.logs(end - timedelta(hours=1), end), repeat=7)
    measure(
        "traces, 1 h, whole fleet", lambda: world.traces(end - timedelta(hours=1), end), repeat=7
    )
    measure("snapshot, every host and metric", world.snapshot)
    analysis = AnalysisConfig(
        baselines=(Baseline(metric="cpu_usage", max=70), Baseline(metric="latency_p95_ms", max=200))
    )
    deps = Deps(analysis=analysis, telemetry=world)
    measure(
        "alerts job pass (all metrics, 65 min window)",
        lambda: asyncio.run(alerts.check(ChatRequest("alerts"), deps)),
        repeat=7,
    )


if __name__ == "__main__":
    main()
