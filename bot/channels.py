"""Posting to channels: one hub, many sinks (terminal console, web console, Slack, Discord).

A sink that fails is logged and skipped; the others still get the message.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.render.terminal import channel_line
from handlers.types import Reply
from knowledge.errors import VigilError

log = logging.getLogger(__name__)

Sink = Callable[[str, Reply], Awaitable[None]]


class ChannelHub:
    def __init__(self, keep: int = 500) -> None:
        self._sinks: list[Sink] = []
        self.history: deque[tuple[str, Reply]] = deque(maxlen=keep)

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)

    async def post(self, channel: str, reply: Reply, must_deliver: bool = False) -> int:
        """Post to every sink at once: a slow one (Slack waiting out a 429) holds up no other.
        A failing sink is logged and skipped; with ``must_deliver``, ``DeliveryError`` when
        every sink failed (the alerts outbox then keeps the message for the next run). Returns
        how many sinks took it."""
        self.history.append((channel, reply))
        results = await asyncio.gather(
            *(sink(channel, reply) for sink in self._sinks), return_exceptions=True
        )
        failures = 0
        for sink, result in zip(self._sinks, results, strict=True):
            if isinstance(result, Exception):
                failures += 1
                log.error(
                    "posting to #%s through %r failed",
                    channel,
                    sink,
                    exc_info=(type(result), result, result.__traceback__),
                )
        if must_deliver and failures and failures == len(self._sinks):
            raise DeliveryError(f"no chat platform took the message for #{channel}")
        return len(self._sinks) - failures


class DeliveryError(VigilError):
    """Every sink failed to post a message that must be delivered."""


def console_sink(stream: TextIO | None = None) -> Sink:
    """Prints every channel message as ``[#channel] text`` (``VIGIL_CONSOLE=1``, the demo), its
    thread replies after it as ``[#channel]   ↳ text``."""

    async def sink(channel: str, reply: Reply) -> None:
        out = stream or sys.stdout
        out.write(channel_line(channel, reply) + "\n")
        out.flush()

    return sink
