"""The demo world as a source: its metrics, logs and traces summarised into documents through
the same interface as Prometheus, Elasticsearch and Jaeger."""

from __future__ import annotations

from datetime import datetime, timedelta

from knowledge.ingest import telemetry_documents
from knowledge.sources.base import (
    Duration,
    Fetch,
    Source,
    SourceConfig,
    SourceContext,
    TelemetryReader,
)


class DemoConfig(SourceConfig):
    every: Duration = timedelta(seconds=5)
    settle: Duration = timedelta(0)
    chunk: Duration = timedelta(hours=2)


class DemoSource(Source):
    kind = "demo"
    Config = DemoConfig

    def __init__(
        self, config: SourceConfig, context: SourceContext, reader: TelemetryReader
    ) -> None:
        super().__init__(config, context)
        self.reader = reader

    def health(self) -> tuple[bool, str]:
        return True, f"demo world with {len(self.reader.hosts())} hosts"

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        docs = telemetry_documents(
            self.reader, self.context.analysis, start, end, self.context.redact, source="demo"
        )
        if not docs:
            return Fetch.no_data(end)
        return Fetch("ok", docs, end, items=len(docs))
