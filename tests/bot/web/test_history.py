"""``ChatRequest.history`` in the web console: the store's thread (top message, then replies)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.web.store import ConsoleStore
from handlers.deps import Deps
from handlers.registry import Command
from handlers.types import Button, Buttons, ChatRequest, Reply, ThreadMessage
from tests.bot.web.conftest import Console, MakeConsole
from tests.bot.web.test_api import ask

Read = list[tuple[str, datetime, str]]


class Reader:
    """A ``recap`` command that reads the request's thread and says what it read."""

    def __init__(self) -> None:
        self.seen: list[Read | None] = []

    async def recap(self, req: ChatRequest, deps: Deps) -> Reply:
        if req.history is None:
            self.seen.append(None)
            return Reply("no thread")
        read = [(m.user, m.ts, m.text) for m in await req.history()]
        self.seen.append(read)
        return Reply(f"read {len(read)} messages")

    def command(self) -> Command:
        return Command("recap", "reads the thread", "recap", self.recap)


async def _console(make_console: MakeConsole) -> tuple[Console, Reader]:
    reader = Reader()
    return await make_console(extra=(reader.command(),)), reader


def _at(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["ts"].replace("Z", "+00:00"))


async def test_a_question_in_a_thread_reads_the_thread_and_one_in_the_channel_none(
    make_console: MakeConsole,
) -> None:
    console, reader = await _console(make_console)
    top = (await ask(console, "where", user="ana"))["message"]
    asked = await ask(console, "where", user="bob", thread=top["id"])
    recap = await ask(console, "recap", user="carol", thread=asked["message"]["id"])
    assert recap["reply"]["text"] == "read 4 messages"
    (read,) = reader.seen
    assert [(user, text) for user, _, text in read or []] == [
        ("ana", "where"),
        ("bob", "where"),
        ("vigil", f"platform=web user=bob channel=general thread={top['id']} roles=-"),
        ("carol", "recap"),
    ]
    stored = [top, asked["message"], asked["reply"], recap["message"]]
    # the store keeps microseconds; the JSON shows whole seconds
    assert [ts.replace(microsecond=0) for _, ts, _ in read or []] == [_at(m) for m in stored]
    assert all(ts.tzinfo is not None for _, ts, _ in read or [])

    await ask(console, "recap", user="carol")  # in the channel: no thread
    assert reader.seen[-1] is None


async def test_a_button_press_reads_the_thread_of_the_pressed_message(
    make_console: MakeConsole,
) -> None:
    console, reader = await _console(make_console)
    alert = Reply(
        "[warning] a-9 payments/payments-2: memory_leak",
        parts=(Buttons((Button("Recap", "recap"),)),),
        thread=(Reply("a-9 details"),),
    )
    await console.app.post("alerts", alert)
    (posted,) = console.web.store.messages("alerts")
    pressed = await console.client.post(
        "/api/actions", json={"message_id": posted.id, "command": "recap", "user": "ana"}
    )
    assert pressed.status_code == 200, pressed.text
    (read,) = reader.seen
    assert [(user, text) for user, _, text in read or []] == [
        ("vigil", "[warning] a-9 payments/payments-2: memory_leak"),
        ("vigil", "a-9 details"),
    ]


def test_the_store_reads_a_thread_up_to_the_cap() -> None:
    store = ConsoleStore(keep=5000, keep_thread=2000)
    top = store.add_user_message("ops", "ana", "db is slow", None)
    replies = [store.add_user_message("ops", "bob", f"r{n}", top.id) for n in range(1499)]
    store.add_user_message("ops", "bob", "   ", top.id)  # nothing to read
    read = store.thread_messages(top.id)
    assert len(read) == 1000
    assert read[0] == ThreadMessage("ana", top.ts, "db is slow")
    assert (read[1].text, read[-1].text) == ("r0", "r998")
    assert [m.text for m in store.thread_messages(top.id, limit=3)] == ["db is slow", "r0", "r1"]
    assert store.thread_messages(replies[0].id) == []  # a reply is not a thread's top
    assert store.thread_messages(99_999) == []  # no longer kept
