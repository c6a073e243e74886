"""The web console's memory: messages per channel with their threads, chart images, and which
message carried each ref. In memory only, and bounded: the oldest messages (with their threads
and charts) are forgotten first.

Every change is published to the ``EventLog`` (``new`` or ``edit``) so that open pages update.
Ephemeral replies are built like messages but neither kept nor published: only the page that
asked gets them.

``thread_messages`` reads a thread back as ``ThreadMessage``s, for ``ChatRequest.history``.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.chat import MessageRefs
from bot.render.webjson import button_commands, parts_json
from bot.web.events import EventLog
from handlers.types import Chart, Reply, ThreadMessage

log = logging.getLogger(__name__)

BOT_USER = "vigil"
MAX_THREAD_READ = 1000


@dataclass(eq=False)
class Message:
    id: int
    channel: str
    user: str
    text: str
    parts: list[dict[str, Any]] = field(default_factory=list)
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    error: bool = False
    ephemeral: bool = False
    refs: tuple[str, ...] = ()
    status: list[str] = field(default_factory=list)
    closed: bool = False
    parent: int | None = None
    thread: deque[Message] = field(default_factory=deque)
    charts: list[str] = field(default_factory=list)
    rev: int = 0
    """Bumped on every change, so that a page keeps the newest of two copies."""

    @property
    def top(self) -> int:
        """The id of the message whose thread this is (itself when top-level)."""
        return self.parent if self.parent is not None else self.id

    def buttons(self) -> set[str]:
        return button_commands(self.parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "user": self.user,
            "ts": self.ts.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "text": self.text,
            "parts": self.parts,
            "thread": [m.to_json() for m in self.thread],
            "parent": self.parent,
            "error": self.error,
            "ephemeral": self.ephemeral,
            "refs": list(self.refs),
            "status": list(self.status),
            "closed": self.closed,
            "rev": self.rev,
        }


class ChartStore:
    """PNG bytes by an unguessable id, bounded in count and bytes (oldest out first)."""

    def __init__(self, keep: int = 200, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._keep = keep
        self._max_bytes = max_bytes
        self._bytes = 0
        self._charts: OrderedDict[str, bytes] = OrderedDict()

    def put(self, png: bytes) -> str:
        chart_id = secrets.token_hex(8)
        self._charts[chart_id] = png
        self._bytes += len(png)
        while self._charts and (len(self._charts) > self._keep or self._bytes > self._max_bytes):
            _, old = self._charts.popitem(last=False)
            self._bytes -= len(old)
        return chart_id

    def get(self, chart_id: str) -> bytes | None:
        return self._charts.get(chart_id)

    def drop(self, chart_id: str) -> None:
        png = self._charts.pop(chart_id, None)
        if png is not None:
            self._bytes -= len(png)

    def __len__(self) -> int:
        return len(self._charts)


class ConsoleStore:
    """Messages of every channel. ``keep``: messages per channel, thread replies included (the
    oldest top-level message goes, with its thread); ``keep_thread``: replies per thread."""

    def __init__(
        self,
        events: EventLog | None = None,
        *,
        keep: int = 500,
        keep_thread: int = 200,
        max_channels: int = 64,
        charts: ChartStore | None = None,
    ) -> None:
        self.events = events or EventLog()
        self.charts = charts or ChartStore()
        self.refs: MessageRefs[int] = MessageRefs()
        self._keep = max(keep, 2)
        self._keep_thread = max(1, min(keep_thread, self._keep - 1))
        self._max_channels = max_channels
        self._channels: dict[str, deque[Message]] = {}
        self._counts: dict[str, int] = {}
        self._by_id: dict[int, Message] = {}
        self._ids = itertools.count(1)
        self._revs = itertools.count(1)

    # ------------------------------------------------------------------ reading

    def channels(self) -> list[str]:
        return list(self._channels)

    def has_channel(self, channel: str) -> bool:
        return channel in self._channels

    def messages(self, channel: str, after: int = 0) -> list[Message]:
        """The top-level messages of ``channel`` newer than id ``after``, oldest first."""
        return [m for m in self._channels.get(channel, ()) if m.id > after]

    def get(self, message_id: int) -> Message | None:
        return self._by_id.get(message_id)

    def thread_messages(self, top: int, limit: int = MAX_THREAD_READ) -> list[ThreadMessage]:
        """The thread of message ``top``: it, then its replies, oldest first, at most ``limit``
        (the first ones); messages without text are left out, and ``[]`` when ``top`` is no
        longer kept. Ephemeral replies are never kept, so never read back."""
        message = self._by_id.get(top)
        if message is None or message.parent is not None:
            return []
        kept = [message, *message.thread][:limit]
        return [ThreadMessage(m.user, m.ts, m.text) for m in kept if m.text.strip()]

    def __len__(self) -> int:
        return len(self._by_id)

    # ------------------------------------------------------------------ writing

    def add_user_message(self, channel: str, user: str, text: str, parent: int | None) -> Message:
        message = Message(next(self._ids), channel, user, text, parent=parent)
        self._keep_message(message)
        return message

    def add_reply(
        self, channel: str, reply: Reply, parent: int | None = None, *, private: bool = False
    ) -> Message:
        """``reply`` as a bot message in ``channel`` (in ``parent``'s thread when given), with
        its own thread replies. ``private``: an ephemeral reply for one page, neither kept nor
        published. Refs are remembered."""
        message = self._build(channel, reply, parent, ephemeral=private)
        extra = [
            self._build(channel, r, message.top, ephemeral=private) for r in _flat_thread(reply)
        ]
        if private:
            message.thread.extend(extra)
            return message
        if message.parent is None:
            message.thread.extend(extra[-self._keep_thread :])
            self._keep_message(message)
        else:
            self._keep_message(message)
            for child in extra:
                self._keep_message(child)
        return message

    def amend(self, message: Message, status: str, close: bool) -> None:
        """Append ``status`` as a context line; ``close`` disables its buttons."""
        if status:
            message.status.append(status)
            del message.status[:-20]
        message.closed = message.closed or close
        self._publish("edit", message)

    def by_ref(self, ref: str) -> list[Message]:
        return [m for m in (self.get(i) for i in self.refs.find(ref)) if m is not None]

    # ------------------------------------------------------------------ internals

    def _build(
        self, channel: str, reply: Reply, parent: int | None, *, ephemeral: bool = False
    ) -> Message:
        charts: list[str] = []

        def save(chart: Chart) -> str:
            chart_id = self.charts.put(chart.png)
            charts.append(chart_id)
            return f"/api/charts/{chart_id}.png"

        return Message(
            next(self._ids),
            channel,
            BOT_USER,
            reply.text,
            parts=parts_json(reply.parts, save),
            error=reply.error,
            ephemeral=ephemeral,
            refs=reply.refs,
            parent=parent,
            charts=charts,
        )

    def _keep_message(self, message: Message) -> None:
        """Keep ``message`` (top-level with its thread, or a reply in a kept thread), publish
        it, and forget the oldest of its channel beyond the bound."""
        channel = self._channel(message.channel)
        top = self._by_id.get(message.parent) if message.parent is not None else None
        if top is None or top.channel != message.channel:
            message.parent = None
            channel.append(message)
            for child in message.thread:
                child.parent = message.id
                self._index(child)
        else:
            top.thread.append(message)
            top.rev = next(self._revs)
            while len(top.thread) > self._keep_thread:
                self._forget(top.thread.popleft())
        self._index(message)
        self._publish("new", message)
        self._trim(message.channel, keep=message.top)

    def _index(self, message: Message) -> None:
        self._by_id[message.id] = message
        self._counts[message.channel] = self._counts.get(message.channel, 0) + 1
        if message.refs:
            self.refs.remember(message.refs, message.id)

    def _channel(self, name: str) -> deque[Message]:
        if name not in self._channels:
            if len(self._channels) >= self._max_channels:
                # a runaway list of channels: forget the one quiet the longest
                quiet = min(self._channels, key=lambda c: self._last_id(c))
                log.warning("web console: too many channels, forgetting #%s", quiet)
                for message in self._channels.pop(quiet):
                    self._forget(message)
                self._counts.pop(quiet, None)
            self._channels[name] = deque()
        return self._channels[name]

    def _last_id(self, channel: str) -> int:
        messages = self._channels[channel]
        return messages[-1].id if messages else 0

    def _trim(self, channel: str, keep: int) -> None:
        messages = self._channels[channel]
        while self._counts.get(channel, 0) > self._keep and len(messages) > 1:
            oldest = messages[0]
            if oldest.id == keep:
                break
            messages.popleft()
            self._forget(oldest)

    def _forget(self, message: Message) -> None:
        for child in message.thread:
            self._forget(child)
        message.thread.clear()
        if self._by_id.pop(message.id, None) is not None:
            self._counts[message.channel] = self._counts.get(message.channel, 1) - 1
        for chart_id in message.charts:
            self.charts.drop(chart_id)

    def _publish(self, kind: str, message: Message) -> None:
        message.rev = next(self._revs)
        self.events.publish(kind, message.to_json())


def _flat_thread(reply: Reply) -> list[Reply]:
    """The thread replies of ``reply``, with theirs after each (the console has one level)."""
    out: list[Reply] = []
    for child in reply.thread:
        out.append(child)
        out.extend(_flat_thread(child))
    return out
