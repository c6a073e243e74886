"""The process's HTTP server: /healthz with what each front reports, a clear error on a taken
port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from bot.app import VigilApp
from bot.channels import ChannelHub
from bot.chat import ChatError
from bot.config import Settings
from bot.fronts import start_fronts
from bot.http import HttpServer
from handlers.types import Reply


async def test_healthz_reports_components_and_degrades_when_one_is_not_ok() -> None:
    server = HttpServer("127.0.0.1", 0)
    state = {"ok": True}
    server.checks["slack"] = lambda: {"ok": state["ok"], "mode": "http"}

    def broken() -> dict[str, object]:
        raise RuntimeError("gateway gone")

    await server.start()
    try:
        assert server.port and server.url == f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=server.url) as client:
            ok = await client.get("/healthz")
            assert ok.status_code == 200
            assert ok.json() == {
                "status": "ok",
                "components": {"slack": {"ok": True, "mode": "http"}},
            }
            state["ok"] = False
            assert (await client.get("/healthz")).status_code == 503
            server.checks["discord"] = broken
            body = (await client.get("/healthz")).json()
            assert body["status"] == "degraded"
            assert body["components"]["discord"] == {
                "ok": False,
                "error": "RuntimeError: gateway gone",
            }
    finally:
        await server.stop()


async def test_a_taken_port_is_one_clear_error() -> None:
    first = HttpServer("127.0.0.1", 0)
    await first.start()
    try:
        second = HttpServer("127.0.0.1", first.port or 0)
        with pytest.raises(OSError) as err:
            await second.start()
        assert f"cannot listen on 127.0.0.1:{first.port}" in str(err.value.strerror)
        assert "VIGIL_HTTP_PORT" in str(err.value.strerror)
    finally:
        await first.stop()


async def test_without_chat_platforms_or_console_nothing_listens(settings: Settings) -> None:
    app = VigilApp(settings, knowledge=False)
    fronts = await start_fronts(app, web=False)
    assert fronts.http is None and fronts.fronts == []
    await fronts.stop()


async def test_the_web_console_never_opens_on_a_network_without_its_token(
    make_settings: Callable[..., Settings],
) -> None:
    # the console is off by config, but the demo forces it on: it must still refuse
    settings = make_settings(
        VIGIL_HTTP_HOST="0.0.0.0", VIGIL_WEB_CONSOLE="off", VIGIL_HTTP_PORT="0"
    )
    app = VigilApp(settings, knowledge=False)
    with pytest.raises(ChatError) as err:
        await start_fronts(app, web=True)
    assert "needs VIGIL_WEB_TOKEN" in str(err.value)


async def test_the_demo_leaves_slack_and_discord_out(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        SLACK_BOT_TOKEN="xoxb-real-workspace", DISCORD_TOKEN="real", VIGIL_HTTP_PORT="0"
    )
    app = VigilApp(settings, knowledge=False)
    fronts = await start_fronts(app, web=True, platforms=False)  # what the demo asks
    try:
        assert [f.platform for f in fronts.fronts] == ["web"]
    finally:
        await fronts.stop()


def test_an_ipv6_address_is_bracketed_in_urls() -> None:
    assert HttpServer("::1", 8080).url == "http://[::1]:8080"
    assert HttpServer("0.0.0.0", 8080).url == "http://127.0.0.1:8080"


async def test_a_slow_sink_holds_up_no_other() -> None:
    hub = ChannelHub()
    seen: list[str] = []
    release = asyncio.Event()

    async def slow(channel: str, reply: Reply) -> None:
        await release.wait()  # Slack waiting out a 429

    async def fast(channel: str, reply: Reply) -> None:
        seen.append(reply.text)

    hub.add_sink(slow)
    hub.add_sink(fast)
    posting = asyncio.create_task(hub.post("alerts", Reply("a-1 fired")))
    await asyncio.sleep(0.05)
    assert seen == ["a-1 fired"] and not posting.done()
    release.set()
    await posting
