"""What a live telemetry source offers to handlers and jobs.

The demo world implements ``TelemetryReader``; the Prometheus, Elasticsearch and Jaeger sources
implement the parts they own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from knowledge.telemetry import LogRecord, MetricSeries


class TelemetryReader(Protocol):
    def now(self) -> datetime: ...

    def hosts(self) -> list[tuple[str, str]]: ...

    def metric_names(self) -> list[str]: ...

    def unit(self, metric: str) -> str: ...

    def query_range(
        self,
        metric: str,
        start: datetime,
        end: datetime,
        step_s: int = 60,
        service: str | None = None,
        host: str | None = None,
    ) -> list[MetricSeries]: ...

    def logs(
        self,
        start: datetime,
        end: datetime,
        service: str | None = None,
        host: str | None = None,
    ) -> list[LogRecord]: ...
