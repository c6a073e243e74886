"""The neutral request and reply that every chat platform, the terminal and the scheduler share.

A ``Reply`` is text plus parts; ``bot/`` renders it as Block Kit, Discord embeds, HTML or
terminal text. Handlers never talk to a platform themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Platform = Literal["terminal", "web", "slack", "discord", "scheduler", "cli"]


@dataclass(frozen=True)
class ThreadMessage:
    """One message of a chat thread, as ``summarize`` reads it (``vigil summarize`` files hold a
    list of ``{user, ts, text}``)."""

    user: str
    ts: datetime
    text: str


HistoryLoader = Callable[[], Awaitable[list[ThreadMessage]]]


@dataclass(frozen=True)
class ChatRequest:
    """One message to the bot. ``text`` is what the user typed after the mention or ``/vigil``;
    the router fills ``command`` and ``args``."""

    text: str
    user: str = "local"
    channel: str = "general"
    platform: Platform = "terminal"
    thread_id: str | None = None
    roles: tuple[str, ...] = ()
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    command: str = ""
    args: str = ""
    history: HistoryLoader | None = field(default=None, compare=False, repr=False)
    """Reads the messages of the thread the request was made in, oldest first (the request's
    own message included); set by fronts that can (Slack conversations.replies, Discord thread
    history, the web console's store) when the request is in a thread, else ``None``."""


@dataclass(frozen=True)
class Section:
    text: str
    title: str | None = None


@dataclass(frozen=True)
class Fields:
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Chart:
    png: bytes
    title: str
    alt: str = ""


@dataclass(frozen=True)
class Button:
    label: str
    command: str  # the text dispatched when pressed, e.g. "ack alert-3"
    style: Literal["default", "primary", "danger"] = "default"


@dataclass(frozen=True)
class Buttons:
    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class Context:
    """A footer line: sources, latency, model."""

    text: str


Part = Section | Fields | Table | Chart | Buttons | Context


@dataclass(frozen=True)
class Amend:
    """An edit to a message posted earlier: ``status`` is appended to it as a context line, and
    ``close`` removes its buttons (the alert is over).

    ``ref`` names the message by one of its ``Reply.refs`` (``"alert:a-3"``); ``None`` means the
    message whose button was pressed (a reply to a button press). A platform that cannot edit
    (the terminal) ignores amends; the reply's own text still says what happened.
    """

    status: str
    ref: str | None = None
    close: bool = False


@dataclass(frozen=True)
class Reply:
    """What a handler returns. ``text`` alone must make sense (notifications, plain clients)."""

    text: str
    parts: tuple[Part, ...] = ()
    ephemeral: bool = False
    error: bool = False
    thread: tuple[Reply, ...] = ()
    """Replies posted in the thread of this message (details of a grouped alert message)."""
    refs: tuple[str, ...] = ()
    """Names a later reply may use to amend this message (``"alert:a-3"``): chat fronts remember
    which platform message carried each ref."""
    amends: tuple[Amend, ...] = ()
    """Edits to earlier messages that come with this reply (a resolved alert's message)."""
