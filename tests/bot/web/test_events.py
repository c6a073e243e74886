"""Live updates: every new or edited message reaches every open event stream; a page that
reconnects gets what it missed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from handlers.types import Amend, Reply
from tests.bot.web.conftest import Console, alert_reply


@dataclass
class Event:
    id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Stream:
    """Reads a ``text/event-stream`` body: events, and the comments in between."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def event(self, timeout: float = 3.0) -> Event:
        return await asyncio.wait_for(self._event(), timeout)

    async def _event(self) -> Event:
        event, data = Event(), []
        async for line in self._lines:
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line.startswith("id: "):
                event.id = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif not line and data:
                event.data = json.loads("\n".join(data))
                return event
        raise EOFError("the stream ended")


@asynccontextmanager
async def stream(console: Console, last: str | None = None) -> AsyncIterator[Stream]:
    headers = {"Last-Event-ID": last} if last else {}
    async with console.client.stream("GET", "/api/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


async def test_new_and_edited_messages_reach_every_open_stream(console: Console) -> None:
    async with stream(console) as one, stream(console) as two:
        await asyncio.sleep(0.05)  # both subscribed
        assert console.web.health()["clients"] == 2
        await console.app.post("alerts", alert_reply("a-1"))
        first, same = await one.event(), await two.event()
        assert first == same and first.data["type"] == "new"
        alert = first.data["message"]
        assert alert["channel"] == "alerts" and alert["thread"][0]["text"] == "a-1 details"
        assert first.id is not None and first.id.startswith(f"{console.web.events.boot}-")
        await console.app.post("alerts", Reply("done", amends=(Amend("ok", ref="alert:a-1"),)))
        notice, edit = await one.event(), await one.event()
        assert notice.data["message"]["text"] == "done"
        assert edit.data["type"] == "edit" and edit.data["message"]["id"] == alert["id"]
        assert edit.data["message"]["status"] == ["ok"]
        assert edit.data["message"]["rev"] > alert["rev"]
        answer = await console.client.post(
            "/api/channels/alerts/messages", json={"text": "where", "thread": alert["id"]}
        )
        asked, replied = await one.event(), await one.event()
        assert asked.data["message"]["parent"] == alert["id"]
        assert replied.data["message"] == answer.json()["reply"]


async def test_a_refusal_is_not_broadcast(console: Console) -> None:
    async with stream(console) as page:
        await console.client.post("/api/channels/general/messages", json={"text": "frobnicate"})
        await console.app.post("ops", Reply("next"))
        question, following = await page.event(), await page.event()
        assert question.data["message"]["text"] == "frobnicate"
        assert following.data["message"]["text"] == "next"  # the ephemeral refusal in between


async def test_heartbeats_keep_an_idle_stream_open(console: Console) -> None:
    async with stream(console) as page:
        await asyncio.sleep(0.5)  # heartbeat is 0.2 s here
        await console.app.post("ops", Reply("hello"))
        assert (await page.event()).data["message"]["text"] == "hello"
        assert page.comments[0] == "connected" and page.comments.count("ping") >= 2


async def test_a_reconnecting_page_gets_what_it_missed(console: Console) -> None:
    async with stream(console) as page:
        await console.app.post("ops", Reply("one"))
        last = (await page.event()).id
    for text in ("two", "three"):
        await console.app.post("ops", Reply(text))
    async with stream(console, last=last) as page:
        missed = [(await page.event()).data["message"]["text"] for _ in range(2)]
        assert missed == ["two", "three"]
    async with stream(console, last="0000-7") as page:  # another process's id
        reset = await page.event()
        assert reset.data == {"type": "reset"} and reset.id is not None
    async with stream(console, last=reset.id) as page:  # resumes from there
        await console.app.post("ops", Reply("after the reset"))
        assert (await page.event()).data["message"]["text"] == "after the reset"
    async with stream(console) as page:  # a new page: only what comes next
        await console.app.post("ops", Reply("four"))
        assert (await page.event()).data["message"]["text"] == "four"


async def test_a_page_that_reconnects_too_late_gets_a_reset(console: Console) -> None:
    events = console.web.events
    async with stream(console) as page:
        await console.app.post("ops", Reply("first"))
        last = (await page.event()).id
    for i in range(1001):  # more than the event log keeps
        events.publish("new", {"id": i})
    async with stream(console, last=last) as page:
        assert (await page.event()).data == {"type": "reset"}


async def test_stopping_the_console_ends_open_streams(console: Console) -> None:
    async with stream(console) as page:
        await asyncio.sleep(0.05)
        await console.web.stop()
        try:
            await page.event(timeout=2)
            raise AssertionError("the stream should have ended")
        except EOFError:
            pass
    assert console.web.health()["clients"] == 0
    refused = await console.client.get("/api/events")
    assert refused.status_code == 503
