"""The one document model for everything the knowledge store holds.

A ``Document`` is a short text about one thing (a metric window of one host, a log pattern of one
service, a slow trace path, a runbook section, an incident, an alert, a line of team knowledge)
with the metadata retrieval filters on. Its id is a hash of its content, so ingesting the same
thing twice yields the same id and the store's upsert keeps one copy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, get_args

Source = Literal[
    "prometheus",
    "elasticsearch",
    "jaeger",
    "files",
    "demo",
    "runbook",
    "incident",
    "alert",
    "domain",
    "custom",
]
Kind = Literal["metric_window", "log_pattern", "trace_path", "runbook", "incident", "alert", "note"]
Severity = Literal["info", "warning", "critical"]

SOURCES: tuple[str, ...] = get_args(Source)
KINDS: tuple[str, ...] = get_args(Kind)
SEVERITIES: tuple[str, ...] = get_args(Severity)
TELEMETRY_KINDS: frozenset[str] = frozenset({"metric_window", "log_pattern", "trace_path", "alert"})
"""Kinds that describe a moment in time; time windows in a question filter these only."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def content_id(*parts: object) -> str:
    """A stable 32-hex-digit id from the parts that make a document what it is."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(str(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def text_hash(text: str) -> str:
    """The key of the embedding cache: the same text is never embedded twice."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Document:
    """One unit of knowledge. ``text`` is already redacted when a document is built by Vigil.

    ``ts`` is when the thing happened (the window's start for telemetry; the file's modification
    time for runbooks). ``payload`` holds structured details for answers (numbers, ids, links).
    ``vector`` is filled in by the store at upsert time.
    """

    source: str
    kind: str
    text: str
    ts: datetime = EPOCH
    service: str = ""
    host: str = ""
    severity: str = "info"
    title: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    vector: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r} (one of {', '.join(SOURCES)})")
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r} (one of {', '.join(KINDS)})")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r} (one of {', '.join(SEVERITIES)})")
        if self.ts.tzinfo is None:
            object.__setattr__(self, "ts", self.ts.replace(tzinfo=UTC))
        if not self.id:
            object.__setattr__(
                self,
                "id",
                content_id(self.source, self.kind, self.service, self.host, self.title, self.text),
            )

    def with_vector(self, vector: Any) -> Document:
        return replace(self, vector=tuple(float(x) for x in vector))

    @property
    def label(self) -> str:
        """A short human name for citations: ``runbook: Payments DB pool > Mitigate``."""
        where = self.host or self.service
        head = self.title or self.kind.replace("_", " ")
        if self.kind in TELEMETRY_KINDS:
            where = "" if not where or where in head else f" {where}"
            return f"{self.source} {head}{where} {self.ts:%Y-%m-%d %H:%M}"
        return f"{self.source}: {head}"

    def to_row(self) -> dict[str, Any]:
        """The store's row for this document (without the vector)."""
        return {
            "id": self.id,
            "ts": self.ts.astimezone(UTC).replace(tzinfo=None),
            "source": self.source,
            "kind": self.kind,
            "service": self.service,
            "host": self.host,
            "severity": self.severity,
            "title": self.title,
            "text": self.text,
            "payload": json.dumps(self.payload, sort_keys=True, default=str),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Document:
        ts = row["ts"]
        if hasattr(ts, "to_pydatetime"):
            ts = ts.to_pydatetime()
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        payload = row.get("payload") or "{}"
        return cls(
            id=row["id"],
            ts=ts,
            source=row["source"],
            kind=row["kind"],
            service=row.get("service") or "",
            host=row.get("host") or "",
            severity=row.get("severity") or "info",
            title=row.get("title") or "",
            text=row["text"],
            payload=json.loads(payload) if isinstance(payload, str) else dict(payload),
        )
