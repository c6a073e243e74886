"""The process's HTTP server: /healthz with what each front reports, a clear error on a taken
port."""

from __future__ import annotations

import httpx
import pytest

from bot.app import VigilApp
from bot.config import Settings
from bot.fronts import start_fronts
from bot.http import HttpServer


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
