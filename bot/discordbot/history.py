"""A Discord thread's messages for ``ChatRequest.history`` (what ``summarize`` reads).

Which thread: a message in a thread, or a slash command or button press used in one, reads that
thread; a reply outside threads reads the thread of the message it replies to when that message
started one (an alert's); a button pressed on a message that started a thread reads that thread.
Anything else has no history (``None``).

``thread_loader`` returns a lazy loader: nothing is read until a command calls it. It reads
``thread.history(limit=MAX_MESSAGES, oldest_first=True)`` (the thread's first 1,000 messages,
in pages of 100; a log line says when there may be more) within ``TIMEOUT_S``; the bot needs
Read Message History there (in the invite permissions). The message a thread was started from
lives in the parent channel; Discord puts a "thread starter" message at the top of the thread
that refers to it, which is read as that message (the alert a thread details).

Each message becomes a ``ThreadMessage``: ``user`` the author's id (``"vigil"`` for the bot's
own messages: kept, they carry the alert's context), ``ts`` its creation time (UTC), ``text``
its content as sent (mentions as ``<@id>``, matching the ``user`` of the people named), else
its first embed's title and description.

Content needs the ``message_content`` intent, which Vigil does not ask for by default: without
it Discord gives empty content for messages that neither mention the bot nor are its own, so a
thread reads as the bot's messages and those that mentioned it. Empty messages are skipped.
Pass a client with ``message_content`` (and enable it in the developer portal) for whole
threads.

Failure-safe: when Discord refuses (no Read Message History: ``Forbidden``) or cannot be
reached, or the read takes longer than ``TIMEOUT_S``, the loader logs a warning and returns
``[]`` (never a partial thread); the command says it found nothing to read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord

from bot.discordbot.channels import is_thread
from handlers.types import HistoryLoader, ThreadMessage

log = logging.getLogger(__name__)

MAX_MESSAGES = 1000
TIMEOUT_S = 30.0
VIGIL_USER = "vigil"


def thread_of(channel: Any, message: discord.Message | None = None) -> Any:
    """The thread a request made in ``channel`` is about: ``channel`` itself when it is a
    thread; else the thread started from ``message`` (a referenced or pressed message), if
    any; else ``None``."""
    if is_thread(channel) and isinstance(channel, discord.abc.Messageable):
        return channel
    thread = getattr(message, "thread", None) if message is not None else None
    return thread if isinstance(thread, discord.Thread) else None


def thread_loader(
    thread: discord.abc.Messageable,
    me: int | None,
    *,
    limit: int = MAX_MESSAGES,
    timeout_s: float = TIMEOUT_S,
) -> HistoryLoader:
    """A loader of ``thread``'s messages; ``me``: the bot's user id."""
    where = getattr(thread, "id", "?")

    async def load() -> list[ThreadMessage]:
        messages: list[ThreadMessage] = []
        count = 0
        try:
            async with asyncio.timeout(timeout_s):
                async for message in thread.history(limit=limit, oldest_first=True):
                    count += 1
                    read = _message(message, me)
                    if read is not None:
                        messages.append(read)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "text", "") or type(exc).__name__
            log.warning("discord: reading thread %s failed: %s", where, reason)
            return []
        if count >= limit:
            log.info(
                "discord: thread %s may have more than %d messages; the first %d are read",
                where,
                limit,
                limit,
            )
        return messages

    return load


def _message(message: discord.Message, me: int | None) -> ThreadMessage | None:
    if message.type == discord.MessageType.thread_starter_message:
        resolved = message.reference.resolved if message.reference is not None else None
        if not isinstance(resolved, discord.Message):
            return None  # the message the thread started from was deleted
        message = resolved
    text = message.content.strip() or _embed_text(message)
    if not text:
        return None
    user = VIGIL_USER if me is not None and message.author.id == me else str(message.author.id)
    return ThreadMessage(user=user, ts=message.created_at, text=text)


def _embed_text(message: discord.Message) -> str:
    if not message.embeds:
        return ""
    embed = message.embeds[0]
    return "\n".join(p for p in (embed.title, embed.description) if p).strip()
