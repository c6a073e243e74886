"""The console's HTTP API: questions and replies, threads, buttons, amends, refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from handlers.deps import Deps
from handlers.registry import Command
from handlers.types import Amend, ChatRequest, Fields, Reply, Table
from tests.bot.web.conftest import PNG, Console, MakeConsole, alert_reply

JSON = {"Content-Type": "application/json"}


async def ask(console: Console, text: str, channel: str = "general", **extra: Any) -> Any:
    response = await console.client.post(
        f"/api/channels/{channel}/messages", json={"text": text, **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def history(console: Console, channel: str, after: int = 0) -> list[dict[str, Any]]:
    response = await console.client.get(f"/api/channels/{channel}/messages?after={after}")
    assert response.status_code == 200
    return list(response.json()["messages"])


async def test_the_page_and_its_assets_are_served_with_a_strict_policy(console: Console) -> None:
    page = await console.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    script = await console.client.get("/static/app.js")
    assert script.status_code == 200 and "EventSource" in script.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert (await console.client.get("/static/style.css")).status_code == 200
    assert (await console.client.get("/static/conftest.py")).status_code == 404
    assert (await console.client.get("/static/..%2Ffront.py")).status_code == 404


async def test_channels_come_from_the_config_with_their_descriptions(console: Console) -> None:
    channels = (await console.client.get("/api/channels")).json()["channels"]
    assert [c["name"] for c in channels] == ["alerts", "digest", "general", "ops"]
    assert channels[0]["description"].startswith("Anomaly and baseline alerts")


async def test_a_question_is_kept_then_answered_in_the_same_channel(console: Console) -> None:
    body = await ask(console, "alerts", user="ana")
    message, reply = body["message"], body["reply"]
    assert message["user"] == "ana" and message["text"] == "alerts" and message["parent"] is None
    assert reply["user"] == "vigil" and reply["text"] == "No alerts are firing."
    assert reply["id"] > message["id"] and not reply["ephemeral"]
    assert reply["ts"].endswith("Z") and reply["parts"][0]["type"] == "context"
    kept = await history(console, "general")
    assert [m["id"] for m in kept] == [message["id"], reply["id"]]
    assert await history(console, "general", after=message["id"]) == [kept[1]]
    assert await history(console, "ops") == []


async def test_the_request_carries_user_channel_platform_and_thread(console: Console) -> None:
    first = await ask(console, "where", channel="ops", user="ana")
    assert first["reply"]["text"] == "platform=web user=ana channel=ops thread=None roles=-"
    top = first["reply"]["id"]
    second = await ask(console, "where", channel="ops", user="bo", thread=top)
    assert second["reply"]["text"] == f"platform=web user=bo channel=ops thread={top} roles=-"
    assert second["message"]["parent"] == top and second["reply"]["parent"] == top
    # asked from a reply in a thread: the thread is still the top-level message's
    third = await ask(console, "where", channel="ops", thread=second["reply"]["id"])
    assert third["reply"]["parent"] == top
    (question, answer) = await history(console, "ops")
    assert question["thread"] == []
    assert [m["id"] for m in answer["thread"]] == [
        m[k]["id"] for m in (second, third) for k in ("message", "reply")
    ]
    assert (await ask(console, "where"))["reply"]["text"].startswith("platform=web user=you ")


async def test_a_refusal_is_only_for_the_page_that_asked(console: Console) -> None:
    body = await ask(console, "frobnicate the thing", user="ana")
    assert body["reply"]["ephemeral"] and body["reply"]["error"]
    assert "frobnicate" in body["reply"]["text"]
    kept = await history(console, "general")
    assert [m["id"] for m in kept] == [body["message"]["id"]]  # the question, not the refusal
    too_long = await ask(console, "why " * 2000, user="ana")
    assert too_long["message"] is None and too_long["reply"]["ephemeral"]
    assert "8,000 characters" in too_long["reply"]["text"]
    assert len(await history(console, "general")) == 1


async def test_a_button_press_answers_in_the_thread_and_amends_the_message(
    console: Console,
) -> None:
    await console.app.post("alerts", alert_reply("a-9"))
    (alert,) = await history(console, "alerts")
    assert alert["refs"] == ["alert:a-9"] and [m["text"] for m in alert["thread"]] == [
        "a-9 details"
    ]
    buttons = next(p for p in alert["parts"] if p["type"] == "buttons")["buttons"]
    assert buttons[0] == {"label": "Close", "command": "close a-9", "style": "danger"}
    press = {"message_id": alert["id"], "command": "where", "user": "ana"}
    reply = (await console.client.post("/api/actions", json=press)).json()["reply"]
    assert reply["text"] == f"platform=web user=ana channel=alerts thread={alert['id']} roles=-"
    assert reply["parent"] == alert["id"]
    # a button in the thread: its reply goes in the same thread
    press = {"message_id": alert["id"], "command": "close a-9", "user": "ana"}
    reply = (await console.client.post("/api/actions", json=press)).json()["reply"]
    assert reply["text"] == "a-9 closed by ana" and reply["parent"] == alert["id"]
    (alert,) = await history(console, "alerts")
    assert alert["status"] == ["Closed by ana"] and alert["closed"]
    assert [m["text"] for m in alert["thread"]][-1] == "a-9 closed by ana"
    again = await console.client.post("/api/actions", json=press)
    assert again.status_code == 409 and "closed" in again.json()["error"]


async def test_an_amend_by_ref_edits_the_earlier_message(console: Console) -> None:
    await console.app.post("alerts", alert_reply("a-3"))
    await console.app.post("alerts", alert_reply("a-4"))
    resolved = Reply(
        "Resolved: a-3", amends=(Amend("Resolved after 12m", ref="alert:a-3", close=True),)
    )
    await console.app.post("alerts", resolved)
    a3, a4, notice = await history(console, "alerts")
    assert a3["status"] == ["Resolved after 12m"] and a3["closed"]
    assert a4["status"] == [] and not a4["closed"]
    assert notice["text"] == "Resolved: a-3"
    await console.app.post("alerts", Reply("nobody", amends=(Amend("x", ref="alert:gone"),)))
    assert len(await history(console, "alerts")) == 4


async def test_charts_are_served_and_unknown_channels_still_kept(console: Console) -> None:
    await console.app.post("payments-oncall", alert_reply("a-5", png=PNG))
    channels = (await console.client.get("/api/channels")).json()["channels"]
    assert channels[-1] == {"name": "payments-oncall", "description": ""}
    (alert,) = await history(console, "payments-oncall")
    chart = next(p for p in alert["parts"] if p["type"] == "chart")
    assert chart["title"] == "a-5 chart" and chart["alt"] == "memory of a-5"
    image = await console.client.get(chart["url"])
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"].startswith("private")
    assert (await console.client.get("/api/charts/0123456789abcdef.png")).status_code == 404
    assert (await console.client.get("/api/channels/nowhere/messages")).status_code == 404


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        (b"{not json", JSON, 400, "not valid JSON"),
        (b"[1, 2]", JSON, 400, "JSON object"),
        (b'{"user": "ana"}', JSON, 400, "'text'"),
        (b'{"text": "   "}', JSON, 400, "'text'"),
        (b'{"text": "hi", "user": "' + b"x" * 41 + b'"}', JSON, 400, "'user'"),
        (b'{"text": "hi", "user": "a\\u0007b"}', JSON, 400, "'user'"),
        (b'{"text": "hi", "user": "Vigil"}', JSON, 400, "bot's name"),
        (b'{"text": "hi", "thread": "x"}', JSON, 400, "'thread'"),
        (b'{"text": "hi", "thread": 99999}', JSON, 404, "thread"),
        (b"text=hi", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "JSON"),
        (b'{"text": "hi"}', {**JSON, "Origin": "https://evil.example"}, 403, "other sites"),
        (b'{"text": "hi"}', {**JSON, "Origin": "http://127.0.0.1:1"}, 403, "other sites"),
    ],
)
async def test_a_bad_request_gets_a_json_error_never_a_traceback(
    console: Console, body: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    response = await console.client.post(
        "/api/channels/general/messages", content=body, headers=headers
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert says in error and "Traceback" not in error
    assert await history(console, "general") == []


async def test_bad_button_presses_are_refused(console: Console) -> None:
    await console.app.post("alerts", alert_reply("a-1"))
    (alert,) = await history(console, "alerts")
    cases = [
        ({"message_id": 424242, "command": "close a-1"}, 404),
        ({"message_id": "one", "command": "close a-1"}, 400),
        ({"message_id": True, "command": "close a-1"}, 400),
        ({"message_id": alert["id"], "command": "mute everything 30d"}, 400),  # not a button
        ({"message_id": alert["id"], "command": None}, 400),
    ]
    for body, status in cases:
        response = await console.client.post("/api/actions", json=body)
        assert response.status_code == status, body
        assert response.json()["error"]
    (alert,) = await history(console, "alerts")
    assert not alert["closed"] and len(alert["thread"]) == 1


async def test_the_same_origin_is_accepted(console: Console) -> None:
    response = await console.client.post(
        "/api/channels/general/messages",
        json={"text": "where"},
        headers={"Origin": console.http.url},
    )
    assert response.status_code == 200


async def test_history_and_charts_are_bounded(make_console: MakeConsole) -> None:
    console = await make_console(keep=6)
    for i in range(10):
        await console.app.post("alerts", alert_reply(f"a-{i}", png=PNG + bytes([i])))
    kept = await history(console, "alerts")
    # 6 messages per channel, thread replies included: the newest three alerts with theirs
    assert [m["text"].split()[1] for m in kept] == ["a-7", "a-8", "a-9"]
    assert len(console.web.store) == 6 and len(console.web.store.charts) == 3
    top = kept[-1]["id"]
    for i in range(8):
        await ask(console, f"where {i}", channel="alerts", thread=top)
    kept = await history(console, "alerts")
    assert [m["id"] for m in kept] == [top]  # the thread is kept, older alerts go
    assert len(kept[0]["thread"]) == 5 and len(console.web.store) == 6
    health = (await console.client.get("/healthz")).json()["components"]["web"]
    assert health == {"ok": True, "url": console.http.url, "clients": 0, "messages": 6}


async def test_fields_and_tables_are_sent_as_data(console: Console) -> None:
    await console.app.post(
        "digest",
        Reply(
            "Digest",
            parts=(
                Fields((("alerts", "3"), ("worst", "<b>payments</b>"))),
                Table(("host", "cpu"), (("a-1", "93 %"),)),
            ),
        ),
    )
    (digest,) = await history(console, "digest")
    assert digest["parts"] == [
        {"type": "fields", "items": [["alerts", "3"], ["worst", "<b>payments</b>"]]},
        {"type": "table", "columns": ["host", "cpu"], "rows": [["a-1", "93 %"]]},
    ]


async def test_stopping_lets_the_answers_under_way_finish(make_console: MakeConsole) -> None:
    running, release = asyncio.Event(), asyncio.Event()

    async def slow(req: ChatRequest, deps: Deps) -> Reply:
        running.set()
        await release.wait()
        return Reply("done at last")

    console = await make_console(extra=(Command("slow", "waits", "slow", slow),))
    asking = asyncio.create_task(
        console.client.post("/api/channels/general/messages", json={"text": "slow"})
    )
    await asyncio.wait_for(running.wait(), 5)
    stopping = asyncio.create_task(console.web.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()  # waits for the answer
    release.set()
    await asyncio.wait_for(stopping, 5)
    answer = await asyncio.wait_for(asking, 5)
    assert answer.status_code == 200 and answer.json()["reply"]["text"] == "done at last"
