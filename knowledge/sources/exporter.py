"""Serve a ``TelemetryReader`` (the demo world) as a real Prometheus ``/metrics`` endpoint, so that
a real Prometheus can scrape the demo fleet::

    handle = serve(DemoWorld(seed=42), host="127.0.0.1", port=9108)
    ...                       # scrape http://127.0.0.1:9108/metrics
    handle.stop()

Every metric is a gauge labelled ``service`` and ``host`` (the default queries of
``PrometheusConfig`` read the demo names with those labels), with the reader's value at its own
``now()`` (the demo world's simulated time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from knowledge.sources.base import TelemetryReader

log = logging.getLogger(__name__)


class ReaderCollector(Collector):
    """A prometheus_client collector that reads ``reader`` at every scrape."""

    def __init__(self, reader: TelemetryReader, prefix: str = "") -> None:
        self.reader = reader
        self.prefix = prefix

    def _latest(self) -> dict[str, dict[tuple[str, str], float]]:
        """``metric -> (service, host) -> value`` at the reader's now."""
        at = self.reader.now()
        snapshot = getattr(self.reader, "snapshot", None)
        out: dict[str, dict[tuple[str, str], float]] = {}
        if callable(snapshot):  # the demo world: every metric of every host in one call
            for pair, values in snapshot(at).items():
                for metric, value in values.items():
                    out.setdefault(metric, {})[pair] = float(value)
            return out
        for metric in self.reader.metric_names():
            for series in self.reader.query_range(metric, at - timedelta(minutes=5), at):
                value = series.last()
                if value is not None:
                    out.setdefault(metric, {})[(series.service, series.host)] = float(value)
        return out

    def collect(self) -> Iterator[Metric]:
        try:
            latest = self._latest()
        except Exception:
            log.warning("exporter: reading the telemetry failed", exc_info=True)
            return
        for metric in self.reader.metric_names():
            unit = self.reader.unit(metric)
            family = GaugeMetricFamily(
                f"{self.prefix}{metric}",
                f"{metric}" + (f" ({unit})" if unit else ""),
                labels=["service", "host"],
            )
            for (service, host), value in sorted(latest.get(metric, {}).items()):
                family.add_metric([service, host], value)
            yield family


@dataclass
class ExporterHandle:
    """A running exporter: ``url`` is its ``/metrics`` address; ``stop()`` shuts it down."""

    server: WSGIServer
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    @property
    def target(self) -> str:
        """``host:port``, as a Prometheus scrape config names it."""
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> ExporterHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def registry_for(reader: TelemetryReader, prefix: str = "") -> CollectorRegistry:
    """A registry that holds only ``reader``'s metrics (no process or platform collectors)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReaderCollector(reader, prefix))
    return registry


def serve(
    reader: TelemetryReader, host: str = "127.0.0.1", port: int = 0, prefix: str = ""
) -> ExporterHandle:
    """Serve ``reader`` at ``http://host:port/metrics`` in a daemon thread (``port=0``: any free
    port; the handle says which)."""
    server, thread = start_http_server(port, addr=host, registry=registry_for(reader, prefix))
    return ExporterHandle(server, thread, host, int(server.server_port))
