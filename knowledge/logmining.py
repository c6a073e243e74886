"""Log lines into patterns: Drain3 template mining, per-window counts, new-pattern signals.

Shared by the Elasticsearch and log-file sources. (Being built: see issue 4.) The API below is
the contract both sources code against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from knowledge.config import StrictModel
from knowledge.documents import Document
from knowledge.sources.base import Duration, Redact


@dataclass(frozen=True, slots=True)
class LogLine:
    """One raw log line, parsed: when, what, how bad, from where. Not yet redacted."""

    ts: datetime
    message: str
    level: str = ""  # DEBUG, INFO, WARN, ERROR, FATAL or "" when unknown
    service: str = ""
    host: str = ""


class MinerConfig(StrictModel):
    """Template mining settings (``sources.<name>.mining`` in ai-config.yml)."""

    window: Duration = timedelta(minutes=5)


class LogMiner:
    """Drain3 template mining of ``LogLine`` batches into per-window pattern documents.

    ``add`` mines lines into the open windows; ``close(before)`` returns the documents of the
    windows that end at or before ``before`` (plus the stable text to embed for each);
    ``save`` persists the Drain3 state and the open windows under ``state_dir`` atomically;
    ``rollback`` forgets everything since the last ``save``.
    """

    def __init__(
        self,
        source: str,
        state_dir: Path,
        redact: Redact,
        config: MinerConfig | None = None,
    ) -> None:
        raise NotImplementedError

    def add(self, lines: Iterable[LogLine]) -> int:
        raise NotImplementedError

    def close(self, before: datetime) -> tuple[list[Document], list[str]]:
        raise NotImplementedError

    def save(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError
