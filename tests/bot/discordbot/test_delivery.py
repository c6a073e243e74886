"""Sending and amending: what goes to Discord for each message, and which edits an amend makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import discord

from bot.discordbot.channels import ChannelMap
from bot.discordbot.delivery import NO_PINGS, Edit, Posted, message_kwargs, plan_amends, send_all
from bot.render.discord import ButtonSpec, DiscordMessage
from handlers.types import Amend
from tests.bot.discordbot.conftest import Guild


def test_amends_make_one_edit_per_message_with_all_statuses() -> None:
    alert, detail, other = Posted(1, 10), Posted(2, 20), Posted(1, 30)
    refs = {"alert:a-1": [alert, detail], "alert:a-2": [other]}
    amends = (
        Amend("a-1 acked", "alert:a-1"),
        Amend("a-2 over", "alert:a-2", close=True),
        Amend("a-1 over", "alert:a-1", close=True),
        Amend("pressed", None),
        Amend("unknown ref", "alert:a-9"),
    )
    edits = plan_amends(amends, lambda ref: refs.get(ref, []), pressed_id=None)
    assert edits == [
        Edit(alert, ("a-1 acked", "a-1 over"), True),
        Edit(detail, ("a-1 acked", "a-1 over"), True),
        Edit(other, ("a-2 over",), True),
    ]
    # the pressed message is edited once, through the interaction, whether named or not
    edits = plan_amends(amends[:1] + amends[3:4], lambda ref: refs.get(ref, []), pressed_id=10)
    assert edits == [
        Edit(None, ("a-1 acked", "pressed"), False),
        Edit(detail, ("a-1 acked",), False),
    ]


def test_an_amend_of_a_ref_not_remembered_edits_the_pressed_message() -> None:
    # after a restart nothing is remembered: the statuses go to the message pressed, each once
    amends = (
        Amend("payments muted", "alert:a-1"),
        Amend("payments muted", "alert:a-2"),
        Amend("a-1 over", "alert:a-1", close=True),
    )
    assert plan_amends(amends, lambda ref: [], pressed_id=10) == [
        Edit(None, ("payments muted", "a-1 over"), True)
    ]
    assert plan_amends(amends, lambda ref: [], pressed_id=None) == []


async def test_message_kwargs_leave_out_what_is_empty() -> None:
    assert message_kwargs(DiscordMessage(content="hi")) == {
        "allowed_mentions": NO_PINGS,
        "content": "hi",
    }
    kwargs = message_kwargs(DiscordMessage(buttons=(ButtonSpec("Ack", "vigil:ack a-1"),)))
    view = kwargs["view"]
    assert isinstance(view, discord.ui.View) and view.is_finished()  # not kept by discord.py
    assert view.to_components()[0]["components"][0]["custom_id"] == "vigil:ack a-1"


@dataclass
class Refusing:
    """A channel whose Discord refuses a reply to a message that is gone (400) and then takes
    the same message without the reply."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **kwargs: Any) -> Any:
        if "reference" in kwargs:
            raise discord.HTTPException(
                _Response(400), {"code": 50035, "message": "Invalid Form Body"}
            )
        self.sent.append(kwargs)
        return kwargs


@dataclass
class _Response:
    status: int
    reason: str = "Bad Request"


async def test_a_reply_to_a_message_gone_is_sent_without_the_reply() -> None:
    channel = Refusing()
    messages = [DiscordMessage(content="one"), DiscordMessage(content="two")]
    sent = await send_all(channel, messages, reference=object(), where="#vigil")  # type: ignore[arg-type]
    assert [m["content"] for m in channel.sent] == ["one", "two"] and len(sent) == 2


async def test_channels_configured_by_id(guild: Guild) -> None:
    alerts = guild.channel("vigil-alerts")
    channels = ChannelMap({"alerts": str(alerts.id), "general": "VIGIL", "ops": "123"})
    channels.resolve(guild.client)
    assert channels.targets("alerts") == [alerts]
    assert channels.targets("general") == [guild.channel("vigil")]  # names match any case
    assert channels.targets("ops") == []
    assert channels.vigil_name(alerts) == "alerts"
    assert channels.vigil_name(None, 123) == "ops"  # a configured id not (yet) seen
    assert channels.vigil_name(guild.channel("random")) == str(guild.channel("random").id)
