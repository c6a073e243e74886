"""An example custom source: deployments and config changes, read from a JSON-lines file that a
CI/CD pipeline appends to. "What changed before it broke?" is the first question on call.

Use it as it is, or copy it as the template of your own source. In ai-config.yml::

    sources:
      custom:
        deploys:
          class: knowledge.sources.example_deploys:DeploysSource
          every: 60s
          options:
            path: /var/log/deploys.jsonl

Each line: ``{"ts": "2026-11-21T10:05:00Z", "service": "payments", "version": "1.4.2",
"who": "ci", "what": "deploy", "note": "bump HikariCP pool to 40"}`` (only ``ts`` and
``service`` are required). A custom source is a ``Source`` subclass with a ``Config`` model (the
shared settings plus its own ``options``), ``health()`` and ``fetch(start, end)``; it returns
problems as ``Fetch.error(reason)`` and documents with ``source=kind`` (here ``custom``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from knowledge.documents import Document
from knowledge.sources.base import Fetch, Source, SourceConfig


class DeploysConfig(SourceConfig):
    path: str = ""
    """The JSON-lines file of change events."""


class DeploysSource(Source):
    kind = "custom"
    Config = DeploysConfig

    @property
    def path(self) -> Path:
        return Path(str(getattr(self.config, "path", "")))

    def configured(self) -> bool:
        return bool(getattr(self.config, "path", ""))

    def health(self) -> tuple[bool, str]:
        if not self.path.is_file():
            return False, f"{self.path} does not exist; set options.path to the deploy log"
        return True, f"reading {self.path}"

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            return Fetch.error(f"cannot read {self.path}: {exc.strerror or exc}")
        docs, skipped = [], 0
        for number, line in enumerate(lines, 1):
            event = _parse(line)
            if event is None:
                skipped += line.strip() != ""
                continue
            if start <= event["ts"] < end:
                docs.append(self._document(event, number))
        reason = f"{skipped} malformed line(s) skipped" if skipped else ""
        if not docs:
            return Fetch.no_data(end, reason)
        return Fetch("ok", docs, end, reason=reason, items=len(docs))

    def _document(self, event: dict, number: int) -> Document:
        redact = self.context.redact
        what = str(event.get("what") or "deploy")
        version = f" version {event['version']}" if event.get("version") else ""
        who = f" by {event['who']}" if event.get("who") else ""
        note = f": {event['note']}" if event.get("note") else ""
        ts: datetime = event["ts"]
        text = (
            f"{what.capitalize()} of {event['service']}{version}{who} at {ts:%H:%M} UTC on "
            f"{ts:%Y-%m-%d}{note}"
        )
        return Document(
            source=self.kind,
            kind="note",
            ts=ts,
            service=redact(str(event["service"])),
            severity="info",
            title=f"{what} {event['service']}",
            text=redact(text),
            payload={"line": number, "version": redact(str(event.get("version") or ""))},
        )


def _parse(line: str) -> dict | None:
    """The event on ``line``, or ``None`` when it is not a JSON object with ts and service."""
    try:
        event = json.loads(line)
        ts = datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(event, dict) or not event.get("service"):
        return None
    event["ts"] = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return event
