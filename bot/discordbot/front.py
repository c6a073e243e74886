"""The Discord front: discord.py events -> ``ChatRequest`` -> ``Conversation.dispatch`` ->
embeds.

What it answers:

- a message that mentions the bot (or its managed role) and a direct message; a follow-up (a
  reply to one of the bot's messages, or a message in a thread the bot started or was mentioned
  in) when it starts with a command or is a question (``handlers.router.for_vigil``: chatter
  between people is left alone): the answer is a reply to that message (in the thread when it
  is in one);
- ``/vigil SUBCOMMAND ...`` slash commands, one per registry command (``commands.py``): deferred
  at once (Discord's 3 s), answered as followups, ephemeral when ``Reply.ephemeral``;
- alert buttons (``custom_id`` ``vigil:<command>``): the command is dispatched as the presser,
  the pressed message is amended, the answer goes to the message's thread or as a followup.

Requests made in a thread (a message, ``/vigil`` or a button there), a reply to a message that
started a thread, and a button on such a message carry ``ChatRequest.history``, a lazy reader of
that thread (``history.py``, which says what it reads without the ``message_content`` intent);
the rest carry ``None``.

Intents: ``Intents.none()`` plus ``guilds`` (guilds, channels, threads and roles in the cache:
channel names resolve, role names of members are known), ``guild_messages`` and
``dm_messages`` (message events). The privileged ``message_content`` intent is not needed:
Discord delivers the content of messages that mention the bot, of direct messages and of the
bot's own messages without it (discord.py's ``Intents.message_content``), and a reply pings
its author by default, so replies to the bot arrive with their text too. Interactions (slash
commands, buttons) arrive whatever the intents. What goes without the privileged intent: a
follow-up in the bot's thread that does not mention it, or a reply with its ping turned off,
arrives without its text, and is left alone; pass a client with ``message_content`` (and
enable it in the developer portal) to answer those too. ``members`` and ``presences`` are not
used. Outside interactions Discord has no ephemeral messages: an ephemeral reply to a message
(a refusal) is a plain reply to it.

Invite the bot with the scopes ``bot applications.commands`` and the permissions View Channels,
Send Messages, Send Messages in Threads, Create Public Threads, Embed Links, Attach Files and
Read Message History (``permissions=309237763072``).

Servers: set ``DISCORD_GUILD_IDS`` to the id(s) of your server(s), and turn off "Public Bot"
in the developer portal (Bot > Public Bot) so that only you can invite the bot. With it,
messages, slash commands and button presses from any other server are ignored (logged at debug
level), channels are looked up and ``/vigil`` registered only in those servers. Without it and
in more than one server, a warning at start says so, a channel name found in several servers is
used in none, and role names are not given to access rules (role ids are).

Channels: ``channels.yml`` names each Vigil channel on Discord (``discord: vigil-alerts``, or a
channel id), looked up once the gateway is ready (``channels.py``). Incoming messages in the
channels found (and their threads) carry the Vigil name as ``ChatRequest.channel``; elsewhere,
direct messages included, the channel id. The hub's posts go to the channels found; posts made
before the gateway is ready wait (a bounded queue) and go out once it is. A reply with no text
and nothing else (the router's second rate-limit refusal) posts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, Literal

import aiohttp
import discord
from discord import app_commands

from bot.chat import ChatError, Conversation, MessageRefs, Recent
from bot.discordbot import delivery
from bot.discordbot.channels import GUILD_IDS_HINT, ChannelMap, is_thread
from bot.discordbot.commands import build_group
from bot.discordbot.delivery import Posted
from bot.discordbot.history import thread_loader, thread_of
from bot.discordbot.views import pressed_custom_id
from bot.render.discord import CUSTOM_ID_PREFIX, CustomIds, render, thread_name
from handlers.router import for_vigil
from handlers.types import Amend, ChatRequest, Platform, Reply

log = logging.getLogger(__name__)

READY_WAIT_S = 20.0
STOP_GRACE_S = 10.0
PENDING_MAX = 200
GUILD_SYNC_MAX = 10  # up to this many guilds, slash commands are synced per guild (instant)
THREAD_ARCHIVE_MIN: Literal[1440] = 1440  # a day without messages
FAILED = (
    "Sorry, something went wrong answering that (error {error_id}); the details are in Vigil's log."
)
EXPIRED = (
    "That button has expired (Vigil restarted since it was posted). Use `/vigil` with the "
    "command instead, or mention me with it."
)


def intents() -> discord.Intents:
    """The smallest intents that work (see the module docstring)."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    return wanted


class DiscordFront:
    platform: Platform = "discord"

    def __init__(
        self,
        app: Conversation,
        *,
        client: discord.Client | None = None,
        sync_commands: bool = True,
        ready_wait_s: float = READY_WAIT_S,
        listen: bool = True,
    ) -> None:
        """``listen=False``: post only (the scheduler role): messages and interactions are
        left to the chat workers, and ``/vigil`` is not registered from here."""
        self.app = app
        self.client = client or discord.Client(
            intents=intents(), allowed_mentions=delivery.NO_PINGS
        )
        self.ids = CustomIds()
        self.refs: MessageRefs[Posted] = MessageRefs()
        self.threads: Recent[int] = Recent(5000)
        self.channels = ChannelMap(
            app.settings.channels.platform_names("discord"), app.settings.env.DISCORD_GUILD_IDS
        )
        self._pending: deque[tuple[str, Reply]] = deque(maxlen=PENDING_MAX)
        self._ready = False
        self._stopping = False
        self._busy: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._failure: str | None = None
        self._sync = sync_commands and listen
        self._synced = False
        self._ready_wait_s = ready_wait_s
        self.tree = self._command_tree()
        handlers = {
            "on_ready": self.on_ready,
            "on_message": self.on_message,
            "on_interaction": self.on_interaction,
            "on_guild_join": self.on_guild_join,
        }
        if not listen:
            del handlers["on_message"], handlers["on_interaction"]
        for name, handler in handlers.items():  # what ``@client.event`` does
            setattr(self.client, name, handler)

    def _command_tree(self) -> app_commands.CommandTree[Any] | None:
        tree = getattr(self.client, "tree", None)  # a commands.Bot brings its own
        if not isinstance(tree, app_commands.CommandTree):
            try:
                tree = app_commands.CommandTree(self.client)
            except discord.ClientException as exc:
                log.warning("discord: no /vigil slash commands: %s", exc)
                return None
        registry = getattr(self.app, "registry", None)
        if registry is None:
            log.warning("discord: the app has no command registry; no /vigil slash commands")
            return tree
        tree.add_command(build_group(registry, self.answer_slash), override=True)
        return tree

    # ----------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        token = self.app.settings.env.DISCORD_TOKEN
        if token is None:
            raise ChatError("discord: DISCORD_TOKEN is not set")
        try:
            await self.client.login(token.get_secret_value())
        except discord.LoginFailure as exc:
            await self._close_quietly()
            raise ChatError(
                f"discord: DISCORD_TOKEN was refused ({exc}); copy the bot token from the "
                "Discord developer portal (Bot > Reset Token) into .env"
            ) from None
        except discord.HTTPException as exc:
            await self._close_quietly()
            raise ChatError(f"discord: login failed ({delivery.reason(exc)})") from None
        except (aiohttp.ClientError, OSError) as exc:
            await self._close_quietly()
            raise ChatError(
                f"discord: cannot reach Discord ({type(exc).__name__}: {exc}); check the "
                "network or a proxy"
            ) from None
        except Exception as exc:
            log.exception("discord: login failed")
            await self._close_quietly()
            raise ChatError(f"discord: login failed ({type(exc).__name__}: {exc})") from None
        self._runner = asyncio.create_task(self._connect(), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        await asyncio.wait(
            {ready, self._runner}, timeout=self._ready_wait_s, return_when="FIRST_COMPLETED"
        )
        ready.cancel()
        if self._runner.done() and self._failure is not None:
            await self._close_quietly()
            raise ChatError(f"discord: the gateway refused the connection ({self._failure})")
        if not self._ready:
            log.warning(
                "discord: not ready after %.0fs; posts wait until the gateway connects",
                self._ready_wait_s,
            )

    async def _connect(self) -> None:
        try:
            await self.client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except discord.PrivilegedIntentsRequired as exc:
            self._failure = f"privileged intents not enabled for shard {exc.shard_id}"
            log.error("discord: %s", self._failure)
        except Exception as exc:
            self._failure = delivery.reason(exc)
            log.error("discord: the gateway connection ended: %s", self._failure)

    async def stop(self) -> None:
        self._stopping = True
        busy = {t for t in self._busy if not t.done() and t is not asyncio.current_task()}
        if busy:
            _, late = await asyncio.wait(busy, timeout=STOP_GRACE_S)
            if late:
                log.warning("discord: %d answer(s) still under way at stop", len(late))
        await self._close_quietly()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
            self._runner = None

    async def _close_quietly(self) -> None:
        try:
            await self.client.close()
        except Exception as exc:
            log.debug("discord: closing the client: %s", delivery.reason(exc))

    def health(self) -> dict[str, Any]:
        latency = self.client.latency
        status: dict[str, Any] = {
            "ok": self._ready and not self.client.is_closed() and self._failure is None,
            "guilds": len(self.client.guilds),
            "latency_ms": round(latency * 1000) if math.isfinite(latency) else None,
        }
        if self._failure:
            status["error"] = self._failure
        return status

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        """Counts the current task as an answer under way (``stop`` waits for those)."""
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._busy.discard(task)

    # ----------------------------------------------------------------------- channels

    async def on_ready(self) -> None:
        self.channels.resolve(self.client)
        self._ready = True
        log.info(
            "discord: connected as %s to %d guild(s)", self.client.user, len(self.client.guilds)
        )
        while self._pending:
            channel, reply = self._pending.popleft()
            try:
                await self._post_now(channel, reply)
            except Exception:
                log.exception("discord: posting a queued message to #%s failed", channel)
        if self._sync and not self._synced and self.tree is not None:
            self._synced = True
            await self.sync_commands()

    async def sync_commands(self, only: discord.Guild | None = None) -> None:
        """Register ``/vigil``: in the served guilds of ``DISCORD_GUILD_IDS`` when it is set,
        else per guild (visible at once) up to ``GUILD_SYNC_MAX`` guilds, else globally
        (Discord takes up to an hour to show those); ``only``: in that guild alone."""
        if self.tree is None:
            return
        guilds = [only] if only is not None else self.channels.served_guilds(self.client)
        restricted = bool(self.channels.guild_ids)
        if restricted and not guilds:
            log.warning("discord: /vigil not registered: not in any guild of DISCORD_GUILD_IDS")
            return
        try:
            if restricted or only is not None or 0 < len(guilds) <= GUILD_SYNC_MAX:
                for guild in guilds:
                    self.tree.copy_global_to(guild=guild)
                    await self.tree.sync(guild=guild)
            else:
                await self.tree.sync()
        except Exception as exc:
            log.warning(
                "discord: registering /vigil failed: %s (invite the bot with the "
                "applications.commands scope)",
                delivery.reason(exc),
            )
        else:
            log.info("discord: /vigil registered in %d guild(s)", len(guilds) or 0)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """The bot was added to a server. One of ``DISCORD_GUILD_IDS``, or the first one
        without it: channels are looked up again and ``/vigil`` registered there. Any other:
        a warning, and nothing changes."""
        if not self.channels.serves(guild.id):
            log.warning(
                "discord: added to guild %s, which DISCORD_GUILD_IDS leaves out; ignored",
                guild.id,
            )
            return
        if not self.channels.guild_ids and len(self.client.guilds) > 1:
            log.warning(
                "discord: added to guild %s; now in %d guilds without DISCORD_GUILD_IDS: "
                "nothing is looked up there, and role names are no longer given; %s",
                guild.id,
                len(self.client.guilds),
                GUILD_IDS_HINT,
            )
            return
        log.info("discord: added to guild %s; looking up its channels", guild.id)
        self.channels.resolve(self.client)
        if self._sync and self._synced:  # (else on_ready registers it)
            await self.sync_commands(only=guild)

    def _serves(self, guild_id: int | None, what: str) -> bool:
        """Whether ``guild_id`` is served; a debug line when it is not."""
        if self.channels.serves(guild_id):
            return True
        log.debug("discord: %s from guild %s ignored (not in DISCORD_GUILD_IDS)", what, guild_id)
        return False

    def _role_names(self, guild_id: int | None) -> bool:
        return self.channels.trusts_role_names(guild_id, len(self.client.guilds))

    # ----------------------------------------------------------------------- messages

    def _mention_pattern(self, guild: discord.Guild | None) -> re.Pattern[str] | None:
        me = self.client.user
        if me is None:
            return None
        tokens = [rf"<@!?{me.id}>"]
        role = guild.self_role if guild is not None else None
        if role is not None:
            tokens.append(rf"<@&{role.id}>")
        return re.compile("|".join(tokens))

    def addressed(self, message: discord.Message) -> tuple[bool, bool]:
        """(answer it, its text mentions the bot). A mention in the text and a direct message
        are answered; a follow-up (a reply to the bot, a message in its thread) only when it
        is for Vigil (``handlers.router.for_vigil``); the rest is left alone."""
        me = self.client.user
        if me is None or message.author.bot or message.webhook_id is not None:
            return False, False
        if message.author.id == me.id:
            return False, False
        guild_id = message.guild.id if message.guild is not None else None
        if not self._serves(guild_id, "a message"):
            return False, False
        pattern = self._mention_pattern(message.guild)
        mentioned = pattern is not None and pattern.search(message.content) is not None
        if mentioned or isinstance(message.channel, discord.DMChannel):
            return True, mentioned
        # the rest arrive without their text unless the reply pings the bot or the client has
        # the message_content intent: an empty one is left alone
        if not message.content.strip():
            return False, False
        resolved = message.reference.resolved if message.reference is not None else None
        channel = message.channel
        follow_up = (isinstance(resolved, discord.Message) and resolved.author.id == me.id) or (
            isinstance(channel, discord.Thread)
            and (channel.id in self.threads or channel.owner_id == me.id)
        )
        if not follow_up:
            return False, False
        if not for_vigil(self._text(message), self._is_command):
            log.debug("discord: a follow-up (%s) is not for Vigil; left alone", message.id)
            return False, False
        return True, False

    def _is_command(self, word: str) -> bool:
        registry = getattr(self.app, "registry", None)
        return registry is not None and registry.get(word.lower()) is not None

    def _text(self, message: discord.Message) -> str:
        """The text of ``message`` without the bot's mentions."""
        pattern = self._mention_pattern(message.guild)
        text = pattern.sub(" ", message.content) if pattern else message.content
        return re.sub(r"[ \t]{2,}", " ", text).strip()

    async def on_message(self, message: discord.Message) -> None:
        if self._stopping:
            return
        answer, mentioned = self.addressed(message)
        if not answer:
            return
        with self._tracked():
            try:
                await self._answer(message, mentioned)
            except Exception:
                error_id = _failure("a message", message.id)
                with contextlib.suppress(discord.HTTPException):
                    await message.channel.send(
                        FAILED.format(error_id=error_id),
                        reference=message,
                        mention_author=False,
                        allowed_mentions=delivery.NO_PINGS,
                    )

    async def _answer(self, message: discord.Message, mentioned: bool) -> None:
        if mentioned and isinstance(message.channel, discord.Thread):
            self.threads.add(message.channel.id)
        guild_id = message.guild.id if message.guild is not None else None
        request = self.channels.request(
            self._text(message),
            message.author,
            message.channel,
            guild=message.guild,
            role_names=self._role_names(guild_id),
        )
        with contextlib.suppress(discord.HTTPException):
            await message.channel.typing()
        resolved = message.reference.resolved if message.reference is not None else None
        referenced = resolved if isinstance(resolved, discord.Message) else None
        request = self._with_history(request, thread_of(message.channel, referenced))
        reply = await self.app.dispatch(request)
        await self.deliver(reply, message.channel, reference=message)

    def _with_history(self, request: ChatRequest, thread: Any) -> ChatRequest:
        """``request`` with a lazy reader of ``thread`` (None: as it is)."""
        if thread is None:
            return request
        me = self.client.user.id if self.client.user is not None else None
        return replace(request, history=thread_loader(thread, me))

    async def deliver(
        self,
        reply: Reply,
        destination: discord.abc.Messageable,
        *,
        reference: discord.Message | None = None,
    ) -> list[discord.Message]:
        """Send ``reply`` (its thread replies in a thread from it), remember its refs, apply
        its amends; nothing for an empty reply."""
        if _empty(reply):
            return []
        where = self._where(destination)
        sent = await delivery.send_all(
            destination, render(reply, self.ids), reference=reference, where=where
        )
        await self._after_sent(reply, sent, destination)
        return sent

    async def _after_sent(
        self,
        reply: Reply,
        sent: Sequence[discord.Message],
        destination: discord.abc.Messageable | None,
    ) -> None:
        if sent and reply.refs:
            self.refs.remember(reply.refs, Posted.of(sent[-1]))
        if sent and reply.thread:
            await self._post_thread(reply, sent[-1], destination)
        if reply.amends:
            await self.apply_amends(reply.amends)

    async def _post_thread(
        self,
        reply: Reply,
        anchor: discord.Message,
        destination: discord.abc.Messageable | None,
    ) -> None:
        """The thread replies of ``reply``, in a thread started from ``anchor``."""
        target: discord.abc.Messageable | None = None
        channel = anchor.channel
        if isinstance(channel, discord.Thread | discord.DMChannel):
            target = channel
        else:
            try:
                thread = await anchor.create_thread(
                    name=thread_name(reply.text), auto_archive_duration=THREAD_ARCHIVE_MIN
                )
            except (discord.HTTPException, ValueError) as exc:
                log.warning(
                    "discord: starting a thread failed (%s); the details follow in the channel",
                    delivery.reason(exc),
                )
                target = destination or _messageable(channel)
            else:
                self.threads.add(thread.id)
                target = thread
        if target is None:
            return
        for answer in reply.thread:
            await self.deliver(answer, target)

    def _where(self, destination: Any) -> str:
        name = getattr(destination, "name", None)
        return f"#{name}" if name else f"channel {getattr(destination, 'id', '?')}"

    # ----------------------------------------------------------------------- hub sink

    async def post(self, channel: str, reply: Reply) -> None:
        """Post to the Discord channel(s) found for Vigil channel ``channel``; skipped when it
        has no Discord name; queued until the gateway is ready."""
        if channel not in self.channels.names or self._stopping:
            log.debug("discord: #%s has no Discord channel (or the front stopped)", channel)
            return
        if not self._ready:
            if len(self._pending) == self._pending.maxlen:
                log.warning("discord: not connected yet; the oldest queued post is dropped")
            self._pending.append((channel, reply))
            return
        await self._post_now(channel, reply)

    async def _post_now(self, channel: str, reply: Reply) -> None:
        targets = self.channels.targets(channel)
        if not targets:
            log.debug("discord: #%s was not found on Discord; skipped", channel)
            if reply.amends:
                await self.apply_amends(reply.amends)
            return
        for number, target in enumerate(targets):
            # amends apply once, whatever the number of guilds
            once = reply if number == len(targets) - 1 else replace(reply, amends=())
            await self.deliver(once, target)

    # ----------------------------------------------------------------------- amends

    async def apply_amends(
        self, amends: Sequence[Amend], *, pressed: discord.Interaction | None = None
    ) -> None:
        """Edit the messages named by ``amends`` (by ref; ``ref=None``: the pressed one), each
        once with all its statuses."""
        pressed_id = pressed.message.id if pressed is not None and pressed.message else None
        for edit in delivery.plan_amends(amends, self.refs.find, pressed_id):
            if edit.posted is not None:
                await delivery.edit_posted(self.client, edit.posted, edit.statuses, edit.close)
            elif pressed is not None:
                await delivery.edit_pressed(pressed, edit.statuses, edit.close)

    # ----------------------------------------------------------------------- interactions

    async def answer_slash(self, interaction: discord.Interaction, text: str) -> None:
        """What every ``/vigil`` subcommand calls with its command text: defer (Discord wants
        an answer within 3 s), dispatch, answer as followups; never raises. From a guild not
        served: no answer at all."""
        if not self._serves(interaction.guild_id, "a slash command"):
            return
        with self._tracked():
            try:
                await interaction.response.defer(thinking=True)
            except discord.HTTPException as exc:
                log.warning(
                    "discord: /vigil %s came too late to answer: %s",
                    text.split(" ")[0],
                    delivery.reason(exc),
                )
                return
            try:
                await self._answer_slash(interaction, text)
            except Exception:
                error_id = _failure("a slash command", interaction.id)
                await delivery.send_notice(interaction, FAILED.format(error_id=error_id))

    async def _answer_slash(self, interaction: discord.Interaction, text: str) -> None:
        reply = await self.app.dispatch(await self._interaction_request(interaction, text))
        empty = _empty(reply)
        if reply.ephemeral or empty:
            # after a public "thinking..." the first followup is public whatever its flags:
            # the placeholder goes first
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
        if empty:
            return
        messages = render(reply, self.ids)
        sent = await delivery.followup_all(interaction, messages, ephemeral=reply.ephemeral)
        if reply.ephemeral:
            sent = []  # nothing to thread or to amend later
        await self._after_sent(reply, sent, _messageable(interaction.channel))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        custom_id = pressed_custom_id(interaction)
        if custom_id is None or not custom_id.startswith(CUSTOM_ID_PREFIX) or self._stopping:
            return
        if not self._serves(interaction.guild_id, "a button press"):
            return
        await self.press(interaction, custom_id)

    async def press(self, interaction: discord.Interaction, custom_id: str) -> None:
        """A pressed Vigil button: its command as the presser; ``ref=None`` amends edit the
        pressed message; the answer goes to the message's thread, or as a followup."""
        with self._tracked():
            try:
                await interaction.response.defer()
            except discord.HTTPException as exc:
                log.warning(
                    "discord: a button press came too late to answer: %s", delivery.reason(exc)
                )
                return
            command = self.ids.decode(custom_id)
            if command is None:
                await delivery.send_notice(interaction, EXPIRED)
                return
            try:
                await self._answer_press(interaction, command)
            except Exception:
                error_id = _failure("a button press", interaction.id)
                await delivery.send_notice(interaction, FAILED.format(error_id=error_id))

    async def _answer_press(self, interaction: discord.Interaction, command: str) -> None:
        reply = await self.app.dispatch(await self._interaction_request(interaction, command))
        if reply.amends:
            await self.apply_amends(reply.amends, pressed=interaction)
            reply = replace(reply, amends=())
        if _empty(reply):
            return
        message = interaction.message
        thread = message.thread if message is not None else None
        if thread is not None and not reply.ephemeral:
            await self.deliver(reply, thread)
            return
        messages = render(reply, self.ids)
        sent = await delivery.followup_all(interaction, messages, ephemeral=reply.ephemeral)
        if not reply.ephemeral:
            await self._after_sent(reply, sent, _messageable(interaction.channel))

    async def _interaction_request(
        self, interaction: discord.Interaction, text: str
    ) -> ChatRequest:
        """The request of a slash command or a button press; its history is the thread it
        was used in, or the thread the pressed message started."""
        channel = await self._interaction_channel(interaction)
        request = self.channels.request(
            text,
            interaction.user,
            channel,
            channel_id=interaction.channel_id,
            guild=interaction.guild,
            role_names=self._role_names(interaction.guild_id),
        )
        return self._with_history(request, thread_of(channel, interaction.message))

    async def _interaction_channel(self, interaction: discord.Interaction) -> Any:
        """The interaction's channel; one known only by id (a ``PartialMessageable``, or a
        thread without its parent) is looked up in the cache, else fetched once: a thread
        counts as its parent, so ``/vigil ack`` in an alert's thread is in #alerts."""
        channel: Any = interaction.channel
        partial = isinstance(channel, discord.PartialMessageable)
        if channel is None or not (
            partial or (is_thread(channel) and not getattr(channel, "parent_id", None))
        ):
            return channel
        cached = self.client.get_channel(channel.id)
        if cached is not None:
            return cached
        if interaction.guild_id is None:
            return channel  # a direct message: no parent to find
        try:
            return await self.client.fetch_channel(channel.id)
        except (discord.HTTPException, discord.InvalidData) as exc:
            log.debug("discord: looking up channel %s failed: %s", channel.id, delivery.reason(exc))
            return channel


def _empty(reply: Reply) -> bool:
    """Nothing to post (the router's second rate-limit refusal: the user was told once)."""
    return not (reply.text.strip() or reply.parts or reply.thread or reply.amends)


def _messageable(channel: object) -> discord.abc.Messageable | None:
    return channel if isinstance(channel, discord.abc.Messageable) else None


def _failure(what: str, item: int) -> str:
    """Log the exception being handled under a short id a user can quote."""
    error_id = uuid.uuid4().hex[:8]
    log.exception("discord: answering %s (%s) failed (error %s)", what, item, error_id)
    return error_id
