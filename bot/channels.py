"""Posting to channels: one hub, many sinks (terminal console, web console, Slack, Discord).

A sink that fails is logged and skipped; the others still get the message.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.render.terminal import channel_line
from handlers.types import Reply

log = logging.getLogger(__name__)

Sink = Callable[[str, Reply], Awaitable[None]]


class ChannelHub:
    def __init__(self, keep: int = 500) -> None:
        self._sinks: list[Sink] = []
        self.history: deque[tuple[str, Reply]] = deque(maxlen=keep)

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)

    async def post(self, channel: str, reply: Reply) -> None:
        self.history.append((channel, reply))
        for sink in self._sinks:
            try:
                await sink(channel, reply)
            except Exception:
                log.exception("posting to #%s through %r failed", channel, sink)


def console_sink(stream: TextIO | None = None) -> Sink:
    """Prints every channel message as ``[#channel] text`` (``VIGIL_CONSOLE=1``, the demo), its
    thread replies after it as ``[#channel]   ↳ text``."""

    async def sink(channel: str, reply: Reply) -> None:
        out = stream or sys.stdout
        out.write(channel_line(channel, reply) + "\n")
        out.flush()

    return sink
