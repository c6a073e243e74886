"""A test double of the part of ``discord.Interaction`` the front uses, for the two paths
dpytest cannot drive (slash commands and button presses arrive as gateway interactions and are
answered through the interaction webhook). Its followups are sent to the real (dpytest) channel,
so what they post is a real ``discord.Message`` that dpytest records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import discord


@dataclass
class Call:
    name: str
    kwargs: dict[str, Any]


@dataclass
class InteractionDouble:
    user: discord.Member
    channel: discord.TextChannel | discord.Thread | discord.PartialMessageable
    message: discord.Message | None = None
    custom_id: str | None = None
    calls: list[Call] = field(default_factory=list)
    ephemeral: list[Call] = field(default_factory=list)  # followups only the presser sees
    late: bool = False  # defer() fails as when the 3 s are over

    def __post_init__(self) -> None:
        self.response = _Response(self)
        self.followup = _Followup(self)

    @property
    def type(self) -> discord.InteractionType:
        if self.custom_id is not None:
            return discord.InteractionType.component
        return discord.InteractionType.application_command

    @property
    def data(self) -> dict[str, Any]:
        return {"custom_id": self.custom_id, "component_type": 2} if self.custom_id else {}

    @property
    def channel_id(self) -> int:
        return self.channel.id

    @property
    def guild(self) -> discord.Guild | None:
        return self.channel.guild

    @property
    def guild_id(self) -> int | None:
        return self.guild.id if self.guild is not None else None

    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    async def delete_original_response(self) -> None:
        self.calls.append(Call("delete_original_response", {}))

    async def edit_original_response(self, **kwargs: Any) -> discord.Message:
        self.calls.append(Call("edit_original_response", kwargs))
        assert self.message is not None
        return await self.message.edit(**kwargs)


class _Response:
    def __init__(self, parent: InteractionDouble) -> None:
        self.parent = parent

    async def defer(self, **kwargs: Any) -> None:
        self.parent.calls.append(Call("defer", kwargs))
        if self.parent.late:
            gone = {"code": 10062, "message": "Unknown interaction"}
            raise discord.NotFound(_Resp(404, "Not Found"), gone)  # type: ignore[arg-type]


class _Followup:
    def __init__(self, parent: InteractionDouble) -> None:
        self.parent = parent

    async def send(
        self,
        content: str | None = None,
        *,
        ephemeral: bool = False,
        wait: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Public followups go to the channel (a real message); ephemeral ones are recorded
        only (no one else would see them)."""
        call = Call("followup", {"content": content, "ephemeral": ephemeral, **kwargs})
        self.parent.calls.append(call)
        if ephemeral:
            self.parent.ephemeral.append(call)
            return None
        return await self.parent.channel.send(content, **kwargs)


@dataclass
class _Resp:
    status: int
    reason: str
