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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from knowledge import summarise
from knowledge.config import AnalysisConfig
from knowledge.documents import Document, content_id
from knowledge.runbooks import domain_documents, load_runbooks
from knowledge.sources.base import Fetch, Source, SourceConfig, TelemetryReader, safe_fetch
from knowledge.statefile import Watermarks
from knowledge.store import KnowledgeStore, UpsertResult, sql_in, sql_str

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
    """``doc`` with text, title and payload redacted. A content-hash id is computed afresh from
    the result; an explicit id (a log pattern's window, say) is kept."""
    explicit = doc.id != content_id(
        doc.source, doc.kind, doc.service, doc.host, doc.title, doc.text
    )
    return replace(
        doc,
        text=redact(doc.text),
        title=redact(doc.title),
        payload=_redact_value(doc.payload, redact),
        id=doc.id if explicit else "",  # "": recomputed from the redacted content
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


# ----------------------------------------------------------------------------- sources

ALIGN = timedelta(minutes=5)


@dataclass(frozen=True)
class SourceRun:
    """What one ingestion pass of one source did."""

    source: str
    status: str  # ok | error | no_data | idle (nothing due yet)
    start: datetime | None = None
    end: datetime | None = None
    watermark: datetime | None = None
    reason: str = ""
    documents: int = 0
    inserted: int = 0
    updated: int = 0
    embedded: int = 0
    items: int = 0
    seconds: float = 0.0

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0

    def lag(self, now: datetime) -> timedelta | None:
        """How far behind now the source's ingested data ends."""
        return now - self.watermark if self.watermark is not None else None

    def plus(self, later: SourceRun) -> SourceRun:
        """This run followed by ``later``, as one run (counts summed, the later status)."""
        if later.status == "idle":
            return self
        status = "ok" if later.status == "no_data" and self.status == "ok" else later.status
        return SourceRun(
            self.source,
            status,
            self.start or later.start,
            later.end or self.end,
            later.watermark or self.watermark,
            later.reason or self.reason,
            self.documents + later.documents,
            self.inserted + later.inserted,
            self.updated + later.updated,
            self.embedded + later.embedded,
            self.items + later.items,
            self.seconds + later.seconds,
        )

    def line(self) -> str:
        if self.status == "idle":
            return f"{self.source}: nothing due yet"
        if self.status == "error":
            return f"{self.source}: error: {self.reason}"
        span = f"{self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M}" if self.start and self.end else ""
        return (
            f"{self.source}: {span} {self.status}; {self.items} items read, {self.documents} "
            f"documents ({self.inserted} new, {self.updated} updated, {self.embedded} embedded); "
            f"{self.seconds:.1f}s" + (f"; {self.reason}" if self.reason else "")
        )


def align_down(when: datetime, step: timedelta = ALIGN) -> datetime:
    seconds = int(step.total_seconds())
    return datetime.fromtimestamp(int(when.timestamp()) // seconds * seconds, tz=when.tzinfo)


def plan_range(
    config: SourceConfig, watermark: datetime | None, now: datetime
) -> tuple[datetime, datetime] | None:
    """The next range to fetch: from the watermark (or ``backfill`` ago on the first run, and at
    most ``max_catch_up`` ago) to the newest settled window end, at most ``chunk`` long.
    ``None`` when no whole window is due yet."""
    target = align_down(now - config.settle)
    earliest = align_down(now - config.max_catch_up)
    start = watermark if watermark is not None else align_down(now - config.backfill)
    start = max(start, earliest)
    end = min(target, start + max(config.chunk, ALIGN))
    if end <= start:
        return None
    return start, end


def store_fetch(
    store: KnowledgeStore,
    name: str,
    fetch: Fetch,
    redact: Redact,
    start: datetime | None = None,
    end: datetime | None = None,
    began: float | None = None,
) -> SourceRun:
    """Redact and upsert the documents of ``fetch``, then let the source commit its state.
    Returns the run: counts, and ``seconds`` since ``began`` (a ``time.perf_counter()``)."""
    began = time.perf_counter() if began is None else began
    result = UpsertResult(0, 0, 0, 0)
    if fetch.documents:
        docs = [redacted(d, redact) for d in fetch.documents]
        texts = [redact(t) for t in fetch.vectors_from] if fetch.vectors_from else None
        result = store.upsert(docs, embed_texts=texts)
    if fetch.commit is not None:
        fetch.commit()
    return SourceRun(
        name,
        fetch.status,
        start,
        end,
        fetch.watermark if fetch.watermark is not None else end,
        fetch.reason,
        documents=len(fetch.documents),
        inserted=result.inserted,
        updated=result.updated,
        embedded=result.embedded,
        items=fetch.items,
        seconds=time.perf_counter() - began,
    )


def ingest_source(
    store: KnowledgeStore,
    source: Source,
    watermarks: Watermarks,
    now: datetime,
    redact: Redact,
) -> SourceRun:
    """One pass: fetch the next due range of ``source``, store its documents, let the source
    commit its own state, then move its watermark. In that order: a crash anywhere replays the
    range (stable ids: no duplicates) and never skips it (no gap).

    Store failures raise ``StoreError`` (the store is down, not the source)."""
    planned = plan_range(source.config, watermarks.get(source.name), now)
    if planned is None:
        return SourceRun(source.name, "idle", watermark=watermarks.get(source.name))
    start, end = planned
    began = time.perf_counter()
    fetch = safe_fetch(source, start, end)
    if fetch.status == "error":
        return SourceRun(
            source.name,
            "error",
            start,
            end,
            watermarks.get(source.name),
            fetch.reason,
            items=fetch.items,
            seconds=time.perf_counter() - began,
        )
    run = store_fetch(store, source.name, fetch, redact, start, end, began)
    previous = watermarks.get(source.name)
    if run.watermark is not None and (previous is None or run.watermark > previous):
        watermarks.set(source.name, run.watermark)
    run = replace(run, watermark=watermarks.get(source.name))
    log.info("ingest %s", run.line())
    return run


def ingest_range(
    store: KnowledgeStore,
    source: Source,
    start: datetime,
    end: datetime,
    redact: Redact,
    chunk: timedelta | None = None,
    on_chunk: Callable[[datetime, SourceRun], None] | None = None,
) -> SourceRun:
    """Fetch and store ``[start, end)`` of ``source`` in chunks (history import, ``vigil ingest
    --since``). Stops at the first error. ``on_chunk(chunk_end, run)`` after each stored chunk:
    the place to record progress, so that an interrupted import resumes there."""
    step = max(chunk or source.config.chunk, ALIGN)
    total = SourceRun(source.name, "no_data", start, start)
    t = start
    while t < end:
        upto = min(t + step, end)
        began = time.perf_counter()
        fetch = safe_fetch(source, t, upto)
        if fetch.status == "error":
            return total.plus(SourceRun(source.name, "error", t, upto, reason=fetch.reason))
        run = store_fetch(store, source.name, fetch, redact, t, upto, began)
        total = total.plus(run)
        if on_chunk is not None:
            on_chunk(upto, run)
        t = upto
    return total
