"""Vigil's own metrics, served at ``/metrics`` in the Prometheus text format.

Events are counted as they happen (chat requests and their latency, alert messages posted);
everything else is read at scrape time from what the app already keeps (job stats, ingestion
health and watermarks, LLM token counts, the leader lease), so nothing is counted twice.
Each app has its own registry: two apps in one process (tests) never mix their figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from knowledge.llm.usage import USAGE

if TYPE_CHECKING:
    from bot.app import VigilApp

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


def _version() -> str:
    try:
        return dist_version("vigil")
    except PackageNotFoundError:
        return "unknown"


class Metrics:
    """The registry of one app, and the counters its parts bump."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vigil_chat_requests",
            "Chat requests by command, platform and outcome (ok, error, refused).",
            ["command", "platform", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vigil_answer_seconds",
            "Time from a chat request to its reply, by command.",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.alerts_sent = Counter(
            "vigil_alerts_sent",
            "Alert messages the alerts job posted (new, escalated, resolved), by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.build = GaugeMetricFamily("vigil_build_info", "Vigil's version.", labels=["version"])
        self.build.add_metric([_version()], 1)

    def observe_request(self, command: str, platform: str, outcome: str, seconds: float) -> None:
        """The router's hook: one request done (``command`` is ``-`` when none was found)."""
        self.requests.labels(command, platform, outcome).inc()
        if outcome != "refused":
            self.latency.labels(command).observe(seconds)

    def bind(self, app: VigilApp) -> None:
        """Read the app's own figures at each scrape."""
        self.registry.register(_AppCollector(app, self.build))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _AppCollector(Collector):
    def __init__(self, app: VigilApp, build: GaugeMetricFamily) -> None:
        self.app = app
        self.build = build

    def collect(self) -> Iterator[Metric]:
        yield self.build
        yield from self._jobs()
        yield from self._ingestion()
        yield from self._llm()
        yield from self._alerts()

    def _jobs(self) -> Iterator[Metric]:
        app = self.app
        leader = GaugeMetricFamily(
            "vigil_scheduler_leader",
            "1 while this replica holds the scheduler lease and runs the jobs.",
        )
        leadership = app.leadership
        leader.add_metric([], 1 if leadership is not None and leadership.leader else 0)
        yield leader
        runs = CounterMetricFamily("vigil_job_runs", "Scheduled job runs.", labels=["job"])
        failures = CounterMetricFamily(
            "vigil_job_failures", "Scheduled job runs that failed or timed out.", labels=["job"]
        )
        duration = GaugeMetricFamily(
            "vigil_job_last_duration_seconds", "How long each job's last run took.", labels=["job"]
        )
        last = GaugeMetricFamily(
            "vigil_job_last_run_timestamp_seconds",
            "When each job last ran (Unix time).",
            labels=["job"],
        )
        for name, stats in sorted(app.scheduler.stats.items()):
            runs.add_metric([name], stats.runs)
            failures.add_metric([name], stats.failures)
            if stats.last_run is not None:
                duration.add_metric([name], stats.last_duration_s)
                last.add_metric([name], stats.last_run.timestamp())
        yield from (runs, failures, duration, last)

    def _ingestion(self) -> Iterator[Metric]:
        ingestion = self.app.ingestion
        lag = GaugeMetricFamily(
            "vigil_ingestion_lag_seconds",
            "How far behind now each source's ingested data ends.",
            labels=["source"],
        )
        up = GaugeMetricFamily(
            "vigil_ingestion_source_up", "0 while a source fails, else 1.", labels=["source"]
        )
        documents = CounterMetricFamily(
            "vigil_ingestion_documents",
            "Documents written to the knowledge store.",
            labels=["source"],
        )
        items = CounterMetricFamily(
            "vigil_ingestion_items",
            "Items read from each source (lines, spans, samples).",
            labels=["source"],
        )
        busy = CounterMetricFamily(
            "vigil_ingestion_busy_seconds", "Time spent ingesting each source.", labels=["source"]
        )
        runs = CounterMetricFamily("vigil_ingestion_runs", "Ingestion runs.", labels=["source"])
        if ingestion is not None:
            now = ingestion.now().astimezone(UTC)
            for name, health in sorted(ingestion.health.items()):
                mark = ingestion.watermarks.get(name)
                # only where it is ingested: a chat worker's or a standby's watermark is the
                # one read at start, and a lag from it would only grow
                if health.runs:
                    if mark is not None:
                        lag.add_metric([name], max(0.0, (now - mark).total_seconds()))
                    up.add_metric([name], 0 if health.down else 1)
                documents.add_metric([name], health.documents)
                items.add_metric([name], health.items)
                busy.add_metric([name], health.busy_s)
                runs.add_metric([name], health.runs)
        yield from (lag, up, documents, items, busy, runs)

    def _llm(self) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "vigil_llm_tokens",
            "LLM tokens by provider, model and kind (prompt, completion).",
            labels=["provider", "model", "kind"],
        )
        calls = CounterMetricFamily(
            "vigil_llm_requests",
            "LLM completions by provider and model.",
            labels=["provider", "model"],
        )
        cost = CounterMetricFamily(
            "vigil_llm_cost_usd",
            "What the LLM completions cost, from llm.prices in ai-config.yml.",
            labels=["provider", "model"],
        )
        llm = self.app.settings.ai.llm
        for (provider, model), usage in sorted(USAGE.snapshot().items()):
            tokens.add_metric([provider, model, "prompt"], usage.prompt_tokens)
            tokens.add_metric([provider, model, "completion"], usage.completion_tokens)
            calls.add_metric([provider, model], usage.calls)
            price = llm.price_of(model)
            if price is not None:
                usd = usage.prompt_tokens * price.input + usage.completion_tokens * price.output
                cost.add_metric([provider, model], usd / 1_000_000)
        yield from (tokens, calls, cost)

    def _alerts(self) -> Iterator[Metric]:
        book = self.app.deps.alerts
        active = GaugeMetricFamily("vigil_alerts_open", "Alerts open now.")
        if book is not None and self.app.settings.env.VIGIL_ROLE != "chat":
            # where the alerts job runs (a chat worker's copy would count them once more)
            active.add_metric([], len(book.active()))
        yield active
