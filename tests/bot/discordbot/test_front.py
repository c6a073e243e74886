"""The Discord front through discord.py's own state (dpytest): messages in, embeds out."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import discord.ext.test as dpytest

from bot.discordbot.delivery import Posted
from bot.render.discord import CONTENT_MAX
from handlers.registry import Command
from handlers.types import ChatRequest, Reply
from tests.bot.discordbot.conftest import Guild, alert_reply, buttons_of, sent


async def test_a_mention_is_answered_with_an_embed_with_fields(guild: Guild) -> None:
    asked = await guild.say(f"<@{guild.me.id}> card checkout")
    (answer,) = sent()
    assert answer.content == "card for checkout"
    assert answer.reference is not None and answer.reference.message_id == asked.id
    (call,) = guild.http.calls
    assert call.payload["allowed_mentions"] == {"parse": [], "replied_user": False}
    (embed,) = answer.embeds
    assert embed.description == "**Summary**\ncheckout is slow since 10:02"
    assert [(f.name, f.value) for f in embed.fields] == [("service", "checkout"), ("p95", "840 ms")]
    assert embed.footer.text == "Sources: prometheus · 12 ms · extractive"
    (request,) = guild.recorder.requests
    assert request.text == "card checkout"
    assert request.platform == "discord" and request.channel == "general"
    assert request.user == str(guild.users["ana"].id) and request.thread_id is None
    oncall = guild.roles["ana"][0]
    assert request.roles == ("oncall", str(oncall.id))


async def test_a_message_without_a_mention_is_ignored(guild: Guild) -> None:
    await guild.say("card checkout")
    await guild.say(f"<@{guild.users['bob'].id}> card checkout")
    assert sent() == [] and guild.recorder.requests == []


async def test_a_reply_to_the_bot_is_answered(guild: Guild) -> None:
    await guild.say(f"<@{guild.me.id}> card one")
    (first,) = sent()
    # a reply with the ping turned off: it neither mentions the bot nor is in a thread
    reply = await guild.say("card two", user="bob", replying_to=first)
    (second,) = sent()
    assert second.content == "card for two"
    assert second.reference is not None and second.reference.message_id == reply.id
    assert guild.recorder.requests[-1].user == str(guild.users["bob"].id)


async def test_a_long_answer_is_split_under_2000_characters(guild: Guild) -> None:
    await guild.say(f"<@{guild.me.id}> long")
    messages = sent()
    assert len(messages) >= 4
    assert all(0 < len(m.content) <= CONTENT_MAX for m in messages)
    words = " ".join(m.content for m in messages).split()
    assert words[0] == "word0" and words[-1] == "word1199" and len(words) == 1200
    assert [bool(m.embeds) for m in messages] == [False] * (len(messages) - 1) + [True]


async def test_a_chart_arrives_as_an_attachment_the_embed_shows(guild: Guild) -> None:
    await guild.say(f"<@{guild.me.id}> chart")
    (answer,) = sent()
    (attachment,) = answer.attachments
    assert attachment.filename == "chart-1.png"
    assert (await attachment.read()).startswith(b"\x89PNG")
    (embed,) = answer.embeds
    assert embed.title == "p95 latency" and embed.image.url == "attachment://chart-1.png"


async def test_bots_and_the_bot_itself_are_ignored(guild: Guild) -> None:
    channel = guild.channel("vigil")
    other = dpytest.backend.make_user("otherbot", "0009")
    data = dpytest.factories.make_message_dict(channel, other, content=f"<@{guild.me.id}> help")
    data["author"]["bot"] = True
    dpytest.backend.get_state().parse_message_create(data)
    await dpytest.run_all_events()
    await channel.send(f"<@{guild.me.id}> help")  # the bot's own message
    await dpytest.run_all_events()
    assert len(sent()) == 1 and guild.recorder.requests == []


async def test_an_alert_posted_by_the_hub_carries_buttons_and_a_thread(guild: Guild) -> None:
    reply = await alert_reply(guild.app)
    await guild.front.post("alerts", reply)
    alert, detail = sent()
    assert alert.channel.name == "vigil-alerts"
    assert alert.content == "[warning] payments/payments-2: memory_leak"
    (attachment,) = alert.attachments  # the chart
    assert attachment.filename == "chart-1.png"
    assert buttons_of(alert) == [
        ("Acknowledge", "vigil:ack a-1"),
        ("Mute 1h", "vigil:mute payments/payments-2:memory_leak 1h"),
        ("Explain more", "vigil:explain a-1"),
        ("Resolve", "vigil:resolve a-1"),
    ]
    # the details went to a thread started from the alert message
    assert isinstance(detail.channel, discord.Thread) and detail.channel.id == alert.id
    assert detail.content == "a-1 [warning] payments/payments-2: memory_leak"
    assert detail.channel.id in guild.front.threads
    assert guild.front.refs.find("alert:a-1") == [
        Posted(alert.channel.id, alert.id),
        Posted(detail.channel.id, detail.id),
    ]


async def test_a_channel_without_a_discord_name_is_skipped(guild: Guild) -> None:
    await guild.front.post("nowhere", Reply("not posted"))
    await guild.front.post("ops", Reply("vigil-ops does not exist in this guild"))
    assert sent() == []


async def test_a_follow_up_in_the_bots_thread_is_answered_there(guild: Guild) -> None:
    await guild.front.post("alerts", await alert_reply(guild.app))
    alert, _ = sent()
    thread = guild.guild.get_thread(alert.id)
    assert thread is not None
    await guild.say("card follow-up", channel=thread, user="bob")
    (answer,) = sent()
    assert answer.channel.id == thread.id and answer.content == "card for follow-up"
    request = guild.recorder.requests[-1]
    assert request.channel == "alerts" and request.thread_id == str(thread.id)
    # a thread the bot neither started nor was mentioned in is left alone, until it is mentioned
    other = guild.user_thread("random", owner="bob")
    await guild.say("card elsewhere", channel=other, user="bob")
    assert sent() == []
    await guild.say(f"<@{guild.me.id}> card here", channel=other, user="bob")
    await guild.say("card again", channel=other, user="bob")
    assert [m.content for m in sent()] == ["card for here", "card for again"]


async def test_a_mention_in_an_unmapped_channel_carries_the_channel_id(guild: Guild) -> None:
    await guild.say(f"<@{guild.me.id}> card x", channel="random", user="bob")
    assert len(sent()) == 1
    request = guild.recorder.requests[-1]
    assert request.channel == str(guild.channel("random").id) and request.roles == ()


async def test_stop_waits_for_the_answer_under_way(guild: Guild) -> None:
    gate = asyncio.Event()

    async def slow(req: ChatRequest, deps: Any) -> Reply:
        await gate.wait()
        return Reply("done at last")

    guild.app.registry.add(Command("slow", "waits for the test", "slow", slow))
    assert guild.front.health() == {"ok": True, "guilds": 1, "latency_ms": None}
    await guild.say(f"<@{guild.me.id}> slow", wait=False)
    await asyncio.sleep(0.01)
    stopping = asyncio.create_task(guild.front.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()
    gate.set()
    await asyncio.wait_for(stopping, 5)
    assert [m.content for m in sent()] == ["done at last"]
    assert guild.front.health()["ok"] is False
    await guild.say(f"<@{guild.me.id}> card after stop")
    assert sent() == []


async def test_chatter_in_the_bots_thread_is_left_alone(guild: Guild) -> None:
    await guild.front.post("alerts", await alert_reply(guild.app))
    alert, _ = sent()
    thread = guild.guild.get_thread(alert.id)
    assert thread is not None
    bob = guild.users["bob"]
    # follow-ups that are neither a command nor a question (as they arrive with the
    # message_content intent, or as replies that ping the bot)
    await guild.say("ok I'll restart it", channel=thread, user="bob")
    await guild.say("thanks!", channel=thread)
    await guild.say(f"<@{bob.id}> can you look?", channel=thread)  # for bob
    await guild.say("ok, on it", channel="vigil-alerts", user="bob", replying_to=alert, ping=True)
    assert sent() == [] and guild.recorder.requests == []
    # a command, a question, a direct mention: answered
    await guild.say("card follow-up", channel=thread, user="bob")
    await guild.say("Anything new since the restart?", channel=thread, user="bob")
    await guild.say("why is it leaking", channel="vigil-alerts", replying_to=alert, ping=True)
    await guild.say(f"<@{guild.me.id}> ok", channel=thread)
    texts = [r.text for r in guild.recorder.requests]
    assert texts == ["card follow-up", "Anything new since the restart?", "why is it leaking", "ok"]
    assert len(sent()) == 4


async def test_a_post_only_front_posts_alerts_and_answers_nothing(make_guild: Any) -> None:
    guild = await make_guild(listen=False)
    await guild.say(f"<@{guild.me.id}> card checkout")
    assert sent() == [] and guild.recorder.requests == []  # the chat workers answer
    await guild.front.post("alerts", Reply("payments p99 is 4x its normal"))
    (posted,) = sent()
    assert "4x its normal" in posted.content + str([e.description for e in posted.embeds])
