"""Which guilds Vigil serves: with ``DISCORD_GUILD_IDS`` only those; without it, in several
guilds (someone invited the bot to a server of their own), no channel or role name is taken
from anyone's server."""

from __future__ import annotations

import logging

import discord.ext.test as dpytest
import pytest

from bot.discordbot.channels import ChannelMap
from handlers.types import Reply
from tests.bot.discordbot.conftest import Guild, MakeGuild, alert_reply, sent
from tests.bot.discordbot.doubles import InteractionDouble


async def test_with_guild_ids_other_guilds_are_ignored(
    make_guild: MakeGuild, caplog: pytest.LogCaptureFixture
) -> None:
    world = await make_guild(["Acme", "Other"], served=["Acme"])
    acme, other = world.config.guilds
    # the hub's post goes to Acme's #vigil-alerts only
    await world.front.post("alerts", Reply("a-1 firing"))
    assert [m.channel.id for m in sent()] == [world.channel("vigil-alerts").id]
    # a mention in Other: ignored quietly (a debug line)
    elsewhere = world.channel("vigil-alerts", other)
    assert world.front.channels.vigil_name(elsewhere) == str(elsewhere.id)
    with caplog.at_level(logging.DEBUG, logger="bot.discordbot.front"):
        await world.say(f"<@{world.me.id}> card x", channel=elsewhere, user="bob")
    assert sent() == [] and world.recorder.requests == []
    assert "a message from guild" in caplog.text and "not in DISCORD_GUILD_IDS" in caplog.text
    # a slash command and a button press from Other: not even deferred
    slash = InteractionDouble(world.member("bob", other), elsewhere)
    await world.front.answer_slash(slash, "resolve a-1")  # type: ignore[arg-type]
    press = InteractionDouble(world.member("bob", other), elsewhere, custom_id="vigil:resolve a-1")
    await world.front.on_interaction(press)  # type: ignore[arg-type]
    assert slash.calls == [] and press.calls == [] and world.recorder.requests == []
    # Acme is served as ever: its role names are given, though the bot is in two guilds
    await world.say(f"<@{world.me.id}> card y", channel="vigil-alerts")
    assert [m.content for m in sent()] == ["card for y"]
    request = world.recorder.requests[-1]
    oncall = world.roles["ana"][0]
    assert request.channel == "alerts" and request.roles == ("oncall", str(oncall.id))
    assert acme.id in world.front.channels.guild_ids


async def test_vigil_is_registered_in_the_served_guilds_only(make_guild: MakeGuild) -> None:
    world = await make_guild(["Acme", "Other"], served=["Acme"], sync=True)
    assert world.http.commands == {world.guild.id: ["vigil"]}  # not Other, not global


async def test_a_served_guild_joined_later_gets_its_channels_and_vigil(
    make_guild: MakeGuild,
) -> None:
    later = dpytest.factories.make_id()
    world = await make_guild(["Acme"], served=["Acme"], also_served=[later], sync=True)
    assert world.front.channels.targets("alerts") == [world.channel("vigil-alerts")]
    channel = dpytest.factories.make_text_channel_dict("vigil-alerts", guild_id=later, position=0)
    dpytest.backend.make_guild("Acme EU", channels=[channel], id_num=later)
    await dpytest.run_all_events()
    assert world.http.commands == {world.guild.id: ["vigil"], later: ["vigil"]}
    # a name in several served guilds is used in each of them
    await world.front.post("alerts", Reply("a-1 firing"))
    assert sorted(m.guild.id for m in sent() if m.guild) == sorted([world.guild.id, later])


async def test_joining_a_guild_left_out_is_logged(
    make_guild: MakeGuild, caplog: pytest.LogCaptureFixture
) -> None:
    world = await make_guild(["Acme"], served=["Acme"])
    with caplog.at_level(logging.WARNING, logger="bot.discordbot.front"):
        joined = dpytest.backend.make_guild("Someone's server")
        await dpytest.run_all_events()
    assert f"added to guild {joined.id}, which DISCORD_GUILD_IDS leaves out" in caplog.text
    assert world.front.channels.targets("alerts") == [world.channel("vigil-alerts")]


async def test_in_two_guilds_without_guild_ids_no_name_is_trusted(
    make_guild: MakeGuild, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.discordbot.channels"):
        world = await make_guild(["Acme", "Other"])
    # #vigil-alerts is in both guilds: used in neither, and a warning says why
    assert world.front.channels.targets("alerts") == []
    await world.front.post("alerts", Reply("a-1 firing"))
    assert sent() == []
    assert "the bot is in 2 guilds and DISCORD_GUILD_IDS is not set" in caplog.text
    assert "alerts (vigil-alerts, in 2 guilds)" in caplog.text
    # a mention there carries the channel id, and role ids without names
    await world.say(f"<@{world.me.id}> card x", channel="vigil-alerts")
    assert len(sent()) == 1
    request = world.recorder.requests[-1]
    assert request.channel == str(world.channel("vigil-alerts").id)
    assert request.roles == (str(world.roles["ana"][0].id),)
    # a channel configured by id still is one
    channels = ChannelMap({"alerts": str(world.channel("vigil-alerts").id)})
    channels.resolve(world.client)
    assert channels.targets("alerts") == [world.channel("vigil-alerts")]


async def test_a_channel_named_like_vigils_later_gets_no_access(
    guild: Guild, caplog: pytest.LogCaptureFixture
) -> None:
    await guild.front.post("alerts", await alert_reply(guild.app))
    sent()
    # someone invites the bot to their server, which has a #vigil-alerts
    with caplog.at_level(logging.WARNING, logger="bot.discordbot.front"):
        theirs = dpytest.backend.make_guild("Someone's server")
        await dpytest.run_all_events()
    copy = dpytest.backend.make_text_channel("vigil-alerts", theirs)
    await guild.say(f"<@{guild.me.id}> resolve a-1", channel=copy, user="bob")
    request = guild.recorder.requests[-1]
    assert request.channel == str(copy.id) and request.roles == ()
    (refusal,) = sent()
    assert "access" in refusal.content
    assert [a.id for a in guild.app.deps.alerts.active()] == ["a-1"]  # not resolved
    # nor does a channel created later in the bot's own guild under a configured name
    ops = dpytest.backend.make_text_channel("vigil-ops", guild.guild)
    assert guild.front.channels.vigil_name(ops) == str(ops.id)
    assert guild.front.channels.targets("ops") == []
    assert "now in 2 guilds without DISCORD_GUILD_IDS" in caplog.text
