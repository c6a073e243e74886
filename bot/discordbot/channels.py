"""Which guilds Vigil serves, Vigil channel names <-> Discord channels, and who is asking
(``ChatRequest`` fields).

``DISCORD_GUILD_IDS`` names the servers Vigil serves: when it is set, messages, slash commands
and button presses from any other guild are ignored, and channels are looked up only in those
servers. ``channels.yml`` names each Vigil channel on Discord by channel id or by name
(``vigil-alerts``). A name is looked up once the gateway is ready (and when the bot is added to
a served server), in the served guilds; without ``DISCORD_GUILD_IDS`` it counts only when one
guild has a channel of that name: when several do, none is used (a warning says so; give the
channel's id instead). Incoming channels map to a Vigil name by id only (the channels found
so, and the ids configured), never by a name seen later: anyone can create a ``#vigil-alerts``
in a server of their own. A thread counts as its parent; any other channel (a direct message
too) carries its id, which access rules do not name.

Role names are given (beside role ids) only where they mean something: in the served guilds, or,
without ``DISCORD_GUILD_IDS``, while the bot is in one guild only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import discord

from handlers.types import ChatRequest

log = logging.getLogger(__name__)

THREAD_TYPES = (
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)
GUILD_IDS_HINT = (
    "set DISCORD_GUILD_IDS to your server id(s) and turn off Public Bot in the Discord "
    "developer portal (Bot > Public Bot)"
)


def is_thread(channel: Any) -> bool:
    """A thread, also when known only partly (``PartialMessageable`` of a thread type)."""
    return isinstance(channel, discord.Thread) or getattr(channel, "type", None) in THREAD_TYPES


class ChannelMap:
    def __init__(self, names: dict[str, str], guild_ids: Iterable[int] = ()) -> None:
        self.names = names  # Vigil name -> Discord name or id
        self.guild_ids = frozenset(guild_ids)  # empty: every guild
        self._configured = {int(v): name for name, v in names.items() if v.isdigit()}
        self._targets: dict[str, list[discord.abc.Messageable]] = {}
        self._by_id: dict[int, str] = dict(self._configured)

    # ----------------------------------------------------------------------- guilds

    def serves(self, guild_id: int | None) -> bool:
        """Whether Vigil answers in guild ``guild_id`` (None, a direct message: yes)."""
        return guild_id is None or not self.guild_ids or guild_id in self.guild_ids

    def served_guilds(self, client: discord.Client) -> list[discord.Guild]:
        return [g for g in client.guilds if self.serves(g.id)]

    def trusts_role_names(self, guild_id: int | None, guilds_in: int) -> bool:
        """Whether the role names of a member of ``guild_id`` are given (ids always are): in
        a served guild when ``DISCORD_GUILD_IDS`` is set, else only while the bot is in one
        guild (a role called ``oncall`` in anyone's server must not pass for yours)."""
        if guild_id is None or not self.serves(guild_id):
            return False
        return bool(self.guild_ids) or guilds_in <= 1

    # ----------------------------------------------------------------------- channels

    def resolve(self, client: discord.Client) -> None:
        """Find the configured channels in the served guilds (once the client is ready)."""
        served = self.served_guilds(client)
        self._warn_about_guilds(client, served)
        targets: dict[str, list[discord.abc.Messageable]] = {}
        missing: list[str] = []
        ambiguous: list[str] = []
        for name, value in self.names.items():
            found: list[discord.abc.Messageable] = []
            if value.isdigit():
                channel = client.get_channel(int(value))
                guild = getattr(channel, "guild", None)
                if not isinstance(channel, discord.abc.Messageable):
                    missing.append(f"{name} ({value})")
                elif guild is not None and not self.serves(guild.id):
                    log.warning(
                        "discord: channel %s (%s) is in guild %s, which DISCORD_GUILD_IDS "
                        "leaves out; nothing is posted there",
                        value,
                        name,
                        guild.id,
                    )
                else:
                    found.append(channel)
            else:
                matches = [
                    channel
                    for guild in served
                    for channel in guild.text_channels
                    if channel.name.lower() == value.lower()
                ]
                guilds = {channel.guild.id for channel in matches}
                if len(guilds) > 1 and not self.guild_ids:
                    ambiguous.append(f"{name} ({value}, in {len(guilds)} guilds)")
                elif matches:
                    found = list(matches)
                else:
                    missing.append(f"{name} ({value})")
            targets[name] = found
        self._targets = targets
        self._by_id = dict(self._configured)
        for name, where in targets.items():
            for target in where:
                self._by_id[getattr(target, "id", 0)] = name
        if ambiguous:
            log.warning(
                "discord: channel name(s) found in more than one guild, so used in none: %s. "
                "Give their ids under channels: in channels.yml, or %s",
                ", ".join(ambiguous),
                GUILD_IDS_HINT,
            )
        if missing:
            log.warning(
                "discord: channel(s) not found in the %d guild(s) I serve: %s. Create them, "
                "or set their names (without '#') or ids under channels: in channels.yml, and "
                "let the bot view them",
                len(served),
                ", ".join(missing),
            )

    def _warn_about_guilds(self, client: discord.Client, served: list[discord.Guild]) -> None:
        count = len(client.guilds)
        if self.guild_ids:
            left_out = count - len(served)
            if left_out:
                log.warning(
                    "discord: in %d guild(s) that DISCORD_GUILD_IDS leaves out; everything "
                    "from there is ignored",
                    left_out,
                )
            absent = sorted(self.guild_ids - {g.id for g in served})
            if absent:
                log.warning(
                    "discord: not in guild(s) %s of DISCORD_GUILD_IDS; invite the bot there",
                    ", ".join(map(str, absent)),
                )
        elif count > 1:
            log.warning(
                "discord: the bot is in %d guilds and DISCORD_GUILD_IDS is not set: whoever "
                "invites it to a server gets its answers, and channel and role names could be "
                "anyone's, so a channel name found in several guilds is used in none and role "
                "names are not given (ids are); %s",
                count,
                GUILD_IDS_HINT,
            )

    def targets(self, name: str) -> list[discord.abc.Messageable]:
        """Where a post to Vigil channel ``name`` goes (empty: not found, or not named)."""
        return list(self._targets.get(name, ()))

    def vigil_name(self, channel: Any, channel_id: int | None = None) -> str:
        """The Vigil name of a platform channel (a thread counts as its parent), else its id.
        By id only: a channel found at start, or one configured by id."""
        cid = getattr(channel, "id", None) or channel_id or 0
        if is_thread(channel):
            cid = getattr(channel, "parent_id", None) or cid
        return self._by_id.get(cid, str(cid))

    def request(
        self,
        text: str,
        user: discord.abc.User,
        channel: Any,
        *,
        channel_id: int | None = None,
        guild: discord.Guild | None = None,
        role_names: bool = True,
    ) -> ChatRequest:
        """The request of ``user`` in ``channel`` (a message's, or an interaction's)."""
        cid = getattr(channel, "id", None) or channel_id
        return ChatRequest(
            text=text,
            user=str(user.id),
            channel=self.vigil_name(channel, channel_id),
            platform="discord",
            thread_id=str(cid) if is_thread(channel) and cid else None,
            roles=member_roles(user, guild, names=role_names),
        )


def member_roles(
    user: discord.abc.User, guild: discord.Guild | None, *, names: bool = True
) -> tuple[str, ...]:
    """The names (when ``names``) and ids of the member's roles (not @everyone); () outside a
    guild. A message's or an interaction's author comes with its roles: no members intent
    needed."""
    member = user if isinstance(user, discord.Member) else None
    if member is None and guild is not None:
        member = guild.get_member(user.id)
    if member is None:
        return ()
    roles: list[str] = []
    for role in member.roles:
        if not role.is_default():
            roles += [role.name, str(role.id)] if names else [str(role.id)]
    return tuple(roles)
