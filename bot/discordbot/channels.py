"""Vigil channel names <-> Discord channels, and who is asking (``ChatRequest`` fields).

``channels.yml`` names each Vigil channel on Discord by name (``vigil-alerts``, matched in every
guild the bot is in) or by channel id. A message in one of those channels, or in a thread of
one, carries the Vigil name as ``ChatRequest.channel``; any other channel its id.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from handlers.types import ChatRequest

log = logging.getLogger(__name__)

THREAD_TYPES = (
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)


class ChannelMap:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names  # Vigil name -> Discord name or id
        self._by_value = {value.lower(): name for name, value in names.items()}
        self._targets: dict[str, list[discord.abc.Messageable]] = {}
        self._by_id: dict[int, str] = {}

    def resolve(self, client: discord.Client) -> None:
        """Find the configured channels in the guilds the client is in (once it is ready)."""
        targets: dict[str, list[discord.abc.Messageable]] = {}
        missing: list[str] = []
        for name, value in self.names.items():
            found: list[discord.abc.Messageable] = []
            if value.isdigit():
                channel = client.get_channel(int(value))
                if isinstance(channel, discord.abc.Messageable):
                    found.append(channel)
            else:
                for guild in client.guilds:
                    found += [c for c in guild.text_channels if c.name.lower() == value.lower()]
            if not found:
                missing.append(f"{name} ({value})")
            targets[name] = found
        self._targets = targets
        self._by_id = {getattr(c, "id", 0): name for name, found in targets.items() for c in found}
        if missing:
            log.warning(
                "discord: channel(s) not found in the %d guild(s) I am in: %s. Create them, "
                "or set their names (without '#') or ids under channels: in channels.yml, and "
                "let the bot view them",
                len(client.guilds),
                ", ".join(missing),
            )

    def targets(self, name: str) -> list[discord.abc.Messageable]:
        """Where a post to Vigil channel ``name`` goes (empty: not found, or not named)."""
        return list(self._targets.get(name, ()))

    def vigil_name(self, channel: Any, channel_id: int | None = None) -> str:
        """The Vigil name of a platform channel (a thread counts as its parent), else its id."""
        cid = getattr(channel, "id", None) or channel_id or 0
        name = getattr(channel, "name", None)
        if isinstance(channel, discord.Thread):
            cid = channel.parent_id
            name = channel.parent.name if channel.parent is not None else None
        if cid in self._by_id:
            return self._by_id[cid]
        for key in (str(cid), (name or "").lower()):
            if key and key in self._by_value:
                return self._by_value[key]
        return str(cid)

    def request(
        self,
        text: str,
        user: discord.abc.User,
        channel: Any,
        *,
        channel_id: int | None = None,
        guild: discord.Guild | None = None,
    ) -> ChatRequest:
        """The request of ``user`` in ``channel`` (a message's, or an interaction's)."""
        in_thread = isinstance(channel, discord.Thread) or (
            getattr(channel, "type", None) in THREAD_TYPES
        )
        cid = getattr(channel, "id", None) or channel_id
        return ChatRequest(
            text=text,
            user=str(user.id),
            channel=self.vigil_name(channel, channel_id),
            platform="discord",
            thread_id=str(cid) if in_thread and cid else None,
            roles=member_roles(user, guild),
        )


def member_roles(user: discord.abc.User, guild: discord.Guild | None) -> tuple[str, ...]:
    """The names and ids of the member's roles (not @everyone); () outside a guild. A message's
    or an interaction's author comes with its roles: no members intent needed."""
    member = user if isinstance(user, discord.Member) else None
    if member is None and guild is not None:
        member = guild.get_member(user.id)
    if member is None:
        return ()
    roles: list[str] = []
    for role in member.roles:
        if not role.is_default():
            roles += [role.name, str(role.id)]
    return tuple(roles)
