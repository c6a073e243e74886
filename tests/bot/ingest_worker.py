"""A process that ingests a day of a deterministic source into a real store, slowly, so that a
test can kill it with SIGKILL half-way and start it again.

``python -m tests.bot.ingest_worker DATA_DIR``
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from knowledge.documents import Document
from knowledge.embeddings import Embedder
from knowledge.ingest import ingest_source
from knowledge.sources.base import Fetch, Source, SourceConfig, SourceContext
from knowledge.statefile import Watermarks
from knowledge.store import KnowledgeStore
from knowledge.summarise import windows

DAY = datetime(2026, 11, 20, tzinfo=UTC)
NOW = DAY + timedelta(days=1)
CONFIG = SourceConfig(backfill=timedelta(days=1), chunk=timedelta(minutes=30), settle=timedelta(0))


class Steady(Source):
    """One note per 5-minute window; the same window always gives the same document."""

    kind = "custom"

    def health(self) -> tuple[bool, str]:
        return True, "steady"

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        time.sleep(0.02)
        docs = [
            Document(source="custom", kind="note", ts=w, service="steady", text=f"window {w:%H:%M}")
            for w in windows(start, end)
        ]
        return Fetch("ok", docs, end, items=len(docs))


def main(data_dir: Path) -> None:
    store = KnowledgeStore.open(data_dir, Embedder())
    source = Steady(CONFIG, SourceContext("steady", data_dir / "sources" / "steady", str))
    marks = Watermarks(data_dir / "watermarks.json")
    while True:
        run = ingest_source(store, source, marks, NOW, str)
        print(run.status, run.end, flush=True)
        if run.status == "idle":
            break


if __name__ == "__main__":
    main(Path(sys.argv[1]))
