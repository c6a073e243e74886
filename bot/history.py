"""``vigil import-history``: older data into the knowledge store (the origin's phase 2), from a
Prometheus server over a date range, from OpenMetrics files, or from log files and folders.

Imports are resumable: progress is recorded under ``VIGIL_DATA_DIR/imports/`` after every
stored chunk, and running the same import again continues where it stopped (``--restart``
starts over). An import never moves the live ingestion watermarks.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from knowledge.documents import content_id
from knowledge.ingest import SourceRun, ingest_range
from knowledge.sources.base import Redact, Source, SourceContext
from knowledge.statefile import read_json, write_json_atomic
from knowledge.store import KnowledgeStore
from knowledge.timeparse import parse_duration

IMPORTS_DIR = "imports"
Advance = Callable[[datetime, SourceRun], None]


def parse_when(value: str, now: datetime) -> datetime:
    """``2026-11-01``, ``2026-11-01T06:00``, ``2026-11-01 06:00:00+01:00`` or a duration ago
    (``7d``); raises ``ValueError`` with the accepted forms."""
    text = value.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            return now - parse_duration(text)
        except ValueError:
            raise ValueError(
                f"{value!r}: expected a date (2026-11-01), a time (2026-11-01T06:00) or a "
                "duration ago (7d)"
            ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class ImportJob:
    """One resumable import: what it covers and how far it got."""

    state_dir: Path
    start: datetime
    end: datetime

    @classmethod
    def open(
        cls, data_dir: Path, what: str, start: datetime, end: datetime, restart: bool
    ) -> ImportJob:
        key = content_id(what, start.isoformat(), end.isoformat())[:16]
        job = cls(Path(data_dir) / IMPORTS_DIR / key, start, end)
        if restart and job.state_dir.exists():
            shutil.rmtree(job.state_dir)  # progress and any source state of this import
        job.state_dir.mkdir(parents=True, exist_ok=True)
        if not job.progress_file.exists():
            write_json_atomic(job.progress_file, {"what": what, "done_until": None})
        return job

    @property
    def progress_file(self) -> Path:
        return self.state_dir / "progress.json"

    def done_until(self) -> datetime | None:
        value = read_json(self.progress_file, {}).get("done_until")
        return datetime.fromisoformat(value) if value else None

    def record(self, upto: datetime) -> None:
        data = read_json(self.progress_file, {})
        write_json_atomic(self.progress_file, {**data, "done_until": upto.isoformat()})

    def resume_from(self) -> datetime:
        done = self.done_until()
        return max(self.start, done) if done else self.start

    def context(self, name: str, redact: Redact, analysis: object) -> SourceContext:
        folder = self.state_dir / "source"
        folder.mkdir(parents=True, exist_ok=True)
        return SourceContext(name=name, state_dir=folder, redact=redact, analysis=analysis)  # type: ignore[arg-type]


def chunks(start: datetime, end: datetime, chunk: timedelta) -> int:
    return max(0, -(-int((end - start).total_seconds()) // int(chunk.total_seconds())))


def run_range_import(
    store: KnowledgeStore,
    source: Source,
    job: ImportJob,
    redact: Redact,
    chunk: timedelta,
    advance: Advance | None = None,
) -> SourceRun:
    """Import ``job``'s range from ``source`` in chunks, recording progress after each."""

    def on_chunk(upto: datetime, run: SourceRun) -> None:
        job.record(upto)
        if advance is not None:
            advance(upto, run)

    return ingest_range(
        store, source, job.resume_from(), job.end, redact, chunk=chunk, on_chunk=on_chunk
    )
