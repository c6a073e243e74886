"""Sending rendered messages to channels and interaction followups, and editing posted ones.

Nothing here raises into the caller: a send or an edit that Discord refuses is logged (status
and Discord's one-line reason, never the message) and the rest goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.discordbot.views import build_view
from bot.render.discord import DiscordMessage, amended
from handlers.types import Amend

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()


@dataclass(frozen=True)
class Posted:
    """Where a message went: what ``MessageRefs`` keeps for each ref."""

    channel_id: int
    message_id: int

    @classmethod
    def of(cls, message: discord.Message) -> Posted:
        return cls(message.channel.id, message.id)


@dataclass(frozen=True)
class Edit:
    """One edit of a posted message: ``posted`` None is the message whose button was pressed."""

    posted: Posted | None
    statuses: tuple[str, ...]
    close: bool


def plan_amends(
    amends: Sequence[Amend],
    find: Callable[[str], list[Posted]],
    pressed_id: int | None = None,
) -> list[Edit]:
    """The edits for ``amends``: one per message, with all its statuses in order, each once
    (``find`` gives the messages of a ref; ``ref=None`` is the pressed message, if any). A ref
    nothing is remembered for (the message was posted before a restart, or long ago) edits the
    pressed message, when there is one: it is about what was pressed."""
    edits: dict[int, Edit] = {}
    for amend in amends:
        found = find(amend.ref) if amend.ref is not None else []
        if found:
            targets: list[Posted | None] = [
                None if p.message_id == pressed_id else p for p in found
            ]
        else:
            targets = [None] if pressed_id is not None else []
        for posted in targets:
            key = posted.message_id if posted is not None else pressed_id
            assert key is not None
            before = edits.get(key, Edit(posted, (), False))
            statuses = before.statuses
            if amend.status not in statuses:
                statuses = (*statuses, amend.status)
            edits[key] = Edit(posted, statuses, before.close or amend.close)
    return list(edits.values())


def reason(exc: BaseException) -> str:
    """``403 Forbidden (50013: Missing Permissions)``: what to log of a refusal."""
    if isinstance(exc, discord.HTTPException):
        text = (exc.text or "").splitlines()[0][:200] if exc.text else ""
        code = f"{exc.code}: " if exc.code else ""
        return f"{exc.status} {getattr(exc.response, 'reason', '')} ({code}{text})".strip()
    return f"{type(exc).__name__}: {exc}"[:300]


def message_kwargs(message: DiscordMessage) -> dict[str, Any]:
    """The keyword arguments of ``send`` for one message, without the empty ones."""
    kwargs: dict[str, Any] = {"allowed_mentions": NO_PINGS}
    if message.content:
        kwargs["content"] = message.content
    if message.embeds:
        kwargs["embeds"] = list(message.embeds)
    if message.attachments:
        kwargs["files"] = message.files()
    view = build_view(message.buttons)
    if view is not None:
        kwargs["view"] = view
    return kwargs


async def send_all(
    destination: discord.abc.Messageable,
    messages: Sequence[DiscordMessage],
    *,
    reference: discord.Message | None = None,
    where: str = "",
) -> list[discord.Message]:
    """Send ``messages`` in order, the first as a reply to ``reference``; stops at the first
    refusal (later parts make no sense without the earlier ones)."""
    sent: list[discord.Message] = []
    for number, message in enumerate(messages):
        kwargs = message_kwargs(message)
        if number == 0 and reference is not None:
            kwargs["reference"] = reference
            kwargs["mention_author"] = False
        try:
            sent.append(await destination.send(**kwargs))
        except (discord.HTTPException, ValueError, TypeError) as exc:
            log.warning("discord: posting to %s failed: %s", where or "a channel", reason(exc))
            gone = isinstance(exc, discord.HTTPException) and exc.status == 400
            if reference is not None and number == 0 and gone:
                reference = None  # the message replied to may be gone: try without the reply
                try:
                    kwargs.pop("reference", None)
                    kwargs.pop("mention_author", None)
                    kwargs.update(message_kwargs(message))  # fresh files
                    sent.append(await destination.send(**kwargs))
                    continue
                except (discord.HTTPException, ValueError, TypeError) as again:
                    log.warning("discord: posting to %s failed: %s", where, reason(again))
            break
    return sent


async def followup_all(
    interaction: discord.Interaction,
    messages: Sequence[DiscordMessage],
    *,
    ephemeral: bool,
) -> list[discord.Message]:
    """Send ``messages`` as followups of an answered (deferred) interaction."""
    sent: list[discord.Message] = []
    for message in messages:
        try:
            posted = await interaction.followup.send(
                **message_kwargs(message), ephemeral=ephemeral, wait=True
            )
        except (discord.HTTPException, ValueError, TypeError) as exc:
            log.warning("discord: answering an interaction failed: %s", reason(exc))
            break
        sent.append(posted)
    return sent


async def send_notice(interaction: discord.Interaction, text: str) -> None:
    """A one-line ephemeral followup (an expired button, a failed answer)."""
    try:
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
    except discord.HTTPException as exc:
        log.warning("discord: answering an interaction failed: %s", reason(exc))


def edit_kwargs(
    embeds: Sequence[discord.Embed], statuses: Sequence[str], close: bool
) -> dict[str, Any]:
    """The ``edit`` arguments that append ``statuses`` and, when ``close``, drop the buttons
    (left out, the buttons stay as they are)."""
    new = list(embeds)
    for status in statuses:
        new = amended(new, status)
    kwargs: dict[str, Any] = {"embeds": new, "allowed_mentions": NO_PINGS}
    if close:
        kwargs["view"] = None
    return kwargs


async def edit_posted(
    client: discord.Client, posted: Posted, statuses: Sequence[str], close: bool
) -> bool:
    """Append ``statuses`` to a message posted earlier (fetched first: another amend may have
    changed it since); False when it is gone or the edit is refused."""
    channel = client.get_channel(posted.channel_id) or client.get_partial_messageable(
        posted.channel_id
    )
    try:
        if not isinstance(channel, discord.abc.Messageable):
            return False
        message = await channel.fetch_message(posted.message_id)
        await message.edit(**edit_kwargs(message.embeds, statuses, close))
    except discord.HTTPException as exc:
        log.warning("discord: editing message %s failed: %s", posted.message_id, reason(exc))
        return False
    return True


async def edit_pressed(
    interaction: discord.Interaction, statuses: Sequence[str], close: bool
) -> bool:
    """Append ``statuses`` to the message whose button was pressed (after ``defer()``)."""
    message = interaction.message
    if message is None:
        return False
    try:
        await interaction.edit_original_response(**edit_kwargs(message.embeds, statuses, close))
    except discord.HTTPException as exc:
        log.warning("discord: editing the pressed message failed: %s", reason(exc))
        return False
    return True
