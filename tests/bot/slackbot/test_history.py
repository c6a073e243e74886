"""``ChatRequest.history`` on Slack: the thread a request was made in, read lazily through
``conversations.replies`` (paged, capped, failure-safe)."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slackbot.history import MAX_MESSAGES, slack_time, thread_loader
from handlers.deps import Deps
from handlers.registry import Command, Registry
from handlers.types import ChatRequest, Reply, ThreadMessage
from tests.bot.slackbot.conftest import BOT_TOKEN, SlackWorld, alert_reply
from tests.standins import slack_api
from tests.standins.slack_api import BOT_ID, BOT_USER, SlackStandIn, message_event

PARENT = "1700000000.000100"


@dataclass
class Reader:
    """Commands that read the request's thread: (request, what ``history`` returned or None)."""

    seen: list[tuple[ChatRequest, list[ThreadMessage] | None]] = field(default_factory=list)

    async def _read(self, req: ChatRequest, deps: Deps) -> Reply:
        messages = await req.history() if req.history is not None else None
        self.seen.append((req, messages))
        return Reply(f"read {len(messages or [])} messages")

    def registry(self) -> Registry:
        return Registry(
            [
                Command("summarize", "reads the thread", "summarize", self._read),
                Command("ack", "reads the thread too", "ack ID", self._read, mutates=True),
            ]
        )


@pytest.fixture
async def reading(world_factory: Callable[..., Any]) -> Any:
    reader = Reader()
    async with world_factory(registry=reader.registry()) as world:
        yield world, reader


def _at(ts: str) -> datetime:
    seconds, _, micros = ts.partition(".")
    return datetime.fromtimestamp(int(seconds), UTC).replace(microsecond=int(micros))


async def _asked(world: SlackWorld, reader: Reader, count: int = 1) -> None:
    await world.slack.until(lambda: len(reader.seen) >= count, what="the command")


async def test_a_mention_in_a_thread_reads_the_thread_in_order(reading: Any) -> None:
    world, reader = reading
    world.slack.seed_thread(
        "C0GENERAL",
        [
            {"ts": PARENT, "user": "W1", "text": "checkout is failing &gt; 5% errors"},
            {"ts": "1700000060.000200", "thread_ts": PARENT, "user": "W2", "text": "on it"},
            {
                "ts": "1700000090.000300",
                "thread_ts": PARENT,
                "user": BOT_USER,
                "bot_id": BOT_ID,
                "text": "[critical] checkout: error_spike",
            },
            {"ts": "1700000100.000400", "thread_ts": PARENT, "user": "W3", "text": ""},  # a file
            {
                "ts": "1700000120.000500",
                "thread_ts": PARENT,
                "bot_id": "B0OTHER",
                "text": "deploy bot: rolled back <https://ci/x|build 42> in <#C0OPS|ops>",
            },
            {
                "ts": "1700000180.000600",
                "thread_ts": PARENT,
                "user": "W1",
                "text": f"<@{BOT_USER}> summarize",
            },
        ],
    )
    mention = message_event(
        f"<@{BOT_USER}> summarize",
        channel="C0GENERAL",
        ts="1700000180.000600",
        thread_ts=PARENT,
        kind="app_mention",
        user="W1",
    )
    assert await world.event(mention) == 200
    await _asked(world, reader)
    ((req, messages),) = reader.seen
    assert req.thread_id == PARENT
    assert messages == [
        ThreadMessage("W1", _at(PARENT), "checkout is failing > 5% errors"),
        ThreadMessage("W2", _at("1700000060.000200"), "on it"),
        ThreadMessage("vigil", _at("1700000090.000300"), "[critical] checkout: error_spike"),
        ThreadMessage(
            "B0OTHER",
            _at("1700000120.000500"),
            "deploy bot: rolled back build 42 (https://ci/x) in #ops",
        ),
        ThreadMessage("W1", _at("1700000180.000600"), f"<@{BOT_USER}> summarize"),
    ]
    assert messages[0].ts == datetime(2023, 11, 14, 22, 13, 20, 100, tzinfo=UTC)
    (call,) = world.slack.called("conversations.replies")
    assert call.params["channel"] == "C0GENERAL" and call.params["ts"] == PARENT
    assert call.params["limit"] == "200"


async def test_a_follow_up_in_the_thread_gets_history_and_requests_elsewhere_get_none(
    reading: Any,
) -> None:
    world, reader = reading
    now = int(time.time())  # the stand-in stamps Vigil's answers with the time they are posted
    top, later = f"{now - 100}.000001", f"{now + 5}.000009"
    world.slack.seed_thread("C0OPS", [{"ts": top, "user": "W1", "text": "db slow"}])
    # a mention outside a thread: the answer starts a thread, but the request was in none
    await world.event(
        message_event(f"<@{BOT_USER}> summarize", channel="C0OPS", ts=top, kind="app_mention")
    )
    await _asked(world, reader)
    assert reader.seen[0][1] is None and not world.slack.called("conversations.replies")
    # a follow-up in that thread, now known: the thread, Vigil's answer included
    await world.slack.until(lambda: world.slack.called("chat.postMessage"), what="the answer")
    world.slack.seed_thread(
        "C0OPS", [{"ts": later, "thread_ts": top, "user": "W2", "text": "summarize"}]
    )
    await world.event(
        message_event("summarize", channel="C0OPS", ts=later, thread_ts=top, user="W2")
    )
    await _asked(world, reader, 2)
    assert [(m.user, m.text) for m in reader.seen[1][1] or []] == [
        ("W1", "db slow"),
        ("vigil", "read 0 messages"),
        ("W2", "summarize"),
    ]
    # a slash command (Slack sends none from threads) and a direct message outside a thread
    await world.slash("summarize", channel_id="C0OPS")
    await world.event(
        message_event("summarize", channel="D0DIRECT", ts="6.000001", channel_type="im")
    )
    await _asked(world, reader, 4)
    assert [history for _, history in reader.seen[2:]] == [None, None]
    assert len(world.slack.called("conversations.replies")) == 1  # lazy: only when called


async def test_long_threads_are_read_page_by_page_up_to_the_cap(
    reading: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world, reader = reading
    thread = [{"ts": "7.000000", "user": "W1", "text": "message 0"}] + [
        {"ts": f"7.{n:06d}", "thread_ts": "7.000000", "user": f"W{n % 3}", "text": f"message {n}"}
        for n in range(1, 450)
    ]
    world.slack.seed_thread("C0OPS", thread)
    world.slack.throttle("conversations.replies")  # a 429 on the first page is waited out
    await world.event(
        message_event("summarize", channel="C0OPS", ts="7.000449", thread_ts="7.000000"),
    )
    # not a thread Vigil was mentioned in: ignored; a mention in it is answered
    await world.event(
        message_event(
            f"<@{BOT_USER}> summarize",
            channel="C0OPS",
            ts="7.000449",
            thread_ts="7.000000",
            kind="app_mention",
        )
    )
    await _asked(world, reader)
    messages = reader.seen[0][1] or []
    assert [m.text for m in messages] == [f"message {n}" for n in range(450)]
    assert all(a.ts < b.ts for a, b in itertools.pairwise(messages))
    cursors = [c.params.get("cursor") for c in world.slack.called("conversations.replies")]
    assert cursors == [None, "next_ts:200", "next_ts:400"]

    # 1,050 messages: the first 1,000 are read, and the log says the rest was left out
    world.slack.seed_thread(
        "C0GENERAL",
        [
            {"ts": f"8.{n:06d}", "thread_ts": "8.000000", "user": "W1", "text": f"m{n}"}
            for n in range(1050)
        ],
    )
    with caplog.at_level(logging.INFO, logger="bot.slackbot.history"):
        await world.event(
            message_event(
                f"<@{BOT_USER}> summarize",
                channel="C0GENERAL",
                ts="8.001049",
                thread_ts="8.000000",
                kind="app_mention",
            )
        )
        await _asked(world, reader, 2)
    capped = reader.seen[1][1] or []
    assert len(capped) == MAX_MESSAGES == 1000
    assert (capped[0].text, capped[-1].text) == ("m0", "m999")
    assert "more than 1000 messages; the first 1000 are read" in caplog.text
    assert len(world.slack.called("conversations.replies")) == 3 + 5


async def test_a_refused_read_is_an_empty_history_and_a_warning(
    reading: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world, reader = reading
    world.slack.seed_thread("C0OPS", [{"ts": "9.000001", "user": "W1", "text": "hello"}])
    world.slack.fail("conversations.replies", "missing_scope")
    with caplog.at_level(logging.WARNING, logger="bot.slackbot.history"):
        await world.event(
            message_event(
                f"<@{BOT_USER}> summarize",
                channel="C0OPS",
                ts="9.000002",
                thread_ts="9.000001",
                kind="app_mention",
            )
        )
        await _asked(world, reader)
    assert reader.seen[0][1] == []
    assert "reading thread 9.000001 in C0OPS failed: missing_scope" in caplog.text


async def test_a_button_on_an_alert_reads_the_alerts_thread(reading: Any) -> None:
    world, reader = reading
    await world.app.post("alerts", alert_reply("a-3"))
    (ts,) = [
        t for (c, t), m in world.slack.messages.items() if c == "C0ALERTS" and "thread_ts" not in m
    ]
    message = dict(world.slack.messages[("C0ALERTS", ts)])
    message["thread_ts"] = ts  # Slack gives a thread's parent its own ts as thread_ts
    button = message["blocks"][2]["elements"][0]
    body = slack_api.block_actions_body(
        message,
        button,
        channel_id="C0ALERTS",
        response_url=world.slack.response_url("b1"),
        user_id="U0ONCALL",
    )
    status, _, _ = await world.send(urlencode({"payload": json.dumps(body)}))
    assert status == 200
    await _asked(world, reader)
    req, messages = reader.seen[0]
    assert (req.text, req.thread_id) == ("ack a-3", ts)
    assert [(m.user, m.text) for m in messages or []] == [
        ("vigil", "[critical] payments/payments-2: memory_leak (a-3)"),
        ("vigil", "a-3 details"),
    ]
    # the same button on a message outside any thread: no history
    del message["thread_ts"]
    body = slack_api.block_actions_body(
        message, button, channel_id="C0ALERTS", response_url=world.slack.response_url("b2")
    )
    await world.send(urlencode({"payload": json.dumps(body)}))
    await _asked(world, reader, 2)
    assert reader.seen[1][1] is None


def test_slack_time_is_exact_and_rejects_what_is_not_a_ts() -> None:
    assert slack_time("1700000000.000100") == datetime(2023, 11, 14, 22, 13, 20, 100, tzinfo=UTC)
    assert slack_time("1700000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert slack_time("1700000000.9999999") == datetime(
        2023, 11, 14, 22, 13, 20, 999999, tzinfo=UTC
    )
    assert slack_time("") is None and slack_time("abc.1") is None and slack_time("1.x") is None


async def test_a_read_slower_than_its_bound_is_an_empty_history(
    slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    slack.seed_thread("C0OPS", [{"ts": "9.000001", "user": "W1", "text": "hello"}])
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.url + "/")
    load = thread_loader(client, "C0OPS", "9.000001", lambda m: False, timeout_s=0.1)
    assert [m.text for m in await load()] == ["hello"]
    slack.delays["conversations.replies"] = 0.5
    with caplog.at_level(logging.WARNING, logger="bot.slackbot.history"):
        assert await load() == []
    assert "reading thread 9.000001 in C0OPS failed: TimeoutError" in caplog.text
