"""What every data source offers: the interfaces they implement and the settings they share.

Two roles:

- ``TelemetryReader``: live reads at question and alert time (recent metric series, log lines).
  The demo world implements it; the Prometheus source implements the metric part.
- ``Source``: scheduled ingestion. ``fetch(start, end)`` turns a time range into documents and
  says how far the source is now complete (its *watermark*). Problems come back as a ``Fetch``
  with status ``error`` and a one-line reason, never as an exception: ``safe_fetch`` and
  ``safe_health`` enforce that for any source, built-in or custom.

A source that keeps state of its own (log-file offsets, Drain3 templates) changes it only in
``Fetch.commit``, which the ingestion run calls after the store has the documents. A kill -9
between the two replays the same range on restart: document ids are stable, so the store keeps
one copy, and nothing is skipped.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import BeforeValidator

from knowledge.config import AnalysisConfig, StrictModel
from knowledge.documents import Document
from knowledge.telemetry import LogRecord, MetricSeries
from knowledge.timeparse import parse_duration

log = logging.getLogger(__name__)

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A duration in config: ``30s``, ``5m``, ``1h30m``, ``2d`` or a number of seconds."""

Status = Literal["ok", "error", "no_data"]
Redact = Callable[[str], str]


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


# ----------------------------------------------------------------------------- settings


class SourceConfig(StrictModel):
    """Settings every source shares: when it runs and how far it reaches. Each source's own
    config model (next to its code) extends this one."""

    enabled: bool | None = None
    """``None`` (default): on when the source is configured (its URL set, paths given)."""
    every: Duration = timedelta(seconds=60)
    """How often the ingestion job runs."""
    timeout: Duration = timedelta(seconds=50)
    """A run that takes longer is abandoned (and counted as a failure)."""
    settle: Duration = timedelta(seconds=60)
    """Data younger than this is not fetched yet: late arrivals still land in their window."""
    chunk: Duration = timedelta(hours=1)
    """The largest range one fetch covers; a source catching up takes several runs."""
    backfill: Duration = timedelta(hours=2)
    """How far back the very first run reaches (later runs start at the watermark)."""
    max_catch_up: Duration = timedelta(days=7)
    """After a long outage, ingestion resumes at most this far back (older data stays in the
    source; ``vigil import-history`` fetches it)."""


@dataclass(frozen=True)
class SourceContext:
    """What the app hands a source when it builds it."""

    name: str
    """The instance name from config (``prometheus``, ``app-logs``, ...)."""
    state_dir: Path
    """A folder of the source's own under ``VIGIL_DATA_DIR`` for state that must survive
    restarts (offsets, templates). Created by the caller."""
    redact: Redact
    """Applied to every string that becomes document text, title or payload."""
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    """The team's baselines and domain notes (metric windows compare against them)."""


# ----------------------------------------------------------------------------- results


@dataclass
class Fetch:
    """The outcome of one ``fetch(start, end)``.

    ``watermark``: the source is complete up to here; the next fetch starts at it. Sources
    with no notion of time ranges (files) return the newest time they have fully read.
    ``None`` with status ``error`` means "no progress". ``items``: raw items read (samples, log
    lines, spans), for throughput. ``commit``: saves the source's own state; called only after
    the documents are in the store."""

    status: Status
    documents: list[Document] = field(default_factory=list)
    watermark: datetime | None = None
    reason: str = ""
    items: int = 0
    commit: Callable[[], None] | None = None
    vectors_from: list[str] | None = None
    """Optional, one per document: the text to embed instead of ``document.text`` (a log
    pattern's stable description, so that new counts in a window cost no new embedding)."""

    @classmethod
    def error(cls, reason: str) -> Fetch:
        return cls(status="error", reason=reason)

    @classmethod
    def no_data(cls, watermark: datetime | None, reason: str = "") -> Fetch:
        return cls(status="no_data", watermark=watermark, reason=reason)


# ----------------------------------------------------------------------------- the interface


class Source(ABC):
    """A source of documents for the knowledge store.

    Subclasses set ``kind`` (the ``Document.source`` their documents carry, one of
    ``knowledge.documents.SOURCES``) and ``Config`` (their settings model, a ``SourceConfig``),
    and implement ``health`` and ``fetch``. A custom source is such a class named in config by
    import path; it is built as ``cls(config, context)``.
    """

    kind: str = "custom"
    Config: type[SourceConfig] = SourceConfig

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context

    @property
    def name(self) -> str:
        return self.context.name

    def configured(self) -> bool:
        """Whether there is enough configuration to run (a URL, some paths). Sources that are
        ``enabled: null`` run only when this is true."""
        return True

    @abstractmethod
    def health(self) -> tuple[bool, str]:
        """``(True, "what was checked")`` or ``(False, "one-line reason and what to do")``."""

    @abstractmethod
    def fetch(self, start: datetime, end: datetime) -> Fetch:
        """Documents for ``[start, end)``; problems as ``Fetch.error(reason)``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def safe_health(source: Source) -> tuple[bool, str]:
    """``source.health()``, with any exception (a custom source's bug) as ``(False, reason)``."""
    try:
        ok, reason = source.health()
        return bool(ok), str(reason)
    except Exception as exc:
        log.warning("health check of source %s raised", source.name, exc_info=True)
        return False, one_line(exc)


def safe_fetch(source: Source, start: datetime, end: datetime) -> Fetch:
    """``source.fetch()``, with any exception or malformed result as an error ``Fetch``."""
    try:
        result: Any = source.fetch(start, end)
    except Exception as exc:
        log.warning("source %s raised while fetching", source.name, exc_info=True)
        return Fetch.error(one_line(exc))
    if not isinstance(result, Fetch):
        return Fetch.error(f"fetch returned {type(result).__name__}, expected a Fetch")
    if result.status not in ("ok", "error", "no_data"):
        return Fetch.error(f"fetch returned status {result.status!r}")
    if result.status == "error" and not result.reason:
        result.reason = "the source reported an error without a reason"
    bad = [d for d in result.documents if not isinstance(d, Document)]
    if bad:
        return Fetch.error(f"fetch returned a {type(bad[0]).__name__} among its documents")
    if result.vectors_from is not None and len(result.vectors_from) != len(result.documents):
        return Fetch.error("fetch returned vectors_from of a different length than documents")
    return result
