"""The front on discord.py's own client against a loopback Discord (REST and gateway, over
TLS): login, the intents it identifies with, channel resolution, /vigil registration, and a
message, a slash command and a button press end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest

from bot.app import VigilApp
from bot.chat import ChatError
from bot.config import Settings
from bot.discordbot.front import DiscordFront, intents
from handlers.types import Reply
from tests.bot.discordbot.conftest import Recorder, alert_reply, demo_registry
from tests.bot.discordbot.standin import TOKEN, DiscordStandIn, settle
from tests.standins.tls import self_signed

GUILDS, GUILD_MESSAGES, DM_MESSAGES = 1 << 0, 1 << 9, 1 << 12


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return self_signed(tmp_path_factory.mktemp("tls"), "discord.com")


@pytest.fixture
async def discord_api(certificate: tuple[str, str]) -> AsyncIterator[DiscordStandIn]:
    api = DiscordStandIn(*certificate)
    await api.start()
    yield api
    await api.stop()


class Running:
    def __init__(self, api: DiscordStandIn, settings: Settings) -> None:
        self.app = VigilApp(settings, knowledge=False, registry=demo_registry())
        self.recorder = Recorder(self.app)
        client = discord.Client(
            intents=intents(), connector=api.connector(), guild_ready_timeout=0.05
        )
        self.front = DiscordFront(self.recorder, client=client, ready_wait_s=10)
        self.app.hub.add_sink(self.front.post)  # as bot.fronts wires it


@pytest.fixture
def running(
    discord_api: DiscordStandIn, make_settings: Callable[..., Settings]
) -> Callable[[str], Running]:
    def make(token: str = TOKEN) -> Running:
        return Running(discord_api, make_settings(DISCORD_TOKEN=token))

    return make


def calls(api: DiscordStandIn, method: str, pattern: str) -> list[Any]:
    return [c for c in api.calls if c.method == method and pattern in c.path]


async def test_a_refused_token_stops_the_start_with_one_line(
    discord_api: DiscordStandIn, running: Callable[[str], Running]
) -> None:
    bot = running("not-the-token")
    with pytest.raises(ChatError) as refused:
        await bot.front.start()
    assert str(refused.value).startswith("discord: DISCORD_TOKEN was refused (")
    assert "not-the-token" not in str(refused.value)
    assert bot.front.client.is_closed()


async def test_start_identifies_with_the_smallest_intents_and_registers_vigil(
    discord_api: DiscordStandIn, running: Callable[[str], Running]
) -> None:
    bot = running(TOKEN)
    await bot.front.post("alerts", Reply("posted before the gateway was up"))
    await bot.front.start()
    try:
        await settle(lambda: len(discord_api.in_channel("vigil-alerts")) == 1)
        assert discord_api.in_channel("vigil-alerts")[0]["content"] == (
            "posted before the gateway was up"
        )
        assert discord_api.identify is not None
        assert discord_api.identify["intents"] == GUILDS | GUILD_MESSAGES | DM_MESSAGES
        health = bot.front.health()
        assert health["ok"] is True and health["guilds"] == 1
        assert bot.front.channels.vigil_name(
            None, int(discord_api.channels["vigil-alerts"]["id"])
        ) == ("alerts")
        await settle(lambda: str(discord_api.guild_id) in discord_api.commands)
        (vigil,) = discord_api.commands[str(discord_api.guild_id)]
        assert vigil["name"] == "vigil"
        assert [o["name"] for o in vigil["options"]] == [c.name for c in bot.app.registry]
    finally:
        await bot.front.stop()
    assert bot.front.health()["ok"] is False and discord_api.unknown == []


async def test_a_message_a_slash_command_and_a_button_end_to_end(
    discord_api: DiscordStandIn, running: Callable[[str], Running]
) -> None:
    bot = running(TOKEN)
    await bot.front.start()
    try:
        await settle(lambda: bool(discord_api.commands))
        # a mention, answered as a reply
        asked = await discord_api.message(
            f"<@{discord_api.bot['id']}> card checkout", mentions_bot=True
        )
        await settle(lambda: len(discord_api.in_channel("vigil")) == 2)
        answer = discord_api.in_channel("vigil")[-1]
        assert answer["content"] == "card for checkout"
        assert str(answer["message_reference"]["message_id"]) == asked["id"]
        assert answer["embeds"][0]["fields"][0] == {
            "name": "service",
            "value": "checkout",
            "inline": True,
        }

        # a direct message needs no mention
        await discord_api.message("card dm", channel="dm", user="bob")
        await settle(lambda: len(discord_api.in_channel(discord_api.dm_id)) == 2)
        assert discord_api.in_channel(discord_api.dm_id)[-1]["content"] == "card for dm"
        assert bot.recorder.requests[-1].channel == discord_api.dm_id
        assert bot.recorder.requests[-1].roles == ()

        # /vigil card: deferred with "thinking", answered by the first followup
        slash = await discord_api.slash("card", who="slash")
        await settle(lambda: bool(slash["followups"]))
        assert slash["responses"] == [{"type": 5}]
        assert slash["followups"][0]["content"] == "card for slash"
        assert bot.recorder.requests[-1].text == "card slash"

        # /vigil help: ephemeral, so the public placeholder goes first
        helped = await discord_api.slash("help", channel="random", user="bob")
        await settle(lambda: bool(helped["followups"]))
        assert calls(discord_api, "DELETE", "/messages/@original")
        assert helped["followups"][0]["flags"] & 64

        # an alert from the hub: chart, buttons, details in a thread
        await bot.app.hub.post("alerts", await alert_reply(bot.app))
        await settle(lambda: len(discord_api.in_channel("vigil-alerts")) == 1)
        alert = discord_api.in_channel("vigil-alerts")[0]
        await settle(lambda: len(discord_api.in_channel(alert["id"])) == 1)
        assert [a["filename"] for a in alert["attachments"]] == ["chart-1.png"]
        assert alert["embeds"][0]["image"]["url"] == "attachment://chart-1.png"
        buttons = alert["components"][0]["components"]
        assert buttons[0]["custom_id"] == "vigil:ack a-1"

        # pressing Acknowledge: deferred update, the alert amended, the answer in its thread
        press = await discord_api.press(alert, "vigil:ack a-1", user="ana")
        await settle(lambda: len(discord_api.in_channel(alert["id"])) == 2)
        assert press["responses"] == [{"type": 6}]
        footer = discord_api.messages[alert["id"]]["embeds"][-1]["footer"]["text"]
        assert footer.endswith(f"a-1 acknowledged by {discord_api.users['ana']['id']} at 10:00 UTC")
        assert discord_api.messages[alert["id"]]["components"]  # buttons kept
        thread_answer = discord_api.in_channel(alert["id"])[-1]
        assert thread_answer["content"].startswith("a-1 (payments/payments-2: memory_leak)")
        request = bot.recorder.requests[-1]
        assert (request.text, request.channel) == ("ack a-1", "alerts")
        assert "oncall" in request.roles
    finally:
        await bot.front.stop()
    assert discord_api.unknown == []
