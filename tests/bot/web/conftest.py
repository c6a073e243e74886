"""A real ``VigilApp`` (no knowledge store: fast) with the web console on a real ``HttpServer``
on an ephemeral port, and an httpx client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from bot.app import VigilApp
from bot.config import Settings
from bot.http import HttpServer
from bot.web.front import WebConsole
from handlers.deps import Deps
from handlers.registry import Command, Registry, default_registry
from handlers.types import Amend, Button, Buttons, Chart, ChatRequest, Context, Reply, Section

PNG = bytes.fromhex(  # a 1x1 PNG
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f7a1"
    "6b0000000049454e44ae426082"
)


async def _where(req: ChatRequest, deps: Deps) -> Reply:
    """Says what the front put in the request."""
    return Reply(
        f"platform={req.platform} user={req.user} channel={req.channel} "
        f"thread={req.thread_id} roles={','.join(req.roles) or '-'}"
    )


async def _close(req: ChatRequest, deps: Deps) -> Reply:
    """What a resolve button's command answers: a reply, and an amend of the pressed message."""
    return Reply(
        f"{req.args} closed by {req.user}", amends=(Amend(f"Closed by {req.user}", close=True),)
    )


def alert_reply(name: str = "a-9", png: bytes = PNG) -> Reply:
    """An alert-like message: a chart, buttons, a ref, a thread reply."""
    return Reply(
        f"[warning] {name} payments/payments-2: memory_leak",
        parts=(
            Section("memory_usage is **high**"),
            Chart(png, f"{name} chart", alt=f"memory of {name}"),
            Buttons((Button("Close", f"close {name}", "danger"), Button("Where", "where"))),
            Context(f"{name} · details in thread"),
        ),
        thread=(Reply(f"{name} details"),),
        refs=(f"alert:{name}",),
    )


def registry(*extra: Command) -> Registry:
    """Vigil's commands, plus ``where`` and ``close`` (and ``extra``) for the tests."""
    commands = default_registry()
    commands.add(Command("where", "what the front filled in", "where", _where))
    commands.add(Command("close", "closes the pressed message", "close X", _close, mutates=True))
    for command in extra:
        commands.add(command)
    return commands


@dataclass
class Console:
    app: VigilApp
    http: HttpServer
    web: WebConsole
    client: httpx.AsyncClient


MakeConsole = Callable[..., Awaitable[Console]]


@pytest.fixture
async def make_console(make_settings: Callable[..., Settings]) -> AsyncIterator[MakeConsole]:
    made: list[Console] = []

    async def make(
        keep: int = 500, heartbeat: float = 15.0, extra: tuple[Command, ...] = (), **env: str
    ) -> Console:
        app = VigilApp(make_settings(**env), knowledge=False, registry=registry(*extra))
        http = HttpServer("127.0.0.1", 0)
        web = WebConsole(app, http, keep=keep, heartbeat=heartbeat)
        await http.start()
        await web.start()
        app.hub.add_sink(web.post)
        http.checks["web"] = web.health
        client = httpx.AsyncClient(base_url=http.url, timeout=5.0)
        made.append(Console(app, http, web, client))
        return made[-1]

    yield make
    for console in made:
        await console.client.aclose()
        await console.web.stop()
        await console.http.stop()


@pytest.fixture
async def console(make_console: MakeConsole) -> Console:
    return await make_console(heartbeat=0.2)
