"""Slash commands and button presses through the front's handlers, with a test double of the
interaction (dpytest has no interactions); what they post lands in the dpytest guild."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
from discord import app_commands

from bot.chat import MessageRefs
from bot.discordbot.front import EXPIRED
from handlers.registry import Command
from handlers.types import Amend, Button, Buttons, ChatRequest, Reply
from tests.bot.discordbot.conftest import Guild, alert_reply, buttons_of, sent
from tests.bot.discordbot.doubles import InteractionDouble


def vigil_group(guild: Guild) -> app_commands.Group:
    assert guild.front.tree is not None
    group = guild.front.tree.get_command("vigil")
    assert isinstance(group, app_commands.Group)
    return group


def subcommand(guild: Guild, name: str) -> app_commands.Command[Any, ..., Any]:
    command = vigil_group(guild).get_command(name)
    assert isinstance(command, app_commands.Command)
    return command


async def test_vigil_mirrors_the_registry(guild: Guild) -> None:
    group = vigil_group(guild)
    names = [c.name for c in group.commands]
    assert names == [c.name for c in guild.app.registry]  # ask, status, ..., card, long, chart
    assert {"ask", "status", "alerts", "ack", "resolve", "mute", "unmute", "help"} <= set(names)
    mute = subcommand(guild, "mute")
    assert [(p.name, p.required) for p in mute.parameters] == [
        ("selector", True),
        ("duration", True),
    ]
    assert [(p.name, p.required) for p in subcommand(guild, "help").parameters] == [
        ("topic", False)
    ]
    assert [(p.name, p.required) for p in subcommand(guild, "card").parameters] == [("who", False)]
    payload = group.to_dict(guild.front.tree)  # what is synced: Discord's limits hold
    assert len(payload["options"]) <= 25
    assert all(1 <= len(o["description"]) <= 100 for o in payload["options"])


async def test_a_slash_command_is_deferred_then_answered_as_a_followup(guild: Guild) -> None:
    ana = guild.member("ana")
    interaction = InteractionDouble(ana, guild.channel("vigil"))
    await subcommand(guild, "card").callback(interaction, who="checkout")  # type: ignore[arg-type]
    assert interaction.names() == ["defer", "followup"]
    assert interaction.calls[0].kwargs == {"thinking": True}
    (answer,) = sent()
    assert answer.content == "card for checkout"
    assert [f.name for f in answer.embeds[0].fields] == ["service", "p95"]
    request = guild.recorder.requests[-1]
    assert request.text == "card checkout" and request.channel == "general"
    assert request.user == str(ana.id) and "oncall" in request.roles


async def test_mute_options_become_the_command_text(guild: Guild) -> None:
    interaction = InteractionDouble(guild.member("ana"), guild.channel("vigil-alerts"))
    command = subcommand(guild, "mute")
    await command.callback(interaction, selector="payments/payments-2", duration="1h")  # type: ignore[arg-type]
    assert guild.recorder.requests[-1].text == "mute payments/payments-2 1h"
    assert guild.recorder.requests[-1].channel == "alerts"
    assert sent()[0].content.startswith("Muted payments/payments-2")


async def test_an_ephemeral_reply_replaces_the_public_placeholder(guild: Guild) -> None:
    interaction = InteractionDouble(guild.member("bob"), guild.channel("random"))
    await subcommand(guild, "help").callback(interaction)  # type: ignore[arg-type]
    assert interaction.names() == ["defer", "delete_original_response", "followup"]
    (followup,) = interaction.ephemeral
    assert "ack" in str(followup.kwargs["embeds"][0].description)
    assert sent() == []  # nothing in the channel


async def test_the_defer_comes_before_a_slow_answer(guild: Guild) -> None:
    gate = asyncio.Event()

    async def slow(req: ChatRequest, deps: Any) -> Reply:
        await gate.wait()
        return Reply("slow answer")

    guild.app.registry.add(Command("slow", "waits for the test", "slow", slow))
    interaction = InteractionDouble(guild.member("ana"), guild.channel("vigil"))
    answering = asyncio.create_task(guild.front.answer_slash(interaction, "slow"))
    await asyncio.sleep(0.01)
    assert interaction.names() == ["defer"] and not answering.done()
    gate.set()
    await asyncio.wait_for(answering, 5)
    assert [m.content for m in sent()] == ["slow answer"]


async def test_a_late_interaction_is_dropped_quietly(guild: Guild) -> None:
    interaction = InteractionDouble(guild.member("ana"), guild.channel("vigil"), late=True)
    await guild.front.answer_slash(interaction, "card")
    assert interaction.names() == ["defer"] and guild.recorder.requests == []


async def posted_alert(guild: Guild) -> tuple[discord.Message, discord.Message]:
    await guild.front.post("alerts", await alert_reply(guild.app))
    alert, detail = sent()
    return alert, detail


async def test_acknowledge_amends_the_alert_and_answers_in_its_thread(guild: Guild) -> None:
    alert, detail = await posted_alert(guild)
    ana = guild.member("ana")
    press = InteractionDouble(ana, alert.channel, message=alert, custom_id="vigil:ack a-1")  # type: ignore[arg-type]
    await guild.front.on_interaction(press)  # type: ignore[arg-type]
    assert press.names()[0] == "defer" and press.calls[0].kwargs == {}
    request = guild.recorder.requests[-1]
    assert request.text == "ack a-1" and request.channel == "alerts"
    assert request.user == str(ana.id) and request.thread_id is None
    # the pressed message: status appended to the footer, buttons kept
    (edit,) = [c for c in press.calls if c.name == "edit_original_response"]
    assert "view" not in edit.kwargs
    footer = edit.kwargs["embeds"][-1].footer.text
    assert footer.splitlines()[-1] == f"a-1 acknowledged by {ana.id} at 10:00 UTC"
    # the thread reply about the same alert was edited too (through its ref)
    edits = [c for c in guild.http.calls if c.what == "edit"]
    assert [c.payload["id"] for c in edits] == [alert.id, detail.id]
    # the answer went to the alert's thread
    (answer,) = sent()
    assert answer.channel.id == alert.id and answer.content.startswith("a-1 (")
    assert guild.app.deps.alerts.active()[0].acked_by == str(ana.id)


async def test_resolve_closes_the_alert_message(guild: Guild) -> None:
    alert, _ = await posted_alert(guild)
    press = InteractionDouble(
        guild.member("ana"), alert.channel, message=alert, custom_id="vigil:resolve a-1"
    )  # type: ignore[arg-type]
    await guild.front.on_interaction(press)  # type: ignore[arg-type]
    (edit,) = [c for c in press.calls if c.name == "edit_original_response"]
    assert edit.kwargs["view"] is None
    fetched = await alert.channel.fetch_message(alert.id)
    assert fetched.components == [] and "resolved by" in (fetched.embeds[-1].footer.text or "")
    assert guild.app.deps.alerts.active() == []


async def test_a_press_by_someone_not_allowed_is_refused_privately(guild: Guild) -> None:
    # a message with buttons in #random, which access does not name, pressed by bob (no role)
    reply = Reply("a-1 firing", parts=(Buttons((Button("Ack", "ack a-1"),)),))
    (message,) = await guild.front.deliver(reply, guild.channel("random"))
    sent()
    press = InteractionDouble(
        guild.member("bob"), message.channel, message=message, custom_id="vigil:ack a-1"
    )  # type: ignore[arg-type]
    await guild.front.on_interaction(press)  # type: ignore[arg-type]
    (refusal,) = press.ephemeral
    assert "access" in refusal.kwargs["content"] or "access" in str(
        refusal.kwargs.get("embeds", "")
    )
    assert [c.name for c in press.calls] == ["defer", "followup"] and sent() == []


async def test_an_expired_button_says_so(guild: Guild) -> None:
    alert, _ = await posted_alert(guild)
    press = InteractionDouble(
        guild.member("ana"), alert.channel, message=alert, custom_id="vigil:#0123456789abcdef"
    )  # type: ignore[arg-type]
    await guild.front.on_interaction(press)  # type: ignore[arg-type]
    (notice,) = press.ephemeral
    assert notice.kwargs["content"] == EXPIRED and guild.recorder.requests == []


async def test_amends_by_ref_edit_the_posted_message(guild: Guild) -> None:
    alert, detail = await posted_alert(guild)
    await guild.front.post(
        "alerts", Reply("Resolved: a-1", amends=(Amend("a-1 over", "alert:a-1", close=True),))
    )
    (resolved,) = sent()
    assert resolved.content == "Resolved: a-1"
    fetched = await alert.channel.fetch_message(alert.id)
    assert fetched.components == [] and fetched.embeds[-1].footer.text.endswith("a-1 over")
    assert buttons_of(alert)  # (the message as first posted had them)
    in_thread = await detail.channel.fetch_message(detail.id)
    assert (in_thread.embeds[-1].footer.text or "").endswith("a-1 over")


async def test_after_a_restart_resolve_still_closes_the_pressed_alert(guild: Guild) -> None:
    alert, _ = await posted_alert(guild)
    guild.front.refs = MessageRefs()  # what a restart leaves: no ref is remembered
    press = InteractionDouble(
        guild.member("ana"), alert.channel, message=alert, custom_id="vigil:resolve a-1"
    )  # type: ignore[arg-type]
    await guild.front.on_interaction(press)  # type: ignore[arg-type]
    (edit,) = [c for c in press.calls if c.name == "edit_original_response"]
    assert edit.kwargs["view"] is None
    fetched = await alert.channel.fetch_message(alert.id)
    assert fetched.components == []
    assert "a-1 resolved by" in (fetched.embeds[-1].footer.text or "").splitlines()[-1]


async def test_vigil_ack_in_an_alert_thread_known_by_id_only_is_in_alerts(guild: Guild) -> None:
    _, detail = await posted_alert(guild)
    thread = detail.channel
    # an interaction whose channel discord.py knows by id only (a PartialMessageable)
    partial = guild.client.get_partial_messageable(
        thread.id, guild_id=guild.guild.id, type=discord.ChannelType.public_thread
    )
    bob = guild.member("bob")  # no role: the channel is what lets him
    interaction = InteractionDouble(bob, partial)
    await subcommand(guild, "ack").callback(interaction, id="a-1")  # type: ignore[arg-type]
    request = guild.recorder.requests[-1]
    assert (request.channel, request.thread_id) == ("alerts", str(thread.id))
    assert guild.app.deps.alerts.active()[0].acked_by == str(bob.id)
    (answer,) = sent()
    assert answer.channel.id == thread.id and "acknowledged" in answer.content


async def test_a_thread_not_in_the_cache_is_fetched_for_its_parent(guild: Guild) -> None:
    _, detail = await posted_alert(guild)
    thread = detail.channel
    assert isinstance(thread, discord.Thread)
    guild.guild._remove_thread(thread)  # (archived threads are not in the cache)
    partial = guild.client.get_partial_messageable(thread.id, guild_id=guild.guild.id)
    interaction = InteractionDouble(guild.member("bob"), partial)
    request = await guild.front._interaction_request(interaction, "ack a-1")  # type: ignore[arg-type]
    assert (request.channel, request.thread_id) == ("alerts", str(thread.id))


async def test_an_empty_reply_posts_nothing(guild: Guild) -> None:
    async def quiet(req: ChatRequest, deps: Any) -> Reply:
        return Reply("", ephemeral=True)  # what the router answers to a user told already

    guild.app.registry.add(Command("quiet", "says nothing", "quiet", quiet))
    interaction = InteractionDouble(guild.member("ana"), guild.channel("vigil"))
    await guild.front.answer_slash(interaction, "quiet")  # type: ignore[arg-type]
    assert interaction.names() == ["defer", "delete_original_response"]
    await guild.say(f"<@{guild.me.id}> quiet")
    assert sent() == [] and len(guild.recorder.requests) == 2
