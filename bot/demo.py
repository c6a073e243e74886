"""``vigil demo``: the demo world, the scheduler and chat, on embedded defaults.

Channel messages print as ``[#channel] text``; on a terminal a prompt takes commands. The demo
world's ground truth is written to ``VIGIL_DATA_DIR/demo_incidents.jsonl`` as incidents begin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TextIO

from bot.app import VigilApp
from bot.channels import console_sink
from bot.config import Settings
from bot.console import repl
from bot.fronts import Fronts, start_fronts
from bot.knowledge import make_redactor
from handlers.types import Reply
from knowledge.demo import DemoWorld
from knowledge.sources.base import SourceContext
from knowledge.sources.demo import DemoConfig, DemoSource
from knowledge.statefile import Watermarks

log = logging.getLogger(__name__)

GROUND_TRUTH_FILE = "demo_incidents.jsonl"


def demo_source(settings: Settings, world: DemoWorld) -> DemoSource:
    """The demo world as the one ingestion source of the demo."""
    context = SourceContext(
        name="demo",
        state_dir=Path(settings.data_dir) / "sources" / "demo",
        redact=make_redactor(settings).redact,
        analysis=settings.ai.analysis,
    )
    return DemoSource(DemoConfig(), context, world)


def build_world(settings: Settings) -> DemoWorld:
    demo = settings.ai.demo
    return DemoWorld(seed=demo.seed, start=demo.start, speed=demo.speed)


async def run_demo(
    settings: Settings,
    duration: float | None = None,
    web: bool = True,
    interactive: bool | None = None,
    stdout: TextIO | None = None,
) -> int:
    stdout = stdout or sys.stdout
    interactive = sys.stdin.isatty() if interactive is None else interactive
    world = build_world(settings)
    schedules = {**settings.ai.schedules, **settings.ai.demo.schedules}
    app = VigilApp(
        settings,
        telemetry=world,
        schedules=schedules,
        instance="demo",
        sources=[demo_source(settings, world)],
        watermarks=Watermarks(None),  # the demo world starts afresh each run
    )
    app.hub.add_sink(console_sink(stdout))

    truth = Path(settings.data_dir) / GROUND_TRUTH_FILE
    truth.parent.mkdir(parents=True, exist_ok=True)
    truth.unlink(missing_ok=True)  # the file describes this run of the demo world

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    fronts = await _start_fronts(app, web)
    console = fronts.get("web")
    if console is not None:  # serving already, while the first model trains
        stdout.write(f"Web console: {getattr(console, 'url', '')}\n")
        stdout.flush()
    if fronts.http is not None:
        app.serve_operations(fronts.http)
    try:
        await app.start(wait_for_model=True)
    except BaseException:
        await fronts.stop()
        raise
    if fronts.http is not None:
        fronts.http.ready = True
    exporter = None
    if settings.ai.demo.exporter_port is not None:
        from knowledge.sources.exporter import serve

        exporter = serve(world, settings.ai.demo.exporter_host, settings.ai.demo.exporter_port)
        log.info("the demo fleet is served for Prometheus to scrape at %s", exporter.url)
    services = len(world.services)
    hosts = len(world.hosts())
    await app.post(
        settings.channels.route("answers"),
        Reply(
            f"Vigil demo: watching {hosts} hosts across {services} services (seed {world.seed}, "
            f"{world.clock.speed:g}x time, simulated start {world.start:%Y-%m-%d %H:%M} UTC). "
            "Try `status`, `ask why is payments slow?` or `help`."
        ),
    )
    tasks = [asyncio.create_task(_write_truth(world, truth, stop))]
    if interactive:
        tasks.append(asyncio.create_task(_chat(app, stop, stdout)))
    try:
        if duration is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        else:
            await stop.wait()
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await fronts.stop()
        await app.stop()
        if exporter is not None:
            exporter.stop()
        world.write_ground_truth(truth)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    incidents = len(truth.read_text().splitlines()) if truth.exists() else 0
    stdout.write(f"Demo stopped. {incidents} incident(s) of ground truth in {truth}.\n")
    stdout.flush()
    return 0


async def _start_fronts(app: VigilApp, web: bool) -> Fronts:
    """The web console (unless ``--no-web``), never Slack or Discord: the demo's incidents are
    made up and must not reach a real workspace. When ``VIGIL_HTTP_PORT`` is taken, the console
    moves to a free port rather than failing."""
    try:
        return await start_fronts(app, web=web, platforms=False)
    except OSError as exc:
        if not web:
            raise
        log.warning("%s; the web console takes a free port instead", exc.strerror or exc)
        return await start_fronts(app, web=web, port=0, platforms=False)


async def _write_truth(world: DemoWorld, path: Path, stop: asyncio.Event) -> None:
    """Append each incident to the ground truth as it begins (the file is only touched then)."""
    written = -1
    while not stop.is_set():
        started = len(world.incidents(end=world.now()))
        if started != written:
            await asyncio.to_thread(world.write_ground_truth, path)
            written = started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _chat(app: VigilApp, stop: asyncio.Event, stdout: TextIO) -> None:
    await repl(app.handle, stdout=stdout)
    stop.set()
