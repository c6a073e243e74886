"""Typed telemetry that every source returns: metric series, log records, spans.

Sources (Prometheus, Elasticsearch, Jaeger, log files, the demo world) speak these types so that
everything downstream (summaries, the knowledge store, the anomaly model, handlers) is
source-neutral.
Timestamps are timezone-aware UTC ``datetime`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Level = Literal["DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
SpanStatus = Literal["ok", "error"]


@dataclass(frozen=True)
class MetricSeries:
    """One metric for one label set over a time range, at a fixed step."""

    metric: str
    labels: dict[str, str]
    timestamps: list[datetime]
    values: list[float]
    unit: str = ""

    @property
    def service(self) -> str:
        return self.labels.get("service", "")

    @property
    def host(self) -> str:
        return self.labels.get("host", "")

    def last(self) -> float | None:
        return self.values[-1] if self.values else None


@dataclass(frozen=True)
class LogRecord:
    """One log event. ``message`` is the raw text as the service wrote it (may span lines,
    for example a Java stack trace)."""

    ts: datetime
    service: str
    host: str
    level: Level
    message: str
    request_id: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True)
class Span:
    """One span of a distributed trace."""

    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    host: str
    operation: str
    start: datetime
    duration_ms: float
    status: SpanStatus = "ok"
    tags: dict[str, str] = field(default_factory=dict)
