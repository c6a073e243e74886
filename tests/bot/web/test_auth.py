"""With ``VIGIL_WEB_TOKEN`` set, the console wants it; without one, only its own address."""

from __future__ import annotations

import httpx

from tests.bot.web.conftest import MakeConsole

TOKEN = "0123456789abcdef-secret"


async def test_every_route_but_healthz_needs_the_token(make_console: MakeConsole) -> None:
    console = await make_console(VIGIL_WEB_TOKEN=TOKEN)
    client = console.client
    assert console.web.url == f"{console.http.url}/?token={TOKEN}"
    page = await client.get("/")
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert "?token=" in page.text and TOKEN not in page.text
    for path in ("/static/app.js", "/api/channels", "/api/events", "/api/charts/0.png"):
        response = await client.get(path)
        assert response.status_code == 401, path
        assert "needs its token" in response.json()["error"]
    posted = await client.post("/api/channels/general/messages", json={"text": "alerts"})
    assert posted.status_code == 401
    assert (await client.get("/healthz")).status_code == 200
    wrong = await client.get("/?token=" + "x" * 23)
    assert wrong.status_code == 401 and "not this console's" in wrong.text
    bearer = await client.get("/api/channels", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    wrong_bearer = await client.get("/api/channels", headers={"Authorization": "Bearer nope"})
    assert wrong_bearer.status_code == 401


async def test_the_token_in_the_page_address_sets_a_strict_cookie(
    make_console: MakeConsole,
) -> None:
    console = await make_console(VIGIL_WEB_TOKEN=TOKEN)
    entry = await console.client.get(f"/?token={TOKEN}")
    assert entry.status_code == 303 and entry.headers["location"] == "/"  # token out of the URL
    cookie = entry.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie  # derived from the token, not the token itself
    value = entry.cookies["vigil_console"]
    async with httpx.AsyncClient(
        base_url=console.http.url, cookies={"vigil_console": value}
    ) as browser:
        assert (await browser.get("/")).status_code == 200
        answer = await browser.post("/api/channels/general/messages", json={"text": "alerts"})
        assert answer.status_code == 200 and answer.json()["reply"]["user"] == "vigil"
    async with httpx.AsyncClient(
        base_url=console.http.url, cookies={"vigil_console": value[:-1] + "0"}
    ) as forged:
        assert (await forged.get("/api/channels")).status_code == 401


async def test_without_a_token_only_this_machine_s_names_are_answered(
    make_console: MakeConsole,
) -> None:
    console = await make_console()
    assert console.web.url == f"{console.http.url}/"
    for host in ("127.0.0.1", "localhost", f"localhost:{console.http.port}"):
        response = await console.client.get("/api/channels", headers={"Host": host})
        assert response.status_code == 200, host
    # a page elsewhere whose name now points at 127.0.0.1 (DNS rebinding) gets nothing
    rebound = await console.client.get("/api/channels", headers={"Host": "evil.example:8080"})
    assert rebound.status_code == 403 and "own address" in rebound.json()["error"]
    page = await console.client.get("/", headers={"Host": "evil.example"})
    assert page.status_code == 403
