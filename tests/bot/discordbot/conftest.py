"""A Discord guild in dpytest (discord.py's own state, fed the gateway events a guild sends;
what the bot sends is recorded) with the front on a real ``VigilApp``."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest

from bot.app import VigilApp
from bot.config import Settings
from bot.discordbot.front import DiscordFront, intents
from handlers.registry import Command, Registry, default_registry
from handlers.types import Chart, ChatRequest, Context, Fields, Reply, Section


def tiny_png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


LONG_WORDS = 1200  # about 7,000 characters


async def _long(req: ChatRequest, deps: Any) -> Reply:
    text = " ".join(f"word{i}" for i in range(LONG_WORDS))
    return Reply(text, parts=(Context("Sources: none"),))


async def _chart(req: ChatRequest, deps: Any) -> Reply:
    return Reply("checkout p95 latency", parts=(Chart(tiny_png(), "p95 latency", alt="a line"),))


async def _card(req: ChatRequest, deps: Any) -> Reply:
    return Reply(
        f"card for {req.args or 'you'}",
        parts=(
            Section("checkout is slow since 10:02", title="Summary"),
            Fields((("service", "checkout"), ("p95", "840 ms"))),
            Context("Sources: prometheus · 12 ms · extractive"),
        ),
    )


def demo_registry() -> Registry:
    """The shipped commands plus three that return known shapes."""
    registry = default_registry()
    registry.add(Command("card", "a reply with fields", "card [WHO]", _card))
    registry.add(Command("long", "a 7,000 character answer", "long", _long))
    registry.add(Command("chart", "a reply with a chart", "chart", _chart))
    return registry


class Recorder:
    """The app as the front sees it, keeping every request it dispatched."""

    def __init__(self, app: VigilApp) -> None:
        self.app = app
        self.settings = app.settings
        self.hub = app.hub
        self.registry = app.registry
        self.requests: list[ChatRequest] = []

    async def dispatch(self, request: ChatRequest) -> Reply:
        self.requests.append(request)
        return await self.app.dispatch(request)


def thread_payload(
    channel: discord.TextChannel, thread_id: int, owner_id: int, name: str
) -> dict[str, Any]:
    """A public thread as Discord describes it (THREAD_CREATE, or the answer to starting one)."""
    return {
        "id": thread_id,
        "guild_id": channel.guild.id,
        "parent_id": channel.id,
        "owner_id": owner_id,
        "name": name,
        "type": discord.ChannelType.public_thread.value,
        "message_count": 0,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": discord.utils.utcnow().isoformat(),
            "locked": False,
        },
    }


@dataclass
class Answer:
    """The part of an HTTP response that discord.py's HTTP errors read."""

    status: int
    reason: str


@dataclass
class Sent:
    """One call the bot made to the HTTP stand-in: what, where, the JSON body, file names."""

    what: str
    channel_id: int
    payload: dict[str, Any]
    files: list[str] = field(default_factory=list)


class GuildHttp(dpytest.backend.FakeHttp):
    """dpytest's stand-in for Discord's HTTP API, made faithful where the front needs it:
    messages keep everything the bot sends (content and embeds also beside files, where they
    travel as ``payload_json``; components; the message replied to), edits keep what they do
    not change (as Discord does), threads can be started from a message (Discord answers with
    the thread, then sends THREAD_CREATE, with a "thread starter" message at the top of the
    thread that refers to the message), a thread can be fetched, and a channel's history is
    read as Discord pages it (``logs_from``: newest first, ``after`` and ``before`` by id; the
    messages the bot sent, users said and tests seeded). Every send and edit is recorded in
    ``calls``; history reads (channel id, limit, after) in ``reads``; the commands synced, by
    guild id (None: global), in ``commands``. A channel in ``unreadable`` answers history
    reads with 403 Missing Access."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.calls: list[Sent] = []
        self.threads: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, list[str]] = {}
        self.reads: list[tuple[int, int, int | None]] = []
        self.unreadable: set[int] = set()

    async def get_channel(self, channel_id: int) -> dict[str, Any]:
        if int(channel_id) in self.threads:
            return self.threads[int(channel_id)]
        return await super().get_channel(channel_id)

    def _stored_commands(
        self, app: int, guild: int | None, payload: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        self.commands[guild] = [c["name"] for c in payload]
        where = {"guild_id": str(guild)} if guild is not None else {}
        return [
            {**c, "id": str(dpytest.factories.make_id()), "application_id": str(app),
             "version": "1", **where}
            for c in payload
        ]  # fmt: skip

    async def bulk_upsert_guild_commands(
        self, application_id: int, guild_id: int, payload: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return self._stored_commands(application_id, int(guild_id), payload)

    async def bulk_upsert_global_commands(
        self, application_id: int, payload: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return self._stored_commands(application_id, None, payload)

    def _stored(self, channel_id: int) -> list[dict[str, Any]]:
        return dpytest.backend._cur_config.messages.setdefault(int(channel_id), [])

    def store(self, channel_id: int, data: dict[str, Any]) -> None:
        """Keep a message of ``channel_id`` for history reads."""
        self._stored(channel_id).append(data)

    async def logs_from(
        self,
        channel_id: int,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
    ) -> list[dict[str, Any]]:
        self.reads.append((int(channel_id), limit, after))
        if int(channel_id) in self.unreadable:
            missing = {"code": 50001, "message": "Missing Access"}
            raise discord.Forbidden(Answer(403, "Forbidden"), missing)  # type: ignore[arg-type]
        assert around is None, "not used by the front"
        stored = sorted(self._stored(channel_id), key=lambda m: int(m["id"]))
        if after is not None:
            page = [m for m in stored if int(m["id"]) > after][:limit]
        else:
            page = [m for m in stored if before is None or int(m["id"]) < before][-limit:]
        return page[::-1]

    async def send_message(
        self, channel_id: int, *, params: discord.http.MultipartParameters
    ) -> dict[str, Any]:
        payload = params.payload
        if payload is None:  # with files: the JSON is one part of the multipart body
            part = next(p for p in params.multipart if p["name"] == "payload_json")
            payload = json.loads(part["value"])
        channel = self.state.get_channel(int(channel_id))
        assert channel is not None, f"unknown channel {channel_id}"
        attachments = []
        for file in params.files or []:
            path = Path(f"dpytest_{GuildHttp.fileno}.dat")
            GuildHttp.fileno += 1
            file.fp.seek(0)
            path.write_bytes(file.fp.read())
            attachments.append(dpytest.backend.make_attachment(path, file.filename))
        self.calls.append(
            Sent("send", int(channel_id), payload, [f.filename or "" for f in params.files or []])
        )
        data = dpytest.factories.make_message_dict(
            channel,
            self.state.user,
            content=payload.get("content") or "",
            embeds=[discord.Embed.from_dict(e) for e in payload.get("embeds") or []],
            attachments=attachments,
            guild_id=channel.guild.id,
        )
        data["components"] = payload.get("components") or []
        if payload.get("message_reference"):
            data["type"] = discord.MessageType.reply.value
            data["message_reference"] = payload["message_reference"]
        self.state.parse_message_create(data)
        self._stored(channel_id).append(data)
        message = self.state._get_message(data["id"])
        await dpytest.callbacks.dispatch_event("send_message", message)
        return data

    async def edit_message(
        self, channel_id: int, message_id: int, *, params: discord.http.MultipartParameters
    ) -> dict[str, Any]:
        payload = dict(params.payload or {})
        self.calls.append(Sent("edit", int(channel_id), {"id": message_id, **payload}))
        stored = self._stored(channel_id)
        index = next(i for i, m in enumerate(stored) if m["id"] == int(message_id))
        payload.pop("allowed_mentions", None)
        stored[index] = {
            **stored[index],
            **payload,
            "edited_timestamp": discord.utils.utcnow().isoformat(),
        }
        return stored[index]

    async def start_thread_with_message(
        self,
        channel_id: int,
        message_id: int,
        *,
        name: str,
        auto_archive_duration: int,
        rate_limit_per_user: int | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        channel = self.state.get_channel(int(channel_id))
        assert isinstance(channel, discord.TextChannel)
        self.calls.append(Sent("thread", channel.id, {"message_id": message_id, "name": name}))
        data = thread_payload(channel, message_id, self.state.self_id or 0, name)
        data["thread_metadata"]["auto_archive_duration"] = auto_archive_duration
        self.threads[data["id"]] = data
        self.state.parse_thread_create({**data, "newly_created": True})  # type: ignore[typeddict-item]
        started = next(m for m in self._stored(channel.id) if m["id"] == int(message_id))
        thread, me = self.state.get_channel(int(message_id)), self.state.user
        assert isinstance(thread, discord.Thread) and me is not None
        starter = dpytest.factories.make_message_dict(thread, me, content="")  # type: ignore[call-overload]
        starter["type"] = discord.MessageType.thread_starter_message.value
        starter["guild_id"] = channel.guild.id
        starter["message_reference"] = {
            "message_id": int(message_id),
            "channel_id": channel.id,
            "guild_id": channel.guild.id,
        }
        starter["referenced_message"] = started
        self.store(int(message_id), starter)
        return data


@dataclass
class Guild:
    """One guild "Acme" with #vigil-alerts, #vigil and #random, users ana (role oncall) and bob,
    and the bot, whose client has the front's own intents."""

    client: discord.Client
    front: DiscordFront
    recorder: Recorder
    app: VigilApp
    config: dpytest.RunnerConfig
    http: GuildHttp
    users: dict[str, discord.User] = field(default_factory=dict)
    roles: dict[str, list[discord.Role]] = field(default_factory=dict)  # in the first guild

    @property
    def me(self) -> discord.ClientUser:
        assert self.client.user is not None
        return self.client.user

    @property
    def guild(self) -> discord.Guild:
        return self.config.guilds[0]

    def channel(self, name: str, guild: discord.Guild | None = None) -> discord.TextChannel:
        found = discord.utils.get((guild or self.guild).text_channels, name=name)
        assert found is not None, name
        return found

    def member_payload(
        self, name: str, guild: discord.Guild | None = None, roles: list[discord.Role] | None = None
    ) -> dict[str, Any]:
        """The partial member Discord puts in a guild message or interaction (in the first
        guild, ``name``'s roles there, unless told otherwise)."""
        guild = guild or self.guild
        if roles is None:
            roles = self.roles.get(name, []) if guild == self.guild else []
        ids = [r.id for r in roles]
        return dpytest.factories.make_member_dict(guild, self.users[name], ids)

    def member(
        self, name: str, guild: discord.Guild | None = None, roles: list[discord.Role] | None = None
    ) -> discord.Member:
        state = dpytest.backend.get_state()
        data = self.member_payload(name, guild, roles)
        return discord.Member(data=data, guild=guild or self.guild, state=state)  # type: ignore[arg-type]

    def user_thread(self, channel: str, owner: str) -> discord.Thread:
        """A thread a user started (THREAD_CREATE as the gateway sends it)."""
        thread_id = dpytest.factories.make_id()
        data = thread_payload(self.channel(channel), thread_id, self.users[owner].id, "chat")
        self.http.threads[thread_id] = data
        dpytest.backend.get_state().parse_thread_create({**data, "newly_created": True})  # type: ignore[typeddict-item]
        thread = self.guild.get_thread(thread_id)
        assert thread is not None
        return thread

    async def say(
        self,
        text: str,
        channel: str | discord.abc.Messageable = "vigil",
        user: str = "ana",
        *,
        replying_to: discord.Message | None = None,
        wait: bool = True,
        roles: list[discord.Role] | None = None,
        ping: bool = False,
    ) -> discord.Message:
        """A user's message as the gateway delivers it (author, partial member with roles,
        mentions, and for a reply the message it replies to, whose author it pings when
        ``ping``); the bot's events run."""
        where = self.channel(channel) if isinstance(channel, str) else channel
        guild = getattr(where, "guild", None) or self.guild
        mentioned = [u for u in (self.me, *self.users.values()) if f"<@{u.id}>" in text]
        if ping and replying_to is not None and replying_to.author not in mentioned:
            mentioned.append(replying_to.author)  # a reply pings its author
        data = dpytest.factories.make_message_dict(
            where, self.users[user], content=text, mentions=mentioned
        )
        data["guild_id"] = guild.id  # (dpytest leaves it out in threads)
        data["member"] = self.member_payload(user, guild, roles)
        del data["member"]["user"]  # a message's member has no user: it is the author
        if replying_to is not None:
            data["type"] = discord.MessageType.reply.value
            data["message_reference"] = {
                "message_id": replying_to.id,
                "channel_id": replying_to.channel.id,
                "guild_id": guild.id,
            }
            data["referenced_message"] = dpytest.factories.dict_from_message(replying_to)
        state = dpytest.backend.get_state()
        state.parse_message_create(data)
        self.http.store(where.id, data)  # type: ignore[attr-defined]
        if wait:
            await dpytest.run_all_events()
        message = state._get_message(data["id"])
        assert message is not None
        return message


def sent() -> list[discord.Message]:
    """Every message the bot sent since the last call."""
    out = []
    while not dpytest.sent_queue.empty():
        out.append(dpytest.get_message())
    return out


MakeGuild = Callable[..., Awaitable[Guild]]


@pytest.fixture
async def make_guild(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MakeGuild]:
    """``await make_guild(guilds=["Acme", "Other"], served=["Acme"])``: the bot in those
    guilds (each with #vigil-alerts, #vigil and #random and a role oncall; ana has it in the
    first), ``DISCORD_GUILD_IDS`` set to the ids of ``served`` and ``also_served`` (None and
    (): not set), then ready; with ``sync``, ``/vigil`` is registered when ready; without
    ``listen``, the front only posts (the scheduler role)."""
    monkeypatch.chdir(tmp_path)  # dpytest keeps sent attachments as ./dpytest_N.dat

    async def make(
        guilds: list[str] | None = None,
        served: list[str] | None = None,
        also_served: Sequence[int] = (),
        sync: bool = False,
        listen: bool = True,
    ) -> Guild:
        client = discord.Client(intents=intents())
        await client._async_setup_hook()  # what login() does first; dpytest has no login
        dpytest.configure(
            client,
            guilds=guilds or ["Acme"],
            text_channels=["vigil-alerts", "vigil", "random"],
            voice_channels=0,
            members=0,
        )
        config = dpytest.get_config()
        state = dpytest.backend.get_state()
        http = GuildHttp(loop=asyncio.get_running_loop())
        http.state = state
        client.http = state.http = http
        # GUILD_CREATE carries the bot's own member, which discord.py keeps whatever the
        # intents; dpytest adds it as GUILD_MEMBER_ADD, kept only with the members intent
        assert client.user is not None
        oncall: list[discord.Role] = []
        for each in config.guilds:
            me = discord.Member._from_client_user(user=client.user, guild=each, state=state)
            each._add_member(me)
            oncall.append(dpytest.backend.make_role("oncall", each))
        names = ("ana", "bob")
        users = {name: dpytest.backend.make_user(name, n + 1) for n, name in enumerate(names)}
        env: dict[str, str] = {}
        if served is not None or also_served:
            ids = [g.id for g in config.guilds if g.name in (served or [])] + list(also_served)
            env["DISCORD_GUILD_IDS"] = ",".join(map(str, ids))
        app = VigilApp(make_settings(**env), knowledge=False, registry=demo_registry())
        recorder = Recorder(app)
        if sync:
            state.application_id = client.user.id  # what READY brings
        front = DiscordFront(recorder, client=client, sync_commands=sync, listen=listen)
        client.dispatch("ready")
        await dpytest.run_all_events()
        return Guild(client, front, recorder, app, config, http, users, {"ana": oncall[:1]})

    yield make
    await dpytest.empty_queue()


@pytest.fixture
async def guild(make_guild: MakeGuild) -> Guild:
    return await make_guild()


async def alert_reply(app: VigilApp) -> Reply:
    """The message the alerts job posts for one memory leak on payments-2 (with its chart)."""
    from handlers import alerts
    from tests.handlers.test_alertbook import T0, detection

    app.deps.detect = lambda now: [detection(0)]
    app.deps.clock = lambda: T0
    ((channel, reply),) = await alerts.check(
        ChatRequest("alerts", platform="scheduler", user="vigil"), app.deps
    )
    assert channel == "alerts"
    return reply


def buttons_of(message: discord.Message) -> list[tuple[str | None, str | None]]:
    return [
        (child.label, child.custom_id)
        for row in message.components
        if isinstance(row, discord.ActionRow)
        for child in row.children
        if isinstance(child, discord.Button)
    ]
