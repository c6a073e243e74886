"""Turns the text of a message into a command call, and any failure into a polite reply."""

from __future__ import annotations

import difflib
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from handlers import messages
from handlers.access import AccessPolicy
from handlers.deps import Deps
from handlers.limits import ChatLimits, RateLimiter
from handlers.registry import Registry
from handlers.types import ChatRequest, Reply

log = logging.getLogger(__name__)

_MENTION = re.compile(r"^\s*(?:<@[!&]?[A-Za-z0-9]+>|@vigil\b|/vigil\b|vigil[:,]\s)\s*", re.I)
_QUESTION = re.compile(
    r"^(why|what|how|is|are|was|were|did|does|do|when|where|which|who|can|could|show|list|"
    r"has|have|any)\b",
    re.I,
)
_READABLE = re.compile(r"[^\W_]{2,}")  # two letters or digits in a row: not garbled


_TO_VIGIL = re.compile(r"^(?:@vigil\b|vigil[:,]\s)", re.I)


def for_vigil(text: str, is_command: Callable[[str], bool]) -> bool:
    """Whether a follow-up that does not mention the bot (a message in a thread it follows, a
    reply to it) is for Vigil: it starts with a command (``is_command(first word)``), is a
    question (ends with ``?`` or starts with a question word) or names Vigil first (``vigil:
    ...``). One that starts with someone else's mention (``<@U1> can you...``) is for them, and
    chatter (``ok I'll restart it``, ``thanks!``) for the people in the thread."""
    text = text.replace("\u00a0", " ").strip()
    if not text or text.startswith("<@"):
        return False
    if _TO_VIGIL.match(text):
        return True
    word = text.partition(" ")[0]
    return is_command(word) or text.endswith("?") or _QUESTION.match(text) is not None


def strip_mentions(text: str) -> str:
    """``text`` without the leading mentions (``<@U123>``, ``@vigil``, ``/vigil``)."""
    text = text.replace("\u00a0", " ").strip()
    while True:
        stripped = _MENTION.sub("", text, count=1)
        if stripped == text:
            return text
        text = stripped.strip()


def parse(text: str, registry: Registry) -> tuple[str, str]:
    """Split ``text`` into ``(command, args)``. A question without a command becomes ``ask``;
    an empty text gives ``("", "")``; an unknown word gives ``(word, rest)``."""
    text = strip_mentions(text)
    if not text:
        return "", ""
    word, _, rest = text.partition(" ")
    command = registry.get(word.lower())
    if command is not None:
        return command.name, rest.strip()
    if _QUESTION.match(text) or text.endswith("?"):
        return "ask", text
    return word.lower(), rest.strip()


def garbled(text: str) -> bool:
    """Nothing a person could mean: no two letters or digits in a row, or mostly control
    characters and symbols (a paste gone wrong)."""
    if not _READABLE.search(text):
        return True
    printable = sum(ch.isalnum() or ch.isspace() for ch in text)
    return printable < len(text) * 0.5


Outcome = Literal["ok", "error", "refused"]
Observe = Callable[[str, str, Outcome, float], None]


class Router:
    """Dispatches a ``ChatRequest`` to its command. Never raises: failures become replies.

    Before a command runs: the message length limit, the per-user rate limit, and for commands
    that change state, ``access`` (who may). Each refusal is a short ephemeral reply.
    """

    def __init__(
        self,
        registry: Registry,
        access: AccessPolicy | None = None,
        limits: ChatLimits | None = None,
        observe: Observe | None = None,
    ) -> None:
        """``observe(command, platform, outcome, seconds)`` hears of every request (metrics)."""
        self.registry = registry
        self.observe = observe
        self.access = access or AccessPolicy()
        self.limits = limits or ChatLimits()
        self.limiter = RateLimiter(self.limits)

    async def dispatch(self, req: ChatRequest, deps: Deps) -> Reply:
        began = time.perf_counter()
        command, outcome, reply = await self._route(req, deps)
        if self.observe is not None:
            self.observe(command, req.platform, outcome, time.perf_counter() - began)
        return reply

    async def _route(self, req: ChatRequest, deps: Deps) -> tuple[str, Outcome, Reply]:
        """``(command or "-", outcome, reply)``."""
        limit = self.limits.max_input_chars
        if len(req.text) > limit:
            return (
                "-",
                "refused",
                Reply(
                    messages.TOO_LONG.format(length=len(req.text), limit=limit),
                    ephemeral=True,
                    error=True,
                ),
            )
        name, args = parse(req.text, self.registry)
        if not name:
            return "-", "refused", Reply(messages.EMPTY_INPUT, ephemeral=True)
        if garbled(strip_mentions(req.text)):
            return "-", "refused", Reply(messages.GARBLED_INPUT, ephemeral=True)
        wait = self.limiter.check(req)
        if wait > 0:
            if not self.limiter.first_refusal(req):
                return "-", "refused", Reply("", ephemeral=True)  # told already: post nothing
            return (
                "-",
                "refused",
                Reply(
                    messages.RATE_LIMITED.format(seconds=max(1, round(wait))),
                    ephemeral=True,
                    error=True,
                ),
            )
        command = self.registry.get(name)
        if command is None:
            close = difflib.get_close_matches(name, self.registry.names(), n=1, cutoff=0.6)
            suggestion = messages.DID_YOU_MEAN.format(name=close[0]) if close else ""
            return (
                "-",
                "refused",
                Reply(
                    messages.UNKNOWN_COMMAND.format(name=name[:40], suggestion=suggestion),
                    ephemeral=True,
                    error=True,
                ),
            )
        if command.mutates and not self.access.allows(req):
            log.info(
                "refused %s to user %s in %s on %s (not named in access)",
                command.name,
                req.user,
                req.channel,
                req.platform,
            )
            return (
                command.name,
                "refused",
                Reply(
                    messages.NOT_AUTHORIZED.format(command=command.name), ephemeral=True, error=True
                ),
            )
        req = replace(req, command=command.name, args=args)
        try:
            reply = await command.handler(req, deps)
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception(
                "command %s failed (error %s, user %s, channel %s, platform %s)",
                command.name,
                error_id,
                req.user,
                req.channel,
                req.platform,
            )
            return (
                command.name,
                "error",
                Reply(
                    messages.HANDLER_FAILED.format(command=command.name, error_id=error_id),
                    error=True,
                ),
            )
        return command.name, "error" if reply.error else "ok", reply
