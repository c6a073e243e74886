"""The console as ``start_fronts`` builds it: served, a hub sink, in ``/healthz``."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.app import VigilApp
from bot.config import Settings
from bot.fronts import start_fronts
from handlers.types import Reply


async def test_start_fronts_serves_the_console_and_wires_the_hub(
    make_settings: Callable[..., Settings],
) -> None:
    app = VigilApp(make_settings(VIGIL_HTTP_PORT="0"), knowledge=False)
    fronts = await start_fronts(app, web=True)
    try:
        console = fronts.get("web")
        assert console is not None and fronts.http is not None
        assert getattr(console, "url", "") == f"{fronts.http.url}/"
        await app.post("ops", Reply("Job `alerts` recovered after 2 failed run(s)."))
        async with httpx.AsyncClient(base_url=fronts.http.url) as client:
            (notice,) = (await client.get("/api/channels/ops/messages")).json()["messages"]
            assert notice["text"].startswith("Job `alerts` recovered")
            health = (await client.get("/healthz")).json()["components"]["web"]
            assert health == {"ok": True, "url": fronts.http.url, "clients": 0, "messages": 1}
            assert (await client.get("/")).status_code == 200
    finally:
        await fronts.stop()
