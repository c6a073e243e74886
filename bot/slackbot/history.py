"""A Slack thread's messages for ``ChatRequest.history`` (what ``summarize`` reads).

``thread_loader`` returns a lazy loader: nothing is read until a command calls it. It reads
``conversations.replies`` (the parent message first, then the replies, oldest first) in pages of
``PAGE`` by cursor, up to ``MAX_MESSAGES`` messages (the start of the thread; a log line says
when the rest was left out) and within ``TIMEOUT_S``. Scopes: ``channels:history``,
``groups:history`` and ``im:history``, which the front already needs for follow-ups. (Slack's
2025 limits on ``conversations.replies`` for commercially distributed non-Marketplace apps do
not apply to an app a workspace creates for itself, which is how Vigil is installed.)

Each message becomes a ``ThreadMessage``: ``user`` is the Slack user id (a bot's ``bot_id``;
Vigil's own messages are kept, as ``"vigil"``: they carry the alert's context), ``ts`` Slack's
epoch string as a UTC datetime, ``text`` as typed (``incoming.plain``). Messages without text
(a file alone) are left out.

Failure-safe: when Slack refuses or cannot be reached (after the client's own retries of 429s
and connection errors), or the read takes longer than ``TIMEOUT_S``, the loader logs a warning
and returns ``[]`` (never a partial thread); the command says it found nothing to read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slackbot.delivery import error_code
from bot.slackbot.incoming import plain
from handlers.types import HistoryLoader, ThreadMessage

log = logging.getLogger(__name__)

PAGE = 200
MAX_MESSAGES = 1000
TIMEOUT_S = 30.0
VIGIL_USER = "vigil"


def thread_loader(
    client: AsyncWebClient,
    channel: str,
    thread_ts: str,
    is_vigil: Callable[[dict[str, Any]], bool],
    *,
    limit: int = MAX_MESSAGES,
    timeout_s: float = TIMEOUT_S,
) -> HistoryLoader:
    """A loader of thread ``thread_ts`` in channel id ``channel``; ``is_vigil`` tells Vigil's
    own messages (its bot user or bot id)."""

    async def load() -> list[ThreadMessage]:
        try:
            async with asyncio.timeout(timeout_s):
                raw = await _replies(client, channel, thread_ts, limit)
        except SlackApiError as exc:
            log.warning(
                "slack: reading thread %s in %s failed: %s", thread_ts, channel, error_code(exc)
            )
            return []
        except (ClientError, OSError, TimeoutError) as exc:
            log.warning(
                "slack: reading thread %s in %s failed: %s",
                thread_ts,
                channel,
                type(exc).__name__,
            )
            return []
        return [m for m in (_message(r, is_vigil) for r in raw) if m is not None]

    return load


async def _replies(
    client: AsyncWebClient, channel: str, thread_ts: str, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` raw messages of the thread, oldest first."""
    messages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await client.conversations_replies(
            channel=channel, ts=thread_ts, limit=min(PAGE, limit), cursor=cursor
        )
        messages.extend(page.get("messages") or [])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if len(messages) >= limit:
            if cursor or len(messages) > limit:
                log.info(
                    "slack: thread %s in %s has more than %d messages; the first %d are read",
                    thread_ts,
                    channel,
                    limit,
                    limit,
                )
            return messages[:limit]
        if not cursor:
            return messages


def _message(
    raw: dict[str, Any], is_vigil: Callable[[dict[str, Any]], bool]
) -> ThreadMessage | None:
    text = plain(str(raw.get("text") or "")).strip()
    when = slack_time(str(raw.get("ts") or ""))
    if not text or when is None:
        return None
    user = VIGIL_USER if is_vigil(raw) else str(raw.get("user") or raw.get("bot_id") or "")
    return ThreadMessage(user=user or "unknown", ts=when, text=text)


def slack_time(ts: str) -> datetime | None:
    """Slack's ``"1700000000.000100"`` as a UTC datetime (exact to the microsecond); ``None``
    when it is not one."""
    seconds, _, fraction = ts.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        return None
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)
