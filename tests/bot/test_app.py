"""The composition root: chat goes through the router, notices reach the console channel."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from bot.app import VigilApp
from bot.channels import console_sink
from bot.config import Settings
from bot.demo import demo_source, run_demo
from bot.jobs import job_table
from bot.scheduler import JobStats
from knowledge.demo import DemoWorld
from knowledge.demo.world import SimClock
from knowledge.embeddings import Embedder
from knowledge.statefile import Watermarks
from tests.servers.prometheus import free_port


async def test_job_failure_and_recovery_notices_reach_the_ops_console(settings: Settings) -> None:
    app = VigilApp(settings)
    out = io.StringIO()
    app.hub.add_sink(console_sink(out))
    await app._job_failed("alerts", JobStats(last_error="RuntimeError: boom"))
    await app._job_recovered("alerts", JobStats(consecutive_failures=3))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[#ops] Job `alerts` failed: RuntimeError: boom.")
    assert lines[1] == "[#ops] Job `alerts` recovered after 3 failed run(s)."


async def test_a_failing_sink_does_not_stop_the_others(settings: Settings) -> None:
    app = VigilApp(settings)

    async def broken(channel: str, reply: object) -> None:
        raise ConnectionError("slack is down")

    out = io.StringIO()
    app.hub.add_sink(broken)
    app.hub.add_sink(console_sink(out))
    await app.post("alerts", (await app.handle("help")))
    assert out.getvalue().startswith("[#alerts] Vigil answers from your own metrics")
    assert len(app.hub.history) == 1


async def test_chat_goes_through_the_router(settings: Settings) -> None:
    reply = await VigilApp(settings).handle("stauts")
    assert "Did you mean `status`?" in reply.text


async def test_the_ingest_job_feeds_chat_answers_from_the_store(
    settings: Settings, embedder: Embedder, promoted_model: Path
) -> None:
    world = DemoWorld(seed=42, start=datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    incident = next(i for i in world.incidents() if i.type == "gc_pressure")
    world.clock = SimClock(incident.end + timedelta(minutes=10), speed=0)
    source = demo_source(settings, world)
    # not due while the test drives it (loading the runbooks may take longer than 5 s)
    source.config = source.config.model_copy(update={"every": timedelta(hours=1)})
    app = VigilApp(
        settings,
        telemetry=world,
        sources=[source],
        watermarks=Watermarks(settings.data_dir / "watermarks.json"),
    )
    assert "ingest:demo" in app.scheduler.schedules  # one job per source, on its own interval
    assert app.scheduler.schedules["ingest:demo"].every == timedelta(hours=1)
    await app.start()
    try:
        if app._sync_task is not None:
            await app._sync_task  # runbooks and notes load in the background at start
        jobs = job_table(app)
        await jobs["ingest"]({"source": "demo"})
        mark = app.ingestion.watermarks.get("demo") if app.ingestion else None
        assert mark is not None and world.now() - timedelta(minutes=5) <= mark <= world.now()
        count = app.store.count() if app.store else 0
        await jobs["ingest"]({"source": "demo"})  # nothing new: no range due, nothing re-ingested
        assert app.ingestion is not None and app.ingestion.watermarks.get("demo") == mark
        assert app.store is not None and app.store.count() == count
        status = await app.handle("status")
        ingestion = next(p.text for p in status.parts if getattr(p, "title", "") == "Ingestion")
        assert ingestion.startswith("- demo: ok; lag ") and "2 runs" in ingestion
        assert app.store is not None and app.store.count("source = 'demo'") > 10
        a = incident.start + timedelta(minutes=5)
        b = incident.start + timedelta(minutes=20)
        reply = await app.handle(f"why was payments slow between {a:%H:%M} and {b:%H:%M}?")
    finally:
        await app.stop()
    assert incident.host in reply.text
    sources = next(p.text for p in reply.parts if getattr(p, "text", "").startswith("Sources:"))
    assert "demo metrics" in sources and "runbook" in sources
    assert app.store.count("source = 'runbook'") > 20  # loaded at start


async def test_a_broken_store_is_reported_in_ops_and_chat_still_answers(
    settings: Settings,
) -> None:
    store_dir = settings.data_dir / "lancedb"
    store_dir.mkdir(parents=True)
    (store_dir / "documents.lance").mkdir()
    (store_dir / "documents.lance" / "_versions").mkdir()
    (store_dir / "documents.lance" / "_versions" / "1.manifest").write_bytes(b"garbage")
    app = VigilApp(settings)
    out = io.StringIO()
    app.hub.add_sink(console_sink(out))
    await app.start()
    await app.stop()
    assert app.store is None
    assert "[#ops] I can't read the knowledge store right now" in out.getvalue()
    reply = await app.handle("help")
    assert not reply.error and "ask" in reply.text + str(reply.parts)


async def test_the_demo_serves_its_fleet_for_a_real_prometheus_to_scrape(
    make_settings: Callable[..., Settings],
    config_dir: Path,
    embedder: Embedder,
    promoted_model: Path,
) -> None:
    port = free_port()
    path = config_dir / "ai-config.yml"
    config = yaml.safe_load(path.read_text())
    config["demo"].update(exporter_port=port, schedules={})
    path.write_text(yaml.safe_dump(config))
    settings = make_settings()
    demo = asyncio.create_task(
        run_demo(settings, duration=6, web=False, interactive=False, stdout=io.StringIO())
    )
    body = ""
    async with httpx.AsyncClient() as client:
        for _ in range(50):
            try:
                body = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    assert await demo == 0
    assert 'latency_p95_ms{host="payments-1",service="payments"}' in body
    with pytest.raises(httpx.TransportError):  # stopped with the demo
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
