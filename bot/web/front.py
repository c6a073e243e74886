"""The web console: a local chat page with Vigil's channels, served by the process's
``HttpServer``. What ``vigil demo`` opens.

Routes (all but ``/healthz`` behind ``VIGIL_WEB_TOKEN`` when it is set, see ``bot.web.auth``):

- ``GET /`` the page, ``GET /static/{app.js,style.css}`` its script and style;
- ``GET /api/channels``: ``{"channels": [{name, description}]}``;
- ``GET /api/channels/{name}/messages?after=ID``: ``{"channel", "messages": [...]}``;
- ``POST /api/channels/{name}/messages`` ``{text, user, thread?}``: the user's message is kept and
  shown, then dispatched as a ``ChatRequest(platform="web")``; answers
  ``{"message": ..., "reply": ...}`` (an ephemeral reply only there, for that page);
- ``POST /api/actions`` ``{message_id, command, user}``: a button press; the reply goes in the
  message's thread and amends with ``ref=None`` edit the pressed message;
- ``GET /api/events``: Server-Sent Events, ``{"type": "new"|"edit"|"reset", "message"}``;
- ``GET /api/charts/{id}.png``: chart images.

Messages are JSON objects ``{id, channel, user, ts, text, parts, thread, parent, error,
ephemeral, refs, status, closed, rev}`` (see ``bot.web.store``).

``ChatRequest.history``: a question asked in a thread (``thread`` in the body) and a button press
(on a message, whose thread it is) read that thread from the store when a command asks (the top
message, then its replies: ``ConsoleStore.thread_messages``); a question in the channel has
``None``.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from bot.chat import ChatError, Conversation, silent
from bot.http import HttpServer
from bot.web.auth import Gate, same_origin
from bot.web.events import EventLog, StreamEnded, frame
from bot.web.inputs import BadRequest, Refused, display_name, json_body, message_id
from bot.web.store import BOT_USER, ConsoleStore, Message
from handlers.types import Amend, ChatRequest, HistoryLoader, Platform, Reply, ThreadMessage

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATIC = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
FAILED = "Something went wrong in the console; the bot's log says what."
NEEDS_TOKEN = (
    "This Vigil console needs its token: open the address Vigil printed when it started (it ends "
    "in ?token=...), or add ?token=VIGIL_WEB_TOKEN to this address. API clients send "
    "'Authorization: Bearer VIGIL_WEB_TOKEN'."
)
WRONG_HOST = (
    "This console answers on its own address only (127.0.0.1 or localhost); open it there, or "
    "set VIGIL_WEB_TOKEN to serve it under another name."
)
STOP_WAIT_S = 10.0
_CHART_NAME = re.compile(r"^[0-9a-f]{16}\.png$")


class WebConsole:
    """The web console front. ``heartbeat``: seconds between keep-alive comments on event
    streams; ``keep``: messages kept per channel; ``max_clients``: open event streams."""

    platform: Platform = "web"

    def __init__(
        self,
        app: Conversation,
        http: HttpServer,
        *,
        heartbeat: float = 15.0,
        keep: int = 500,
        max_clients: int = 100,
    ) -> None:
        self.app = app
        self.http = http
        self.heartbeat = heartbeat
        self.max_clients = max_clients
        env = app.settings.env
        token = env.VIGIL_WEB_TOKEN.get_secret_value() if env.VIGIL_WEB_TOKEN else None
        self._token = token
        self.gate = Gate(token, http.host)
        self.events = EventLog()
        self.store = ConsoleStore(self.events, keep=keep)
        self._static: dict[str, bytes] = {}
        self._answering: set[asyncio.Task[Reply]] = set()
        self._closing = False
        router = http.app.router
        router.add_get("/", self._guard(self._page, page=True))
        router.add_get("/static/{name}", self._guard(self._asset))
        router.add_get("/api/channels", self._guard(self._channels))
        router.add_get("/api/channels/{name}/messages", self._guard(self._history))
        router.add_post("/api/channels/{name}/messages", self._guard(self._ask))
        router.add_post("/api/actions", self._guard(self._action))
        router.add_get("/api/events", self._guard(self._stream))
        router.add_get("/api/charts/{name}", self._guard(self._chart))
        http.app.on_shutdown.append(self._on_shutdown)

    # ------------------------------------------------------------------ ChatFront

    @property
    def url(self) -> str:
        """The page's address, with ``?token=`` when a token is set (for the demo to print)."""
        base = f"{self.http.url}/"
        return f"{base}?token={self._token}" if self._token else base

    async def start(self) -> None:
        from bot.config import is_loopback

        if self._token is None and not is_loopback(self.http.host):
            # however the console was switched on (the demo forces it): never open on a network
            raise ChatError(
                f"the web console on {self.http.host} needs VIGIL_WEB_TOKEN (or bind "
                "VIGIL_HTTP_HOST=127.0.0.1, or VIGIL_WEB_CONSOLE=off)"
            )
        files = resources.files("bot.web") / "static"
        try:
            self._static = {name: (files / name).read_bytes() for name in STATIC}
        except OSError as exc:
            raise ChatError(
                f"the web console's page is missing from the installed package ({exc}); "
                "reinstall vigil or set VIGIL_WEB_CONSOLE=off"
            ) from exc
        self._closing = False
        log.info("web console on %s/", self.http.url)

    async def stop(self) -> None:
        self._closing = True
        self.events.close_all()
        if self._answering:
            await asyncio.wait(set(self._answering), timeout=STOP_WAIT_S)

    async def post(self, channel: str, reply: Reply) -> None:
        message = self.store.add_reply(channel, reply)
        self._apply(reply.amends, pressed=None)
        log.debug("web console: #%s got message %d", channel, message.id)

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "url": self.http.url,
            "clients": self.events.clients,
            "messages": len(self.store),
        }

    # ------------------------------------------------------------------ guards

    def _guard(self, handler: Handler, page: bool = False) -> Handler:
        """Access and origin checks, security headers, and no traceback ever reaching a user."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                refused = self._refusal(request, page)
                response = refused if refused is not None else await handler(request)
            except Refused as exc:
                response = _error(exc.status, str(exc))
            except web.HTTPException:
                raise
            except Exception:
                log.exception("web console: %s %s failed", request.method, request.path)
                response = _error(500, FAILED)
            if not response.prepared:
                for name, value in SECURITY_HEADERS.items():
                    response.headers.setdefault(name, value)
            return response

        return guarded

    def _refusal(self, request: web.Request, page: bool) -> web.StreamResponse | None:
        if page and self.gate.needs_token and "token" in request.query:
            if not self.gate.token_matches(request.query["token"]):
                return _refused(401, "That token is not this console's. " + NEEDS_TOKEN, page)
            # set the cookie and drop the token from the address bar and history
            response = web.Response(status=303, headers={"Location": request.path})
            self.gate.set_cookie(response, secure=request.secure)
            return response
        if not self.gate.allows(request):
            if self.gate.needs_token:
                return _refused(401, NEEDS_TOKEN, page)
            return _refused(403, WRONG_HOST, page)
        if request.method == "POST":
            if request.content_type != "application/json":
                return _error(415, "Send the body as JSON (Content-Type: application/json).")
            if not same_origin(request):
                return _error(403, "Requests from other sites are refused.")
        return None

    # ------------------------------------------------------------------ pages

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return self._file("index.html")

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC or name == "index.html":
            return _error(404, "No such file.")
        return self._file(name)

    def _file(self, name: str) -> web.Response:
        body = self._static.get(name)
        if body is None:
            return _error(503, "The console is not started.")
        return web.Response(body=body, content_type=STATIC[name], charset="utf-8")

    async def _chart(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        png = self.store.charts.get(name[:-4]) if _CHART_NAME.match(name) else None
        if png is None:
            return _error(404, "That chart is no longer kept.")
        return web.Response(
            body=png,
            content_type="image/png",
            headers={"Cache-Control": "private, max-age=86400, immutable"},
        )

    # ------------------------------------------------------------------ API

    async def _channels(self, request: web.Request) -> web.StreamResponse:
        configured = self.app.settings.channels.channels
        names = [*configured, *(c for c in self.store.channels() if c not in configured)]
        return web.json_response(
            {
                "channels": [
                    {"name": n, "description": configured[n].description if n in configured else ""}
                    for n in names
                ]
            }
        )

    async def _history(self, request: web.Request) -> web.StreamResponse:
        channel = self._known_channel(request)
        after = message_id(request.query.get("after", "0"), "after")
        messages = self.store.messages(channel, after)
        return web.json_response({"channel": channel, "messages": [m.to_json() for m in messages]})

    async def _ask(self, request: web.Request) -> web.StreamResponse:
        if self._closing:
            return _error(503, "The console is stopping.")
        channel = self._known_channel(request)
        body = await json_body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("'text' must be the message, a non-empty string.")
        user = display_name(body.get("user"), BOT_USER)
        parent: int | None = None
        if body.get("thread") is not None:
            asked_in = self.store.get(message_id(body["thread"], "thread"))
            if asked_in is None or asked_in.channel != channel:
                return _error(404, "That thread is no longer kept; ask in the channel.")
            parent = asked_in.top
        shown: Message | None = None
        if len(text) <= self.app.settings.ai.chat.max_input_chars:  # the router refuses longer
            shown = self.store.add_user_message(channel, user, text, parent)
        chat = ChatRequest(
            text=text,
            user=user,
            channel=channel,
            platform="web",
            thread_id=str(parent) if parent is not None else None,
            history=self._thread_loader(parent) if parent is not None else None,
        )
        reply = await self._dispatch(chat)
        if silent(reply):  # nothing to say (a limit already explained)
            return web.json_response({"message": shown.to_json() if shown else None, "reply": None})
        answer = self.store.add_reply(channel, reply, parent, private=reply.ephemeral)
        self._apply(reply.amends, pressed=None)
        return web.json_response(
            {"message": shown.to_json() if shown else None, "reply": answer.to_json()}
        )

    async def _action(self, request: web.Request) -> web.StreamResponse:
        if self._closing:
            return _error(503, "The console is stopping.")
        body = await json_body(request)
        message = self.store.get(message_id(body.get("message_id"), "message_id"))
        if message is None:
            return _error(404, "That message is no longer kept.")
        command = body.get("command")
        if not isinstance(command, str) or command not in message.buttons():
            raise BadRequest("'command' must be one of that message's buttons.")
        if message.closed:
            return _error(409, "That message is closed: its buttons no longer act.")
        user = display_name(body.get("user"), BOT_USER)
        reply = await self._dispatch(
            ChatRequest(
                text=command,
                user=user,
                channel=message.channel,
                platform="web",
                thread_id=str(message.top),
                history=self._thread_loader(message.top),
            )
        )
        answer = self.store.add_reply(message.channel, reply, message.top, private=reply.ephemeral)
        self._apply(reply.amends, pressed=message)
        return web.json_response({"reply": answer.to_json()})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if self._closing:
            return _error(503, "The console is stopping.")
        if self.events.clients >= self.max_clients:
            return _error(503, "Too many open console pages; close some and reload.")
        last = request.headers.get("Last-Event-ID") or request.query.get("last")
        sub, missed = self.events.subscribe(last)
        response = web.StreamResponse(
            headers={
                **SECURITY_HEADERS,
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            await response.write(b"retry: 2000\n: connected\n\n")
            if missed is None:
                reset = json.dumps({"type": "reset"})
                await response.write(frame(self.events.event_id(sub.since), reset))
                missed = []
            for seq, data in missed:
                await response.write(frame(self.events.event_id(seq), data))
            while True:
                try:
                    seq, data = await sub.next(self.heartbeat)
                except TimeoutError:
                    await response.write(b": ping\n\n")
                    continue
                except StreamEnded:
                    break
                await response.write(frame(self.events.event_id(seq), data))
        except ConnectionResetError:
            pass  # the page went away
        finally:
            self.events.unsubscribe(sub)
        return response

    # ------------------------------------------------------------------ helpers

    def _known_channel(self, request: web.Request) -> str:
        name = request.match_info["name"]
        if name in self.app.settings.channels.channels or self.store.has_channel(name):
            return name
        raise Refused(f"There is no channel #{name[:40]}.", 404)

    def _thread_loader(self, top: int) -> HistoryLoader:
        """Reads the thread of message ``top`` when called (what is kept then)."""

        async def load() -> list[ThreadMessage]:
            return self.store.thread_messages(top)

        return load

    async def _dispatch(self, request: ChatRequest) -> Reply:
        """Through the router; tracked so that ``stop`` lets answers under way finish."""
        task = asyncio.create_task(self.app.dispatch(request))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)
        return await asyncio.shield(task)

    def _apply(self, amends: tuple[Amend, ...], pressed: Message | None) -> None:
        for amend in amends:
            if amend.ref is None:
                targets = [pressed] if pressed is not None else []
            else:
                targets = self.store.by_ref(amend.ref)
            if not targets:
                log.debug("web console: nothing to amend for ref %s", amend.ref)
            for target in targets:
                self.store.amend(target, amend.status, amend.close)

    async def _on_shutdown(self, app: web.Application) -> None:
        self._closing = True
        self.events.close_all()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _refused(status: int, message: str, page: bool) -> web.Response:
    if not page:
        return _error(status, message)
    page_html = (
        "<!doctype html><meta charset=utf-8><title>Vigil console</title>"
        f"<p>{html.escape(message, quote=False)}</p>"
    )
    return web.Response(text=page_html, status=status, content_type="text/html")
