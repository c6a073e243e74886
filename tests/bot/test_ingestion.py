"""Scheduled ingestion: watermarks, catch-up, backoff, one notice each way, slow sources,
and a kill -9 half-way through a job."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ingestion import Ingestion
from knowledge.documents import Document
from knowledge.embeddings import Embedder
from knowledge.ingest import plan_range
from knowledge.sources.base import Fetch, Source, SourceConfig, SourceContext
from knowledge.statefile import Watermarks
from knowledge.store import KnowledgeStore
from knowledge.summarise import windows
from tests.bot import ingest_worker

NOW = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


class Scripted(Source):
    """One note per 5-minute window; can be told to fail, raise or dawdle."""

    kind = "custom"

    def __init__(self, name: str, tmp: Path, **config: object) -> None:
        settings = {"settle": "0s", "backfill": "1h", **config}
        super().__init__(
            SourceConfig.model_validate(settings), SourceContext(name, tmp / name, str)
        )
        self.calls: list[tuple[datetime, datetime]] = []
        self.down = False
        self.explode = False
        self.delay = 0.0
        self.release = threading.Event()

    def health(self) -> tuple[bool, str]:
        return (not self.down, "down" if self.down else "fine")

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        self.calls.append((start, end))
        if self.explode:
            raise KeyError("a bug in a custom source")
        if self.down:
            return Fetch.error("connection refused (is the URL right?)")
        if self.delay:
            self.release.wait(self.delay)
        docs = [
            Document(
                source="custom", kind="note", ts=w, service=self.name, text=f"{self.name} {w:%H:%M}"
            )
            for w in windows(start, end)
        ]
        return Fetch("ok", docs, end, items=len(docs) * 10)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> KnowledgeStore:
    return KnowledgeStore.open(tmp_path_factory.mktemp("kb"), embedder)


def make(
    store: KnowledgeStore, tmp_path: Path, *sources: Source, max_backoff: timedelta | None = None
) -> tuple[Ingestion, list[tuple[str, bool]], Clock]:
    notices: list[tuple[str, bool]] = []

    async def notify(text: str, error: bool) -> None:
        notices.append((text, error))

    clock = Clock(NOW)
    ingestion = Ingestion(
        store,
        sources,
        Watermarks(tmp_path / "watermarks.json"),
        str,
        now=clock,
        notify=notify,
        max_backoff=max_backoff if max_backoff is not None else timedelta(minutes=10),
    )
    return ingestion, notices, clock


def windows_in_store(store: KnowledgeStore, name: str) -> list[datetime]:
    return sorted(d.ts for d in store.scan(f"service = '{name}'"))


def test_plan_range_settles_aligns_chunks_and_caps_catch_up() -> None:
    config = SourceConfig(settle=timedelta(minutes=1), chunk=timedelta(hours=1))
    start, end = plan_range(config, None, NOW) or (None, None)
    assert (start, end) == (datetime(2026, 11, 21, 10, 0, tzinfo=UTC), start + timedelta(hours=1))
    mark = datetime(2026, 11, 21, 11, 55, tzinfo=UTC)
    assert plan_range(config, mark, NOW) is None  # 11:55-12:00 has not settled yet
    assert plan_range(config, mark, NOW + timedelta(minutes=1)) == (
        mark,
        mark + timedelta(minutes=5),
    )
    ancient = NOW - timedelta(days=30)
    start, _ = plan_range(config, ancient, NOW) or (None, None)
    assert start == datetime(2026, 11, 14, 12, 0, tzinfo=UTC)  # max_catch_up: 7 days


async def test_first_run_backfills_and_catches_up_in_one_run(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    source = Scripted("backfill", tmp_path, backfill="5h", chunk="1h")
    ingestion, notices, _ = make(store, tmp_path, source)
    run = await ingestion.run("backfill")
    assert run is not None and run.status == "ok"
    assert len(source.calls) == 5  # five chunks of an hour, in one scheduled run
    assert all(a[1] == b[0] for a, b in zip(source.calls, source.calls[1:], strict=False))
    got = windows_in_store(store, "backfill")
    assert len(got) == 60 and got[0] == datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    assert ingestion.watermarks.get("backfill") == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert run.items == 600 and run.documents == 60 and not notices
    again = await ingestion.run("backfill")
    assert again is not None and again.status == "idle" and len(source.calls) == 5
    line = ingestion.lines()[0]
    assert line.startswith("backfill: ok; lag 30s; 2 runs, 600 items") and "60 documents" in line


async def test_outage_gives_one_notice_each_way_backs_off_and_leaves_no_gap(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    source = Scripted("flaky", tmp_path, every="60s")
    ingestion, notices, clock = make(store, tmp_path, source, max_backoff=timedelta(0))
    await ingestion.run("flaky")
    source.down = True
    for minutes in range(5, 35, 5):  # six failed runs over half an hour
        clock.now = NOW + timedelta(minutes=minutes)
        run = await ingestion.run("flaky")
        assert run is not None and run.status == "error"
    assert [error for _, error in notices] == [True]
    assert "Source `flaky` is down: connection refused" in notices[0][0]
    assert "down (6 failed runs)" in ingestion.lines()[0]
    source.down = False
    clock.now = NOW + timedelta(minutes=40)
    run = await ingestion.run("flaky")
    assert run is not None and run.status == "ok"
    assert [error for _, error in notices] == [True, False]
    assert notices[1][0].startswith("Source `flaky` is back after 6 failed run(s) (35m down)")
    assert "no gap" in notices[1][0]
    got = windows_in_store(store, "flaky")
    assert got == [got[0] + timedelta(minutes=5 * i) for i in range(len(got))]  # contiguous
    assert got[-1] == datetime(2026, 11, 21, 12, 35, tzinfo=UTC)


async def test_a_failing_source_backs_off_exponentially(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    source = Scripted("backoff", tmp_path, every="60s")
    source.down = True
    ingestion, _, _ = make(store, tmp_path, source)
    await ingestion.run("backoff")
    assert await ingestion.run("backoff") is None  # within the 60 s backoff: not even tried
    assert len(source.calls) == 1
    state = ingestion.health["backoff"]
    state.retry_at = 0.0
    await ingestion.run("backoff")
    assert state.retry_at - time.monotonic() == pytest.approx(120, abs=5)  # doubled


async def test_a_bug_in_a_source_is_an_error_not_a_crash(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    source = Scripted("buggy", tmp_path)
    source.explode = True
    ingestion, notices, _ = make(store, tmp_path, source)
    run = await ingestion.run("buggy")
    assert run is not None and run.status == "error"
    assert run.reason == "KeyError: 'a bug in a custom source'"
    assert len(notices) == 1


async def test_a_slow_source_does_not_hold_up_the_others(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    slow = Scripted("slow", tmp_path, timeout="0.5s")
    slow.delay = 30
    fast = Scripted("fast", tmp_path)
    ingestion, notices, _ = make(store, tmp_path, slow, fast)
    began = time.perf_counter()
    slow_run, fast_run = await asyncio.gather(ingestion.run("slow"), ingestion.run("fast"))
    assert time.perf_counter() - began < 10
    assert fast_run is not None and fast_run.status == "ok"
    assert slow_run is not None and slow_run.status == "error"
    assert "timed out after 0.5s" in slow_run.reason
    assert [text.split(":")[0] for text, _ in notices] == ["Source `slow` is down"]
    ingestion.health["slow"].retry_at = 0.0
    assert await ingestion.run("slow") is None  # the first run is still going: no overlap
    slow.release.set()
    await ingestion.wait_idle()
    assert len(slow.calls) == 1


async def test_watermarks_survive_a_restart(store: KnowledgeStore, tmp_path: Path) -> None:
    first = Scripted("restart", tmp_path)
    ingestion, _, _ = make(store, tmp_path, first)
    await ingestion.run("restart")
    second = Scripted("restart", tmp_path)
    again, _, clock = make(store, tmp_path, second)
    clock.now = NOW + timedelta(minutes=20)
    await again.run("restart")
    assert second.calls == [
        (datetime(2026, 11, 21, 12, 0, tzinfo=UTC), datetime(2026, 11, 21, 12, 20, tzinfo=UTC))
    ]


def test_kill_9_half_way_then_restart_leaves_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    """A real process ingesting a day into a real store is killed with SIGKILL mid-run, twice;
    after a restart the store holds every window of the day exactly once."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    marks = tmp_path / "watermarks.json"
    command = [sys.executable, "-m", "tests.bot.ingest_worker", str(tmp_path)]
    for kill_after in (6, 12):  # windows of progress before the kill
        worker = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        assert worker.stdout is not None
        for _ in range(kill_after):
            assert worker.stdout.readline().startswith("ok"), "the worker stopped early"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        worker.stdout.close()
        assert worker.returncode == -signal.SIGKILL
    assert len(Watermarks(marks).all()) > 0 and not marks.with_suffix(".json.corrupt").exists()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1].startswith("idle")
    store = KnowledgeStore.open(tmp_path, Embedder())
    docs = store.scan("service = 'steady'")
    expected = list(windows(ingest_worker.DAY, ingest_worker.NOW))
    assert len(expected) == 288
    assert sorted(d.ts for d in docs) == expected  # every window, once
    assert Watermarks(marks).get("steady") == ingest_worker.NOW
