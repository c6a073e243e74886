"""What a chat front (Slack, Discord, the web console) is, and what it gets from the app.

A front turns platform events into ``ChatRequest`` and hands them to ``Conversation.dispatch``
(the router: limits, access, the command), renders the ``Reply`` for its platform, and is a sink
of the ``ChannelHub`` for what jobs post (alerts, notices, digests). It never imports
``handlers`` internals beyond the neutral types.

Buttons carry the text of a command (``Button.command``); pressing one dispatches that text as
the presser. A reply may amend earlier messages (``Reply.amends``): fronts remember which
platform message carried each ``Reply.refs`` name in a ``MessageRefs``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from handlers.types import ChatRequest, Platform, Reply
from knowledge.errors import VigilError

if TYPE_CHECKING:
    from bot.channels import ChannelHub
    from bot.config import Settings
    from handlers.registry import Registry

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class ChatError(VigilError):
    """A chat platform refused to start (bad token, missing scope, unknown channel); the message
    is one line saying what to fix."""


class Conversation(Protocol):
    """The app as a front sees it (``VigilApp`` is one)."""

    settings: Settings
    hub: ChannelHub
    registry: Registry
    """The commands (Discord's ``/vigil`` subcommands and help are built from it)."""

    async def dispatch(self, request: ChatRequest) -> Reply:
        """Run one request through the router; never raises."""
        ...


class ChatFront(Protocol):
    platform: Platform

    async def start(self) -> None:
        """Connect (or register HTTP routes) and resolve channel names; raise ``ChatError``
        with a one-line reason when the platform refuses (bad token, unknown channel)."""
        ...

    async def stop(self) -> None:
        """Stop taking events, finish the answers under way (bounded), disconnect."""
        ...

    async def post(self, channel: str, reply: Reply) -> None:
        """Post ``reply`` to Vigil channel ``channel`` (a ``ChannelHub`` sink); a channel with
        no name on this platform is skipped."""
        ...

    def health(self) -> dict[str, Any]:
        """``{"ok": bool, ...}`` for ``/healthz``."""
        ...


def silent(reply: Reply) -> bool:
    """Nothing to post: no text, parts, thread or amends (the router's answer to a user it has
    already told to slow down)."""
    return not (reply.text or reply.parts or reply.thread or reply.amends)


class MessageRefs(Generic[T]):
    """Which platform message carried each ref (``"alert:a-3"`` -> a channel id and ts),
    bounded: the oldest refs are forgotten first. In memory: after a restart, amends of older
    messages are posted as new messages only."""

    def __init__(self, keep: int = 5000) -> None:
        self._keep = keep
        self._refs: OrderedDict[str, list[T]] = OrderedDict()

    def remember(self, refs: tuple[str, ...], where: T) -> None:
        for ref in refs:
            self._refs.setdefault(ref, []).append(where)
            self._refs.move_to_end(ref)
        while len(self._refs) > self._keep:
            self._refs.popitem(last=False)

    def find(self, ref: str) -> list[T]:
        return list(self._refs.get(ref, ()))


class Recent(Generic[K]):
    """A bounded memory of keys (threads a front follows, event ids it has seen): the newest
    ``keep``, oldest forgotten first."""

    def __init__(self, keep: int = 2000) -> None:
        self._keep = keep
        self._keys: OrderedDict[K, None] = OrderedDict()

    def add(self, key: K) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._keep:
            self._keys.popitem(last=False)

    def seen(self, key: K) -> bool:
        """Whether ``key`` was seen before; remembers it either way (deduplication)."""
        known = key in self._keys
        self.add(key)
        return known

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)
