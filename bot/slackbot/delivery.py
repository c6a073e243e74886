"""Posting rendered replies to Slack, and amending messages posted earlier.

- ``post``: ``chat.postMessage`` of each message of a reply (in a thread when asked), its thread
  replies in the thread of its first message, its charts uploaded there (files upload v2), its
  ``refs`` remembered. Its ``amends`` are applied by ``amend`` after it, once.
- ``respond``: the same through a ``response_url`` (slash commands, buttons; at most 5 posts,
  no charts, no message ids to remember).
- ``ephemeral``: ``chat.postEphemeral`` (only the user sees it).
- ``amend``: ``chat.update`` of remembered messages (or the one whose button was pressed): the
  status appended as a context line, the buttons removed when the amend closes it. Edits of one
  message run one at a time (a lock per message, dropped when unused), each from the blocks the
  previous one left: an ack and a resolve at once keep both status lines.

Web API failures other than the first message's are logged and skipped: a chart, a thread
reply or an edit that fails does not take the answer down. Logs name the method and Slack's
error code, never a token.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import ClientSession
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.chat import MessageRefs
from bot.render.slack import Block, Rendered, amended, carried_refs, render
from handlers.types import Amend, Chart, Reply

log = logging.getLogger(__name__)

RESPONSE_URL_POSTS = 5  # Slack takes at most five posts per response_url


@dataclass
class Posted:
    """A message Vigil posted: where, its notification text and its current blocks."""

    channel: str
    ts: str
    text: str
    blocks: list[Block] = field(default_factory=list)
    last: bool = True
    """The last message of its reply (a long reply is split): amend statuses go there."""


@dataclass
class _Editing:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class ResponseUrlError(Exception):
    """A ``response_url`` post was refused (expired, used up)."""


class Delivery:
    """Posts and amends through one ``AsyncWebClient``; remembers what it posted (bounded)."""

    def __init__(
        self,
        client: AsyncWebClient,
        keep: int = 5000,
        retry_handlers: list[AsyncRetryHandler] | None = None,
    ) -> None:
        self.client = client
        self.refs: MessageRefs[Posted] = MessageRefs(keep)
        self._keep = keep
        self._by_ts: OrderedDict[tuple[str, str], Posted] = OrderedDict()
        self._editing: dict[tuple[str, str], _Editing] = {}
        """A lock per message being edited; dropped when no edit holds or awaits it."""
        self._retry_handlers = retry_handlers
        self.session: ClientSession | None = None
        """Shared by every ``response_url`` post (set while the front runs)."""

    # ------------------------------------------------------------------ posting

    async def post(self, channel: str, reply: Reply, thread_ts: str | None = None) -> list[Posted]:
        """Post ``reply`` to channel id ``channel``; raises ``SlackApiError`` when its first
        message is refused (nothing was posted then)."""
        rendered = render(reply)
        posted: list[Posted] = []
        for number, message in enumerate(rendered.messages):
            try:
                answer = await self.client.chat_postMessage(
                    channel=channel,
                    text=message.text,
                    blocks=message.blocks,
                    thread_ts=thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except SlackApiError as exc:
                if number == 0:
                    raise
                log_failure("chat.postMessage", exc, channel)
                break
            where = (str(answer["channel"]), str(answer["ts"]))
            posted.append(self.remember(*where, message.text, message.blocks))
        channel = posted[0].channel
        for each in posted[:-1]:
            each.last = False
        for each in posted:
            self.refs.remember(reply.refs, each)
        root = thread_ts or posted[0].ts
        await self.upload(channel, rendered.charts, root)
        for sub in reply.thread:
            try:
                await self.post(channel, sub, thread_ts=root)
            except SlackApiError as exc:
                log_failure("chat.postMessage", exc, channel)
        return posted

    async def respond(
        self,
        url: str,
        reply: Reply,
        response_type: Literal["in_channel", "ephemeral"],
        rendered: Rendered | None = None,
    ) -> None:
        """Post ``reply`` through a ``response_url``, its thread replies as further messages (five
        posts at most); raises ``ResponseUrlError`` when the first post is refused. Charts and
        refs cannot go this way (no channel to upload to, no message ts): the caller uses
        ``post`` for those."""
        rendered = rendered or render(reply)
        messages = rendered.messages
        thread = [m for answer in reply.thread for m in render(answer).messages]
        webhook = self._webhook(url)
        for number, message in enumerate([*messages, *thread][:RESPONSE_URL_POSTS]):
            answer = await webhook.send(
                text=message.text,
                blocks=message.blocks,
                response_type=response_type,
                replace_original=False,
            )
            if answer.status_code != 200:
                if number == 0:
                    raise ResponseUrlError(f"{answer.status_code} {answer.body[:80]}")
                log.warning("slack: response_url post %d refused: %s", number, answer.status_code)
                return

    async def replace(self, url: str, blocks: list[Block], text: str) -> None:
        """Replace the message a ``response_url`` belongs to (an ephemeral message's button)."""
        answer = await self._webhook(url).send(text=text, blocks=blocks, replace_original=True)
        if answer.status_code != 200:
            log.warning(
                "slack: replacing a message by response_url refused: %s", answer.status_code
            )

    def _webhook(self, url: str) -> AsyncWebhookClient:
        return AsyncWebhookClient(url, session=self.session, retry_handlers=self._retry_handlers)

    async def ephemeral(
        self, channel: str, user: str, reply: Reply, thread_ts: str | None = None
    ) -> None:
        """``chat.postEphemeral`` of each message of ``reply`` to ``user`` (no charts)."""
        for message in render(reply).messages:
            await self.client.chat_postEphemeral(
                channel=channel,
                user=user,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
            )

    async def upload(self, channel: str, charts: list[Chart], thread_ts: str | None) -> None:
        for chart in charts:
            try:
                await self.client.files_upload_v2(
                    channel=channel,
                    thread_ts=thread_ts,
                    file=chart.png,
                    filename=_filename(chart.title),
                    title=chart.title,
                    alt_txt=chart.alt[:1000] or chart.title,
                )
            except SlackApiError as exc:
                log_failure("files_upload_v2", exc, channel)

    # ------------------------------------------------------------------ amending

    def remember(self, channel: str, ts: str, text: str, blocks: list[Block]) -> Posted:
        return self._keep_posted(Posted(channel, ts, text, blocks))

    def _keep_posted(self, posted: Posted) -> Posted:
        self._by_ts[(posted.channel, posted.ts)] = posted
        while len(self._by_ts) > self._keep:
            self._by_ts.popitem(last=False)
        return posted

    def find(self, channel: str, ts: str) -> Posted | None:
        return self._by_ts.get((channel, ts))

    async def amend_for(self, reply: Reply, pressed: Posted | None = None) -> None:
        """The amends of ``reply`` and of its thread replies."""
        await self.amend((*reply.amends, *(a for sub in reply.thread for a in sub.amends)), pressed)

    async def amend(self, amends: tuple[Amend, ...], pressed: Posted | None = None) -> None:
        """Apply ``amends``: ``ref=None`` edits ``pressed`` (when there is one), a ref edits
        every message remembered for it, or the pressed message when its buttons carry that ref
        (after a restart); an unknown ref has nothing to edit. The status goes on the last
        message of each reply, the buttons come off all of them when the amend closes."""
        for change in amends:
            if change.ref is None:
                targets = [pressed] if pressed is not None else []
            else:
                targets = list({(p.channel, p.ts): p for p in self.refs.find(change.ref)}.values())
                if (
                    not targets
                    and pressed is not None
                    and change.ref in carried_refs(pressed.blocks)
                ):
                    targets = [pressed]
            for target in targets:
                status = change.status if target.last else ""
                if status or change.close:
                    await self.update(target, status, change.close)

    async def update(self, target: Posted, status: str, close: bool) -> None:
        """``chat.update`` of ``target``: ``status`` appended, the buttons removed when
        ``close``; edits of one message one at a time, each from the blocks the previous one
        left (a pressed message not remembered yet is remembered, so that the next press
        starts from this edit)."""
        key = (target.channel, target.ts)
        async with self._edit_lock(key):
            current = self._by_ts.get(key) or self._keep_posted(target)
            blocks = amended(current.blocks, status, close)
            try:
                await self.client.chat_update(
                    channel=current.channel, ts=current.ts, text=current.text, blocks=blocks
                )
            except SlackApiError as exc:
                log_failure("chat.update", exc, current.channel)
                return
            current.blocks = target.blocks = blocks

    @asynccontextmanager
    async def _edit_lock(self, key: tuple[str, str]) -> AsyncIterator[None]:
        editing = self._editing.get(key)
        if editing is None:
            editing = self._editing[key] = _Editing()
        editing.users += 1
        try:
            async with editing.lock:
                yield
        finally:
            editing.users -= 1
            if editing.users == 0:
                del self._editing[key]


def error_code(exc: SlackApiError) -> str:
    """Slack's error code (``not_in_channel``), else the HTTP status."""
    response: Any = exc.response
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {getattr(response, 'status_code', '?')}"


def log_failure(method: str, exc: SlackApiError, channel: str) -> None:
    log.warning("slack: %s in %s failed: %s", method, channel, error_code(exc))


def _filename(title: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:60]
    return f"{slug or 'chart'}.png"
