"""Buttons as ``discord.ui.View`` components, and which command a pressed one carries.

Presses are handled by the front's ``on_interaction`` (any ``vigil:`` custom id, also on
messages posted before a restart), not by the view: a view sent with listeners would be kept in
discord.py's view store for as long as the message lives (``timeout=None``), one per alert. So
the view is built stopped: discord.py sends its components and does not store it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import discord

from bot.render.discord import ButtonSpec

ROW_WIDTH = 5


def build_view(buttons: Sequence[ButtonSpec]) -> discord.ui.View | None:
    """The components for ``buttons`` (5 to a row), or None when there are none. Needs a
    running event loop (as any ``discord.ui.View``)."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for number, spec in enumerate(buttons):
        view.add_item(
            discord.ui.Button(
                label=spec.label,
                custom_id=spec.custom_id,
                style=spec.style,
                row=number // ROW_WIDTH,
            )
        )
    view.stop()
    return view


def pressed_custom_id(interaction: discord.Interaction) -> str | None:
    """The custom id of the pressed button of a component interaction, else None."""
    if interaction.type is not discord.InteractionType.component:
        return None
    data: Mapping[str, Any] = interaction.data or {}
    custom_id = data.get("custom_id")
    return custom_id if isinstance(custom_id, str) else None
