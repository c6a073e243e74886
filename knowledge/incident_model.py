"""The incident summary model: ``IncidentSummary`` and its parts (``Event``, ``Question``,
``Msg``), what remembering one reports (``Remembered``), the thread's stable ``incident_id``, and
the limits the extractive and LLM paths share.

``knowledge.incidents`` re-exports these; the rules that fill a summary live in
``knowledge.incident_extract`` and ``knowledge.incident_llm``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from knowledge.documents import Document, content_id
from knowledge.errors import VigilError
from knowledge.evidence import Evidence
from knowledge.redaction import Redactor

EXTRACTIVE = "extractive"
MAX_TIMELINE = 16
MAX_ACTIONS = 12
MAX_IMPACT = 4
MAX_QUESTIONS = 8
CLIP = 160
INCIDENTS_FILE = "incidents/incidents.json"
"""Under ``VIGIL_DATA_DIR``: the incident records ``vigil dataset from-incidents`` reads."""


class IncidentError(VigilError):
    """A thread cannot be summarised, or the incidents file cannot be merged (one line)."""


class ThreadLike(Protocol):
    """One chat message: ``handlers.types.ThreadMessage`` fits (knowledge does not import it)."""

    @property
    def user(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def text(self) -> str: ...


class Event(NamedTuple):
    """A timeline entry or an action: when, who, what."""

    at: datetime
    who: str
    what: str


class Question(NamedTuple):
    text: str
    owner: str | None


@dataclass(frozen=True)
class Msg:
    """A message as the summariser reads it: redacted, in UTC."""

    user: str
    ts: datetime
    text: str


# ----------------------------------------------------------------------------- the summary
@dataclass
class IncidentSummary:
    id: str
    title: str
    services: list[str]
    hosts: list[str]
    start: datetime
    end: datetime
    impact: list[str]
    timeline: list[Event]
    root_cause: str
    actions: list[Event]
    questions: list[Question]
    participants: list[str]
    messages: int
    channel: str = ""
    root_cause_by: Event | None = None
    """Who stated the root cause in the thread, and when."""
    evidence: list[Evidence] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    provider: str = EXTRACTIVE
    notes: list[str] = field(default_factory=list)

    @property
    def duration(self) -> timedelta:
        return max(self.end - self.start, timedelta(0))

    def duration_text(self) -> str:
        return _duration(self.duration)

    def citations(self) -> list[str]:
        return [f"[{n}] {e.label}" for n, e in enumerate(self.evidence, start=1)]

    def text(self) -> str:
        """A compact narrative: what the ``incident`` document holds and retrieval embeds."""
        where = ", ".join(self.services) + (f" ({', '.join(self.hosts)})" if self.hosts else "")
        lines = [
            f"Incident on {where or 'unknown'}, {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M} UTC "
            f"({_duration(self.duration)}): {self.title}.",
            f"Root cause: {self.root_cause or 'not established'}.",
        ]
        if self.actions:
            lines.append("What fixed it: " + self.resolution() + ".")
        if self.impact:
            lines.append("Impact: " + "; ".join(self.impact) + ".")
        if self.questions:
            lines.append("Follow-ups: " + "; ".join(q.text for q in self.questions[:4]) + ".")
        return "\n".join(lines)

    def resolution(self) -> str:
        return "; ".join(f"{e.what} ({e.who}, {e.at:%H:%M})" for e in self.actions) or "unknown"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "channel": self.channel,
            "services": self.services,
            "hosts": self.hosts,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "duration_s": int(self.duration.total_seconds()),
            "impact": self.impact,
            "timeline": [_event_json(e, "what") for e in self.timeline],
            "root_cause": self.root_cause,
            "root_cause_by": _event_json(self.root_cause_by, "what")
            if self.root_cause_by
            else None,
            "evidence": [
                {"n": n, "id": e.id, "label": e.label, "kind": e.kind, "snippet": e.snippet}
                for n, e in enumerate(self.evidence, start=1)
            ],
            "actions": [_event_json(e, "action") for e in self.actions],
            "open_questions": [{"question": q.text, "owner": q.owner} for q in self.questions],
            "participants": self.participants,
            "messages": self.messages,
            "provider": self.provider,
            "notes": self.notes,
        }

    def to_document(self, redactor: Redactor) -> Document:
        """The ``incident`` document for the knowledge store (redacted; id = the summary's)."""
        redact = redactor.redact
        critical = any(re.search(r"\b(down|outage|failed|failing)\b|%", i) for i in self.impact)
        payload = json.loads(redact(json.dumps(self.to_json(), default=str)))
        return Document(
            id=self.id,
            source="incident",
            kind="incident",
            text=redact(self.text()),
            ts=self.start,
            service=self.services[0] if self.services else "",
            host=self.hosts[0] if self.hosts else "",
            severity="critical" if critical else "warning",
            title=redact(self.title),
            payload=payload,
        )

    def record_gap(self) -> str | None:
        """Why this summary would make a poor training record (``None`` when it is fit): no
        root cause, no actions, or neither numbers nor log lines."""
        if not self.root_cause:
            return "no root cause was established"
        if not self.actions:
            return "no actions were recorded"
        if not (self._metrics() or self._logs()):
            return "neither metrics nor log lines were found"
        return None

    def _metrics(self) -> list[str]:
        metrics = [*self.impact]
        return metrics + [e.snippet for e in self.evidence if e.kind == "metric_window"][:2]

    def _logs(self) -> list[str]:
        logs = [*self.log_lines]
        return logs + [e.snippet for e in self.evidence if e.kind == "log_pattern"][:3]

    def to_incident_record(self, redactor: Redactor) -> dict[str, Any]:
        """The record in ``incidents.json`` (``training.incidents`` format), redacted."""
        redact = redactor.redact
        metrics = self._metrics()
        logs = self._logs()
        context = (
            f"Summarised from a {self.messages}-message incident thread"
            + (f" in #{self.channel}" if self.channel else "")
            + f"; {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M} UTC."
        )
        return {
            "id": self.id,
            "title": redact(self.title),
            "service": ", ".join(self.services),
            "host": ", ".join(self.hosts),
            "started_at": self.start.isoformat(),
            "metrics": redact("; ".join(metrics) or "no numbers were given in the thread"),
            "logs": [redact(line) for line in logs[:10]],
            "context": redact(context),
            "root_cause": redact(self.root_cause or "not established in the thread"),
            "resolution": redact(self.resolution()),
        }


def _event_json(event: Event, key: str) -> dict[str, str]:
    return {"time": event.at.isoformat(), "who": event.who, key: event.what}


def _duration(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def incident_id(channel: str, first: ThreadLike | Msg) -> str:
    """A stable id for a thread: its channel and first message (time and author)."""
    stamp = first.ts.astimezone(UTC).isoformat()
    return "inc-" + content_id("thread", channel, stamp, first.user)[:10]


def clip(text: str, limit: int = CLIP) -> str:
    """``text`` on one line, cut to ``limit`` characters (with an ellipsis)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Remembered:
    id: str
    stored: bool
    """Upserted into the knowledge store."""
    record: str
    """What happened in incidents.json: ``added``, ``updated``, ``unchanged``, ``skipped`` (no
    records file) or ``skipped: WHY`` (not fit for training data)."""
    problem: str | None = None
    """What went wrong on the way (the store could not be written), in one line."""
