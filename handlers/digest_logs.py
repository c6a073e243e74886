"""Error-pattern signals for a digest: new log templates and spikes in a period against the
history before it, from the knowledge store's ``log_pattern`` documents (either shape: one
template per document from the log miner, or a window's top patterns from the demo source) or,
without a store, from the source's log lines grouped with ``knowledge.logpatterns.group``.
Templates are compared with every digit run masked, so ``Full GC 3767M->3608M`` is one shape.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from handlers.deps import Deps
from handlers.digest_data import history_for
from knowledge.documents import Document
from knowledge.logpatterns import group
from knowledge.sources.base import TelemetryReader
from knowledge.store import KnowledgeStore, sql_ts

log = logging.getLogger(__name__)

SPIKE_FACTOR = 3.0  # a pattern's hourly rate this many times its usual one is a spike
SPIKE_MIN_COUNT = 10
SIGNAL_LEVELS = ("WARN", "ERROR", "FATAL")
MAX_PATTERN_DOCS = 20_000  # log_pattern documents read from the store per digest
LOG_PERIOD_MAX = timedelta(hours=24)  # log lines read from a source (no store) per digest
LOG_HISTORY_MAX = timedelta(hours=12)


@dataclass(frozen=True)
class PatternCount:
    """One log template's lines in one window (a store document or a grouped read)."""

    service: str
    level: str
    template: str
    count: int
    ts: datetime
    host: str = ""
    new: bool = False  # the miner had never seen it


@dataclass(frozen=True)
class PatternSignal:
    kind: Literal["new", "spike"]
    service: str
    level: str
    template: str
    count: int
    first: datetime
    host: str
    usual_per_hour: float | None = None


def store_patterns(
    store: KnowledgeStore, start: datetime, end: datetime, services: Iterable[str] = ()
) -> list[PatternCount]:
    """The ``log_pattern`` documents of ``[start, end)`` as pattern counts (both shapes: one
    template per document from the log miner, or a window's top patterns from the demo)."""
    where = f"kind = 'log_pattern' AND ts >= {sql_ts(start)} AND ts < {sql_ts(end)}"
    docs = store.scan(where, limit=MAX_PATTERN_DOCS)
    wanted = set(services)
    return [c for d in docs if not wanted or d.service in wanted for c in _counts(d)]


def _counts(doc: Document) -> list[PatternCount]:
    payload: dict[str, Any] = doc.payload
    if "template" in payload:
        return [
            PatternCount(
                doc.service,
                str(payload.get("level") or ""),
                str(payload["template"]),
                int(payload.get("count") or 0),
                doc.ts,
                doc.host,
                bool(payload.get("new")),
            )
        ]
    return [
        PatternCount(
            doc.service,
            str(p.get("level") or ""),
            str(p.get("template") or ""),
            int(p.get("count") or 0),
            doc.ts,
            doc.host,
        )
        for p in payload.get("patterns") or []
        if isinstance(p, dict) and p.get("template")
    ]


def telemetry_patterns(
    reader: TelemetryReader,
    start: datetime,
    end: datetime,
    redact: Callable[[str], str],
    services: Iterable[str] = (),
) -> list[PatternCount] | None:
    """Warning and error lines of ``[start, end)`` read from the source and grouped into
    templates (redacted before grouping), one count per (service, template); ``None`` when the
    source returned no log records at all (it may have none to give, as Prometheus)."""
    wanted = set(services)
    records = list(reader.logs(start, end))
    if not records:
        return None
    records = [r for r in records if not wanted or r.service in wanted]
    return [
        PatternCount(p.first.service, p.level, p.template, p.count, p.first.ts, p.first.host)
        for p in group(records, levels=SIGNAL_LEVELS, redact=redact)
    ]


_DIGITS = re.compile(r"(?<![A-Za-z])\d+(?:[.,]\d+)*")
_STAMP = re.compile(r"^<n>[/-]<n>[/-]<n>[ T]<n>:<n>:<n>\s+")


def normalise(template: str) -> str:
    """A template with every digit run masked too (``3767M->3608M`` is one shape) and without
    a leading date and time."""
    return _STAMP.sub("", _DIGITS.sub("<n>", template))


def pattern_signals(
    period: list[PatternCount],
    history: list[PatternCount],
    period_length: timedelta,
    history_length: timedelta,
) -> list[PatternSignal]:
    """New templates (never in the history, or marked new by the miner) and spikes (an hourly
    rate ``SPIKE_FACTOR`` times the usual one), new ones first, most lines first."""
    before: dict[tuple[str, str], int] = defaultdict(int)
    for item in history:
        before[(item.service, normalise(item.template))] += item.count
    now: dict[tuple[str, str], list[PatternCount]] = defaultdict(list)
    for item in period:
        if item.level in SIGNAL_LEVELS or item.new:
            now[(item.service, normalise(item.template))].append(item)
    hours = max(period_length.total_seconds() / 3600, 1 / 60)
    usual_hours = max(history_length.total_seconds() / 3600, 1 / 60)
    new, spikes = [], []
    for key, items in now.items():
        count = sum(i.count for i in items)
        first = min(items, key=lambda i: i.ts)
        level = max((i.level for i in items), key=lambda lv: _LEVEL_RANK.get(lv, 0))
        flagged = any(i.new for i in items)
        if flagged or (history and key not in before):
            new.append(PatternSignal("new", key[0], level, key[1], count, first.ts, first.host))
            continue
        usual = before.get(key, 0) / usual_hours
        if count >= SPIKE_MIN_COUNT and usual > 0 and count / hours >= SPIKE_FACTOR * usual:
            spikes.append(
                PatternSignal("spike", key[0], level, key[1], count, first.ts, first.host, usual)
            )
    new.sort(key=lambda s: (-_LEVEL_RANK.get(s.level, 0), -s.count))
    spikes.sort(key=lambda s: -(s.count / hours) / (s.usual_per_hour or 1))
    return new + spikes


_LEVEL_RANK = {"FATAL": 5, "ERROR": 4, "WARN": 3, "INFO": 2, "DEBUG": 1}


def signals_for(
    deps: Deps, start: datetime, end: datetime, services: tuple[str, ...]
) -> tuple[list[PatternSignal] | None, str]:
    """Error-pattern signals and where they came from: the store's ``log_pattern`` documents
    when it has some for the period or its history, else the source's log lines (the latest
    ``LOG_PERIOD_MAX`` of the period against ``LOG_HISTORY_MAX`` before it); ``None`` when
    neither can be read, or the source returned no log records for the period nor its history
    (no claim about logs that were never seen)."""
    history = history_for(end - start)
    retriever = deps.answerer.retriever
    if retriever is not None:
        try:
            now = store_patterns(retriever.store, start, end, services)
            before = store_patterns(retriever.store, start - history, start, services)
            if now or before:
                return pattern_signals(now, before, end - start, history), "the knowledge store"
        except Exception as exc:
            log.warning("digest: log patterns unreadable: %s: %s", type(exc).__name__, exc)
    if deps.telemetry is None:
        return None, ""
    start = max(start, end - LOG_PERIOD_MAX)
    history = min(history, LOG_HISTORY_MAX)
    redact = deps.redactor.redact
    try:
        now_counts = telemetry_patterns(deps.telemetry, start, end, redact, services)
        before_counts = telemetry_patterns(deps.telemetry, start - history, start, redact, services)
    except Exception as exc:
        log.warning("digest: logs unavailable: %s: %s", type(exc).__name__, exc)
        return None, ""
    if now_counts is None and before_counts is None:
        return None, ""
    signals = pattern_signals(now_counts or [], before_counts or [], end - start, history)
    return signals, "the logs"
