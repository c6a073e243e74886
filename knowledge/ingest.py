"""Putting knowledge into the store: telemetry windows, runbooks and the team's domain notes.

Everything passes through the redactor here, before it is embedded or stored: document text and
payload alike. Re-ingesting the same window or the same runbooks changes nothing (content-hash
ids, idempotent upsert), and costs no embedding (content-hash cache).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from knowledge import summarise
from knowledge.config import AnalysisConfig
from knowledge.documents import Document
from knowledge.runbooks import domain_documents, load_runbooks
from knowledge.sources.base import TelemetryReader
from knowledge.store import KnowledgeStore, sql_in, sql_str

log = logging.getLogger(__name__)
Redact = Callable[[str], str]


@dataclass(frozen=True)
class IngestReport:
    source: str
    documents: int
    inserted: int
    updated: int
    embedded: int
    cached: int
    removed: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.source}: {self.documents} documents ({self.inserted} new, {self.updated} "
            f"updated, {self.removed} removed); embedded {self.embedded}, from cache "
            f"{self.cached}; {self.seconds:.1f}s"
        )


def redacted(doc: Document, redact: Redact) -> Document:
    """``doc`` with text, title and payload redacted, and its id computed from the result."""
    return replace(
        doc,
        text=redact(doc.text),
        title=redact(doc.title),
        payload=_redact_value(doc.payload, redact),
        id="",  # recomputed from the redacted content
        vector=None,
    )


def upsert(
    store: KnowledgeStore, source: str, docs: Sequence[Document], redact: Redact
) -> IngestReport:
    started = time.perf_counter()
    clean = [redacted(d, redact) for d in docs]
    result = store.upsert(clean)
    return IngestReport(
        source=source,
        documents=len(clean),
        inserted=result.inserted,
        updated=result.updated,
        embedded=result.embedded,
        cached=result.cached,
        seconds=time.perf_counter() - started,
    )


def telemetry_documents(
    reader: TelemetryReader,
    analysis: AnalysisConfig,
    start: datetime,
    end: datetime,
    redact: Redact,
    source: str = "demo",
) -> list[Document]:
    """Metric windows, log patterns and (when the reader has traces) trace paths."""
    docs = summarise.metric_documents(reader, analysis, start, end, source=source)
    docs += summarise.log_documents(reader, start, end, redact, source=source)
    traces = getattr(reader, "traces", None)
    if callable(traces):
        docs += summarise.trace_documents(traces(start, end), start, end, source=source)
    return docs


def ingest_telemetry(
    store: KnowledgeStore,
    reader: TelemetryReader,
    analysis: AnalysisConfig,
    start: datetime,
    end: datetime,
    redact: Redact,
    source: str = "demo",
) -> IngestReport:
    """Summarise ``[start, end)`` of ``reader`` into documents and upsert them."""
    started = time.perf_counter()
    docs = telemetry_documents(reader, analysis, start, end, redact, source)
    report = upsert(store, source, docs, redact)
    report = replace(report, seconds=time.perf_counter() - started)
    log.info("ingest %s %s–%s: %s", source, f"{start:%H:%M}", f"{end:%H:%M}", report.line())
    return report


def sync_runbooks(
    store: KnowledgeStore,
    folder: Path,
    redact: Redact,
    on_error: Callable[..., object] | None = None,
) -> IngestReport:
    """Load every runbook under ``folder``; sections that no longer exist in those files go."""
    folder = Path(folder).resolve()
    docs = load_runbooks(folder, redact=redact, on_error=on_error or "raise")
    docs = [replace(d, payload={**d.payload, "folder": str(folder)}) for d in docs]
    report = upsert(store, "runbook", docs, redact)
    keep = {d.id for d in docs}
    stale = [
        d.id
        for d in store.scan(f"source = {sql_str('runbook')}")
        if d.payload.get("folder") == str(folder) and d.id not in keep
    ]
    removed = store.delete(sql_in("id", stale)) if stale else 0
    return replace(report, removed=removed)


def sync_domain(store: KnowledgeStore, analysis: AnalysisConfig, redact: Redact) -> IngestReport:
    """The domain-knowledge lines and baselines of ai-config; old ones go."""
    docs = domain_documents(analysis, redact=redact)
    report = upsert(store, "domain", docs, redact)
    keep = {redacted(d, redact).id for d in docs}
    stale = [d.id for d in store.scan(f"source = {sql_str('domain')}") if d.id not in keep]
    removed = store.delete(sql_in("id", stale)) if stale else 0
    return replace(report, removed=removed)


def _redact_value(value: Any, redact: Redact) -> Any:
    """Every string inside ``value`` (a JSON-like payload) redacted, keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, redact) for v in value]
    return value
