"""``ChatRequest.history`` on Discord: the thread a request was made in (or the thread of the
message it is about), read lazily with ``thread.history`` (capped, failure-safe)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import discord
import discord.ext.test as dpytest
import pytest

from bot.discordbot.history import MAX_MESSAGES, thread_loader
from handlers.types import ChatRequest
from tests.bot.discordbot.conftest import Guild, alert_reply, sent
from tests.bot.discordbot.doubles import InteractionDouble

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def seed(
    guild: Guild,
    where: discord.abc.Messageable,
    said: list[tuple[str, str]],
    start: datetime = T0,
    **fields: object,
) -> None:
    """Messages in ``where``, a minute apart from ``start``: (``ana``, ``bob`` or ``me``, text)."""
    for n, (who, text) in enumerate(said):
        author = guild.me if who == "me" else guild.users[who]
        at = start + timedelta(minutes=n)
        data = dpytest.factories.make_message_dict(  # type: ignore[call-overload]
            where, author, id_num=discord.utils.time_snowflake(at), content=text
        )
        data["guild_id"] = guild.guild.id
        data.update(fields)
        guild.http.store(where.id, data)  # type: ignore[attr-defined]


async def read(request: ChatRequest) -> list[tuple[str, datetime, str]]:
    assert request.history is not None
    return [(m.user, m.ts, m.text) for m in await request.history()]


async def test_a_mention_in_a_thread_reads_the_thread_oldest_first(guild: Guild) -> None:
    thread = guild.user_thread("vigil", "ana")
    seed(
        guild,
        thread,
        [
            ("ana", "checkout returns 500s"),
            ("bob", "rolled back deploy 42"),
            ("bob", ""),  # no message_content intent: Discord sent no text
            ("me", "[critical] checkout: error_spike"),
        ],
    )
    ana, bob = (str(guild.users[n].id) for n in ("ana", "bob"))
    asked = await guild.say(f"<@{guild.me.id}> card", thread)
    (answer,) = sent()
    request = guild.recorder.requests[-1]
    assert request.thread_id == str(thread.id)
    assert guild.http.reads == []  # lazy: nothing read until a command asks
    assert await read(request) == [
        (ana, T0, "checkout returns 500s"),
        (bob, T0 + timedelta(minutes=1), "rolled back deploy 42"),
        ("vigil", T0 + timedelta(minutes=3), "[critical] checkout: error_spike"),
        (ana, asked.created_at, f"<@{guild.me.id}> card"),
        ("vigil", answer.created_at, "card for you"),  # read after the answer, here
    ]
    ((channel, limit, after),) = guild.http.reads
    assert (channel, limit, after) == (thread.id, 100, 0)  # oldest first, a page of 100


async def test_requests_outside_threads_have_no_history(guild: Guild) -> None:
    await guild.say(f"<@{guild.me.id}> card")
    (answer,) = sent()
    await guild.say("card two", user="bob", replying_to=answer)  # a reply chain, no thread
    sent()
    interaction = InteractionDouble(guild.member("ana"), guild.channel("vigil"))
    await guild.front.answer_slash(interaction, "card")  # type: ignore[arg-type]
    sent()
    assert len(guild.recorder.requests) == 3
    assert all(r.history is None for r in guild.recorder.requests)


async def test_a_slash_command_in_a_thread_reads_that_thread(guild: Guild) -> None:
    thread = guild.user_thread("vigil", "bob")
    seed(guild, thread, [("bob", "db latency is up"), ("ana", "scaled the pool to 40")])
    interaction = InteractionDouble(guild.member("ana"), thread)
    await guild.front.answer_slash(interaction, "card")  # type: ignore[arg-type]
    sent()
    request = guild.recorder.requests[-1]
    assert request.channel == "general" and request.thread_id == str(thread.id)
    assert [text for _, _, text in await read(request)] == [
        "db latency is up",
        "scaled the pool to 40",
        "card for you",
    ]


async def test_the_alerts_thread_is_read_from_its_thread_a_reply_and_a_button(
    guild: Guild,
) -> None:
    await guild.front.post("alerts", await alert_reply(guild.app))
    alert, detail = sent()
    thread = alert.thread
    assert thread is not None and detail.channel.id == thread.id
    expected = [
        ("vigil", alert.created_at, alert.content),  # the message the thread started from
        ("vigil", detail.created_at, detail.content),
    ]
    # a reply to the alert in its channel
    await guild.say(f"<@{guild.me.id}> card", "vigil-alerts", replying_to=alert)
    sent()
    request = guild.recorder.requests[-1]
    assert request.thread_id is None and request.channel == "alerts"
    assert await read(request) == expected
    # a button pressed on the alert
    press = InteractionDouble(
        guild.member("ana"),
        alert.channel,  # type: ignore[arg-type]
        message=alert,
        custom_id="vigil:ack a-1",
    )
    await guild.front.on_interaction(press)  # type: ignore[arg-type]
    sent()
    request = guild.recorder.requests[-1]
    assert request.text == "ack a-1"
    read_now = await read(request)
    assert read_now[:2] == expected
    assert read_now[-1][0] == "vigil" and read_now[-1][2].startswith("a-1 (")  # the ack answer


async def test_the_cap_holds_and_a_refused_read_is_empty(
    guild: Guild, caplog: pytest.LogCaptureFixture
) -> None:
    thread = guild.user_thread("vigil", "ana")
    seed(guild, thread, [("bob", f"m{n}") for n in range(1050)], start=T0, type=0)
    load = thread_loader(thread, guild.me.id)
    with caplog.at_level(logging.INFO, logger="bot.discordbot.history"):
        messages = await load()
    assert len(messages) == MAX_MESSAGES == 1000
    assert (messages[0].text, messages[-1].text) == ("m0", "m999")
    assert messages[-1].ts == T0 + timedelta(minutes=999)
    assert len(guild.http.reads) == 10
    assert "may have more than 1000 messages; the first 1000 are read" in caplog.text

    guild.http.unreadable.add(thread.id)
    with caplog.at_level(logging.WARNING, logger="bot.discordbot.history"):
        assert await load() == []
    assert f"reading thread {thread.id} failed: Missing Access" in caplog.text
