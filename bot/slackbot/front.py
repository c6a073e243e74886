"""``SlackFront``: slack-bolt's ``AsyncApp`` between Slack and ``Conversation.dispatch``.

HTTP mode (no ``SLACK_APP_TOKEN``): Bolt is mounted at ``POST /slack/events`` on Vigil's HTTP
server and verifies each request's signature and timestamp (``SLACK_SIGNING_SECRET``; 401 when
wrong or stale). Socket Mode (``SLACK_APP_TOKEN``): Bolt's ``AsyncSocketModeHandler`` keeps a
websocket to Slack. ``SLACK_API_URL`` sets the Web API base.

What it answers:

- ``/vigil TEXT`` (any slash command routed here): acknowledged at once with an ephemeral
  "Working on ..." (Slack wants an answer within 3 s), then dispatched in a background task and
  answered through the ``response_url``; by ``chat.postMessage`` when the reply has charts,
  thread replies or refs to remember, or more messages than a ``response_url`` takes.
- ``@vigil ...`` (``app_mention``): answered in the thread of the mention; later messages in that
  thread are answered too, without a mention, when they are for Vigil (a command or a question,
  ``handlers.router.for_vigil``; chatter is ignored quietly); direct messages to the app always are.
  Slack's retries are dropped by ``event_id``. Text is taken as typed (``incoming.plain``).
- Buttons (``action_id`` ``vigil:N``, value = the command): the command is dispatched as the
  person who pressed, in the message's channel and thread; the reply goes to that thread and
  its amends edit the pressed message (``chat.update``).
- ``ChatRequest.history``: a mention, follow-up or direct message made in a thread
  (``thread_ts``), and a button press on a message in a thread, get a lazy reader of that thread
  (``conversations.replies``, ``history.thread_loader``); slash commands, which Slack does not
  send from threads, and messages outside threads get ``None``.
- ``post(channel, reply)``: what jobs post (alerts, notices, digests), to the Slack channel
  configured for that Vigil channel.

429 answers are retried after their ``Retry-After`` (slack_sdk's rate-limit retry handler). A
reply that cannot be posted is logged; the user is told in a short ephemeral note when possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Coroutine
from typing import Any

from aiohttp import ClientError, ClientSession, InvalidURL, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import ChatError, Conversation, Recent, silent
from bot.http import HttpServer
from bot.render.slack import ACTION_PREFIX, amended, clip, escape, render
from bot.slackbot import texts
from bot.slackbot.channels import SlackChannels
from bot.slackbot.delivery import (
    RESPONSE_URL_POSTS,
    Delivery,
    Posted,
    ResponseUrlError,
    error_code,
)
from bot.slackbot.history import thread_loader
from bot.slackbot.incoming import ident, mapping, plain, signed, ssl_check, well_formed
from handlers.router import for_vigil
from handlers.types import ChatRequest, Platform, Reply

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
BOLT_LOG = logging.getLogger("bot.slackbot.bolt")
# Bolt reads SLACK_BOT_TOKEN from the environment itself and warns that the client we give it
# (which carries that same token, SLACK_API_URL and the retry handlers) takes precedence
BOLT_LOG.addFilter(lambda record: not str(record.msg).startswith("As you gave `client`"))
DEFAULT_API_URL = "https://slack.com/api"
MAX_RETRIES = 3


class SlackFront:
    platform: Platform = "slack"

    def __init__(
        self,
        app: Conversation,
        http: HttpServer | None,
        *,
        drain_s: float = 10.0,
        keep: int = 5000,
        ping_interval: float = 10.0,
        connect_timeout_s: float = 30.0,
        listen: bool = True,
    ) -> None:
        """Build the Bolt app and, in HTTP mode, mount ``/slack/events`` on ``http`` (before it
        starts). ``drain_s``: how long ``stop`` waits for answers under way. ``listen=False``:
        post only (mode ``post``: no events route, no Socket Mode; the scheduler role)."""
        env = app.settings.env
        self.app = app
        self.http = http
        self.mode = (
            "post" if not listen else "socket" if env.SLACK_APP_TOKEN is not None else "http"
        )
        self.drain_s = drain_s
        self.ping_interval = ping_interval
        self.connect_timeout_s = connect_timeout_s
        self.api_url = env.SLACK_API_URL or DEFAULT_API_URL
        token = env.SLACK_BOT_TOKEN.get_secret_value() if env.SLACK_BOT_TOKEN else None
        self._retry: list[AsyncRetryHandler] = [
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=MAX_RETRIES),
        ]
        self.client = AsyncWebClient(
            token=token, base_url=self.api_url + "/", retry_handlers=self._retry
        )
        self.delivery = Delivery(self.client, keep=keep, retry_handlers=self._retry)
        self.channels = SlackChannels(app.settings.channels.platform_names("slack"))
        self.threads: Recent[tuple[str, str]] = Recent(keep)
        self.events: Recent[str] = Recent(keep)
        self.bot_user: str | None = None
        self.bot_id: str | None = None
        self.started = False
        self._accepting = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._socket: AsyncSocketModeHandler | None = None
        self._session: ClientSession | None = None
        self.bolt: AsyncApp | None = None
        secret = env.SLACK_SIGNING_SECRET
        self._signing_secret = secret.get_secret_value() if secret else ""
        if token is not None:
            self.bolt = AsyncApp(
                client=self.client,
                signing_secret=secret.get_secret_value() if secret else "",
                # the listeners only ack and spawn the answer: responding after them is
                # faster than Bolt polling for the ack every 10 ms
                process_before_response=True,
                request_verification_enabled=self.mode == "http",
                logger=BOLT_LOG,
                name="vigil",
            )
            self.bolt.command(re.compile(r"^/"))(self._on_command)
            self.bolt.event("app_mention")(self._on_mention)
            self.bolt.event("message")(self._on_message)
            self.bolt.action(re.compile("^" + re.escape(ACTION_PREFIX)))(self._on_action)
        if http is not None and self.mode == "http":
            http.app.router.add_post(EVENTS_PATH, self._events)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        env = self.app.settings.env
        if self.bolt is None:
            raise ChatError("slack: SLACK_BOT_TOKEN is not set")
        if self.mode == "http" and env.SLACK_SIGNING_SECRET is None:
            raise ChatError(
                "slack: HTTP mode needs SLACK_SIGNING_SECRET (Basic Information > App "
                "Credentials), or set SLACK_APP_TOKEN for Socket Mode"
            )
        if self.mode == "http" and self.http is None:
            raise ChatError("slack: HTTP mode needs Vigil's HTTP server (VIGIL_HTTP_PORT)")
        # one connection pool for every Web API call and response_url post (a session per
        # call costs a connect and a teardown on the event loop each time)
        self._session = ClientSession()
        self.client.session = self.delivery.session = self._session
        try:
            await self._connect()
        except BaseException:
            await self._disconnect()
            raise
        self.started = self._accepting = True

    async def _connect(self) -> None:
        env = self.app.settings.env
        assert self.bolt is not None
        auth = await self._call("SLACK_BOT_TOKEN", self.client.auth_test())
        self.bot_user = auth.get("user_id")
        self.bot_id = auth.get("bot_id")
        await self.channels.resolve(self.client)
        if self.mode == "socket":
            assert env.SLACK_APP_TOKEN is not None
            app_token = env.SLACK_APP_TOKEN.get_secret_value()
            opened = await self._call(
                "SLACK_APP_TOKEN", self.client.apps_connections_open(app_token=app_token)
            )
            self._socket = AsyncSocketModeHandler(
                self.bolt,
                app_token,
                logger=logging.getLogger("bot.slackbot.socket"),
                web_client=self.client,
                ping_interval=self.ping_interval,
            )
            self._socket.client.wss_uri = opened["url"]
            try:  # the SDK retries a failed connection for ever: bound it at start
                await asyncio.wait_for(self._socket.connect_async(), self.connect_timeout_s)
            except TimeoutError:
                raise ChatError(
                    f"slack: the Socket Mode connection did not open within "
                    f"{self.connect_timeout_s:g}s; check the network to {opened['url'][:40]}"
                ) from None
        log.info(
            "slack: signed in as %s (%s mode), %d channel(s) mapped",
            auth.get("user"),
            self.mode,
            len(self.channels.ids),
        )

    async def _call(self, key: str, call: Coroutine[Any, Any, Any]) -> Any:
        """A Web API call at start: Slack's refusal or an unreachable API is a ``ChatError``."""
        try:
            return await call
        except SlackApiError as exc:
            raise ChatError(f"slack: {key} was refused ({error_code(exc)})") from None
        except (ClientError, OSError, TimeoutError) as exc:
            raise ChatError(
                f"slack: cannot reach the Slack Web API at {self.api_url} "
                f"({type(exc).__name__}); check SLACK_API_URL and the network"
            ) from None

    async def stop(self) -> None:
        """Stop taking events, let the answers under way finish (``drain_s`` at most; the rest
        are cancelled), close the Socket Mode connection."""
        self._accepting = False
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=self.drain_s)
            for task in late:
                task.cancel()
            if late:
                log.warning("slack: %d answer(s) still running at stop were cancelled", len(late))
                await asyncio.gather(*late, return_exceptions=True)
        await self._disconnect()
        self.started = False

    async def _disconnect(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._session is not None:
            self.client.session = self.delivery.session = None
            await self._session.close()
            self._session = None

    def health(self) -> dict[str, Any]:
        ok = self.started
        if self.mode == "socket":
            session = self._socket.client.current_session if self._socket else None
            ok = ok and session is not None and not session.closed
        return {
            "ok": ok,
            "mode": self.mode,
            "bot_user": self.bot_user,
            "answers_in_flight": len(self._tasks),
            "channels_missing": list(self.channels.missing),
        }

    # ------------------------------------------------------------------ HTTP mode

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Check the signature on the raw body first (401), then let Bolt parse and dispatch
        it; a signed body Bolt cannot read (bad encoding, JSON or shape) is a 400."""
        if not self._accepting or self.bolt is None:
            return web.Response(status=503, text="Vigil is not taking Slack events right now")
        raw = await request.read()
        stamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        if not (signed(self._signing_secret, raw, stamp, signature, time.time()) or ssl_check(raw)):
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            bolt_request = AsyncBoltRequest(
                body=raw.decode(request.charset or "utf-8"),
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
            )
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            log.debug("slack: a signed request Bolt cannot read: %s", type(exc).__name__)
            return web.json_response({"error": "malformed request"}, status=400)
        if not well_formed(bolt_request.body):
            log.debug("slack: a signed request not shaped as Slack's was refused")
            return web.json_response({"error": "malformed request"}, status=400)
        answer = await self.bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(answer)

    # ------------------------------------------------------------------ hub sink

    async def post(self, channel: str, reply: Reply) -> None:
        if not self.started:
            log.debug("slack: not started; #%s post skipped", channel)
            return
        target = self.channels.id_for(channel)
        if target is None:
            log.debug("slack: Vigil channel #%s has no Slack channel; skipped", channel)
            return
        try:
            await self.delivery.post(target, reply)
            await self.delivery.amend_for(reply)
        except SlackApiError as exc:
            log.warning("slack: posting to #%s (%s) failed: %s", channel, target, error_code(exc))
        except (ClientError, OSError, TimeoutError) as exc:
            log.warning("slack: posting to #%s failed: %s", channel, type(exc).__name__)

    # ------------------------------------------------------------------ listeners

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("slack: answering %s failed", what)

        task = asyncio.create_task(guarded(), name=f"slack {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _request(
        self,
        text: str,
        user: str,
        channel: str,
        thread: str | None,
        name: str | None = None,
        *,
        in_thread: str | None = None,
    ) -> ChatRequest:
        """``thread``: where the answer goes; ``in_thread``: the ``thread_ts`` of the thread the
        request was made in, whose messages ``history`` reads (None: not in a thread)."""
        history = (
            thread_loader(self.client, channel, in_thread, self._is_vigil) if in_thread else None
        )
        return ChatRequest(
            text=text,
            user=user,
            channel=self.channels.vigil_name(channel, name),
            platform="slack",
            thread_id=thread,
            history=history,
        )

    def _is_vigil(self, message: dict[str, Any]) -> bool:
        """Whether a message of a thread is Vigil's own."""
        user, bot = message.get("user"), message.get("bot_id")
        return bool((user and user == self.bot_user) or (bot and bot == self.bot_id))

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        text = plain(str(body.get("text") or "")).strip()
        if not self._accepting:
            await ack(text=texts.RESTARTING, response_type="ephemeral")
            return
        if text:
            working = texts.WORKING.format(text=escape(clip(text, 200)).replace("`", "'"))
            await ack(text=working, response_type="ephemeral")
        else:
            await ack()
        channel = str(body.get("channel_id", ""))
        user = str(body.get("user_id", ""))
        req = self._request(text, user, channel, None, body.get("channel_name"))
        url = body.get("response_url")
        self._spawn(self._answer_command(req, channel, user, url), "a slash command")

    async def _answer_command(
        self, req: ChatRequest, channel: str, user: str, url: str | None
    ) -> None:
        reply = await self.app.dispatch(req)
        if silent(reply):
            return
        try:
            await self._deliver_command(reply, channel, user, url)
        except (SlackApiError, ResponseUrlError, ClientError, OSError, TimeoutError) as exc:
            await self._not_posted(exc, channel, user, None, url)
        await self.delivery.amend_for(reply)

    async def _deliver_command(
        self, reply: Reply, channel: str, user: str, url: str | None
    ) -> None:
        """Through the response_url when it can carry the reply, else ``chat.postMessage``
        (charts need a channel, refs need the message's ts); ephemeral replies stay so."""
        rendered = render(reply)
        count = len(rendered.messages) + sum(len(render(r).messages) for r in reply.thread)
        by_url = url is not None and count <= RESPONSE_URL_POSTS
        if reply.ephemeral:
            if by_url and url is not None:
                await self.delivery.respond(url, reply, "ephemeral", rendered)
            else:
                await self.delivery.ephemeral(channel, user, reply)
            return
        if by_url and url is not None and not (rendered.charts or reply.refs):
            await self.delivery.respond(url, reply, "in_channel", rendered)
            return
        try:
            await self.delivery.post(channel, reply)
        except SlackApiError as refused:
            if url is None:
                raise
            # not a member of that channel (a DM, a private channel): the response_url still
            # works, without the charts (and at most five messages)
            try:
                await self.delivery.respond(url, reply, "in_channel", rendered)
            except (ResponseUrlError, ClientError, OSError, TimeoutError):
                raise refused from None

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if self.events.seen(str(body.get("event_id") or event.get("ts"))):
            return
        user = ident(event.get("user"))
        if event.get("bot_id") or not user or not self._accepting:
            return
        channel = ident(event.get("channel")) or ""
        in_thread = ident(event.get("thread_ts"))
        thread = in_thread or ident(event.get("ts"))
        if thread:
            self.threads.add((channel, thread))
        text = plain(str(event.get("text", "")))
        req = self._request(text, user, channel, thread, in_thread=in_thread)
        self._spawn(self._answer_in_thread(req, channel, thread), "a mention")

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Follow-ups for Vigil in a thread it was mentioned in, and direct messages; every other
        message is ignored (chatter in that thread, edits, bots, other threads)."""
        user = ident(event.get("user"))
        if event.get("subtype") or event.get("bot_id") or not user:
            return
        channel, thread = ident(event.get("channel")) or "", ident(event.get("thread_ts"))
        direct = event.get("channel_type") == "im"
        if not self._accepting or not (direct or (channel, thread) in self.threads):
            return
        text = str(event.get("text", ""))
        if not direct and self.bot_user and f"<@{self.bot_user}>" in text:
            return  # a mention: app_mention answers it
        text = plain(text)
        if not direct and not for_vigil(text, self._is_command):
            log.debug("slack: a follow-up in %s not for Vigil was left alone", channel)
            return
        if self.events.seen(str(body.get("event_id") or event.get("ts"))):
            return
        if thread:
            self.threads.add((channel, thread))
        req = self._request(text, user, channel, thread, in_thread=thread)
        what = "a direct message" if direct else "a thread follow-up"
        self._spawn(self._answer_in_thread(req, channel, thread), what)

    def _is_command(self, word: str) -> bool:
        return self.app.registry.get(word) is not None

    async def _answer_in_thread(self, req: ChatRequest, channel: str, thread: str | None) -> None:
        """Answer in ``thread`` (None: in the direct message itself)."""
        reply = await self.app.dispatch(req)
        if silent(reply):
            return
        try:
            if reply.ephemeral and not channel.startswith("D"):  # a DM is private already
                await self.delivery.ephemeral(channel, req.user, reply, thread)
            else:
                await self.delivery.post(channel, reply, thread_ts=thread)
        except (SlackApiError, ClientError, OSError, TimeoutError) as exc:
            await self._not_posted(exc, channel, req.user, thread, None)
        await self.delivery.amend_for(reply)

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        if not self._accepting:
            return
        # fields of the wrong type (never from Slack) read as missing
        container, message = mapping(body.get("container")), mapping(body.get("message"))
        channel = str(mapping(body.get("channel")).get("id") or container.get("channel_id", ""))
        ts = str(container.get("message_ts") or message.get("ts", ""))
        thread = str(message.get("thread_ts") or ts)
        user = str(mapping(body.get("user")).get("id", ""))
        blocks = message.get("blocks")
        blocks = [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []
        pressed = self.delivery.find(channel, ts) or Posted(
            channel, ts, str(message.get("text", "")), blocks
        )
        # a message in a thread, or a thread's parent (Slack gives both their thread_ts)
        in_thread = str(message.get("thread_ts") or "") or None
        req = self._request(
            str(action.get("value", "")), user, channel, thread, in_thread=in_thread
        )
        url = body.get("response_url")
        ephemeral = bool(container.get("is_ephemeral"))
        self._spawn(self._answer_action(req, channel, thread, pressed, url, ephemeral), "a button")

    async def _answer_action(
        self,
        req: ChatRequest,
        channel: str,
        thread: str,
        pressed: Posted,
        url: str | None,
        ephemeral_message: bool,
    ) -> None:
        reply = await self.app.dispatch(req)
        if silent(reply):
            return
        try:
            if reply.ephemeral and url is not None:
                await self.delivery.respond(url, reply, "ephemeral")
            elif reply.ephemeral:
                await self.delivery.ephemeral(channel, req.user, reply, thread)
            elif ephemeral_message and url is not None:
                await self.delivery.respond(url, reply, "ephemeral")
            else:
                await self.delivery.post(channel, reply, thread_ts=thread)
        except (SlackApiError, ResponseUrlError, ClientError, OSError, TimeoutError) as exc:
            await self._not_posted(exc, channel, req.user, thread, url)
        if not ephemeral_message:
            await self.delivery.amend_for(reply, pressed)
            return
        # an ephemeral message cannot be edited by chat.update; its response_url can
        for change in (a for a in reply.amends if a.ref is None and url is not None):
            blocks = amended(pressed.blocks, change.status, change.close)
            await self.delivery.replace(str(url), blocks, pressed.text)
        await self.delivery.amend(tuple(a for a in reply.amends if a.ref is not None))

    async def _not_posted(
        self,
        exc: Exception,
        channel: str,
        user: str,
        thread: str | None,
        url: str | None,
    ) -> None:
        """Log a reply that could not be posted, and tell the user briefly where possible."""
        error = error_code(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
        log.warning("slack: the answer for %s in %s could not be posted: %s", user, channel, error)
        # the user reads Slack's error code, never the name of one of our exceptions
        if isinstance(exc, SlackApiError):
            why = texts.SLACK_SAID.format(error=error)
        elif isinstance(exc, ResponseUrlError | InvalidURL):
            why = texts.URL_REFUSED
        else:
            why = texts.UNREACHABLE
        note = Reply(texts.NOT_POSTED.format(why=why, hint=texts.HINTS.get(error, "")), error=True)
        if url is not None:
            with contextlib.suppress(ResponseUrlError, ClientError, OSError, TimeoutError):
                await self.delivery.respond(url, note, "ephemeral")
                return
        with contextlib.suppress(SlackApiError, ClientError, OSError, TimeoutError):
            await self.delivery.ephemeral(channel, user, note, thread)
            return
        log.warning("slack: could not tell %s either", user)
