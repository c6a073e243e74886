"""Evidence: what an answer may say, numbered for citations. It comes from store hits and from
live findings (the telemetry read at question time), and is the only input of the extractive
analyst and the only context an LLM gets beside the team's configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from knowledge.documents import content_id
from knowledge.findings import Finding
from knowledge.logpatterns import LogPattern, strip_prefix
from knowledge.retrieval import Hit

SNIPPET_CHARS = 240


def _window_end(hit: Hit) -> datetime:
    """The end of the latest window a hit stands for (``payload.window_end``), else its ts."""
    docs = [hit.document, *hit.related]
    ends = []
    for doc in docs:
        end = doc.payload.get("window_end")
        try:
            ends.append(datetime.fromisoformat(end) if isinstance(end, str) else doc.ts)
        except ValueError:
            ends.append(doc.ts)
    return max(ends)


@dataclass(frozen=True)
class Evidence:
    id: str
    source: str
    """The document's source, or ``live`` for telemetry read at question time."""
    kind: str
    label: str
    text: str
    ts: datetime | None
    first: datetime | None = None
    last: datetime | None = None
    score: float = 0.0
    service: str = ""
    host: str = ""
    severity: str = "info"
    title: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    merged: int = 0
    """How many near-duplicate documents this one stands for besides itself."""

    @property
    def snippet(self) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        value = self.payload.get("metrics", {})
        return value if isinstance(value, dict) else {}

    @classmethod
    def from_hit(cls, hit: Hit) -> Evidence:
        doc = hit.document
        return cls(
            id=doc.id,
            source=doc.source,
            kind=doc.kind,
            label=doc.label,
            text=doc.text,
            ts=doc.ts,
            first=hit.first,
            last=_window_end(hit),
            score=round(hit.score, 6),
            service=doc.service,
            host=doc.host,
            severity=doc.severity,
            title=doc.title,
            payload=doc.payload,
            merged=len(hit.related),
        )

    @classmethod
    def from_finding(cls, finding: Finding) -> Evidence:
        text = f"{finding.host} ({finding.service}) now: {finding.sentence()}."
        metrics = {
            finding.metric: {
                "value": finding.value,
                "peak": finding.peak,
                "normal": finding.normal,
                "limit": finding.baseline.max if finding.baseline else None,
                "breached": finding.breached,
                "unit": finding.unit,
            }
        }
        return cls(
            id="live-" + content_id(finding.host, finding.metric, finding.at.isoformat())[:16],
            source="live",
            kind="metric_window",
            label=f"live {finding.metric} on {finding.host} at {finding.at:%H:%M}",
            text=text,
            ts=finding.at,
            first=finding.since or finding.at,
            last=finding.at,
            score=abs(finding.deviation),
            service=finding.service,
            host=finding.host,
            severity=finding.severity if finding.breached else "warning",
            title=f"live {finding.host}",
            payload={"metrics": metrics},
        )


def from_log_pattern(pattern: LogPattern, redact: Callable[[str], str]) -> Evidence:
    """Live evidence from a group of warning/error lines read just now (redacted)."""
    first_line = pattern.last.message.splitlines()[0] if pattern.last.message else ""
    example = redact(strip_prefix(first_line))[:200]
    service, host = pattern.first.service, pattern.first.host
    text = (
        f"{pattern.count}x {pattern.level} on {service} ({host}) between "
        f"{pattern.first.ts:%H:%M} and {pattern.last.ts:%H:%M}, e.g. `{example}`"
    )
    return Evidence(
        id="live-" + content_id(service, pattern.template, pattern.first.ts.isoformat())[:16],
        source="live",
        kind="log_pattern",
        label=f"live logs {service}@{host} {pattern.last.ts:%H:%M}",
        text=text,
        ts=pattern.last.ts,
        first=pattern.first.ts,
        last=pattern.last.ts,
        score=float(pattern.count),
        service=service,
        host=host,
        severity="warning" if pattern.level in ("ERROR", "FATAL") else "info",
        title=f"live logs {service}",
        payload={"template": pattern.template, "count": pattern.count},
    )
