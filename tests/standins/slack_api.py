"""A loopback stand-in of the Slack Web API, ``response_url`` and Socket Mode, recording every
call it receives.

Speaks the real wire protocol (form, query or JSON bodies, ``Authorization: Bearer`` tokens, JSON
answers with ``ok``, 429 with ``Retry-After``), so the real ``slack_sdk`` clients (``WebClient``
and ``AsyncWebClient(base_url=...)``, ``AsyncWebhookClient``, the Socket Mode client) talk to it
unmodified. It runs an aiohttp server on its own event loop in a daemon thread: usable from sync
code (``vigil doctor`` in a subprocess) and from async tests alike.

What it answers: ``auth.test``, ``conversations.list`` (paged by ``cursor``),
``conversations.info``, ``conversations.replies`` (a thread's messages a test seeded with
``seed_thread`` and those posted in it, parent first, paged by ``cursor``),
``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``files.getUploadURLExternal``
+ the upload URL + ``files.completeUploadExternal`` (what ``files_upload_v2`` does),
``apps.connections.open`` (a ``ws://`` URL it serves: a test pushes envelopes and reads the
acks), and ``response_url`` posts at ``/response/KEY``.

The request bodies Slack sends to an app (slash command, ``block_actions``, events) are built
here from the shapes in ``../shared/data/slack/payloads.json`` (bolt-python's test fixtures),
and signed as Slack signs them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

T = TypeVar("T")

DEFAULT_CHANNELS = {
    "vigil-alerts": "C0ALERTS",
    "vigil-digest": "C0DIGEST",
    "vigil": "C0GENERAL",
    "vigil-ops": "C0OPS",
    "random": "C0RANDOM",
}
BOT_USER = "U0001"
BOT_ID = "B0001"


@dataclass
class SlackCall:
    """One Web API call: the method, the token it carried, its parameters (query, form and
    JSON body merged), when it arrived (``time.monotonic``) and the HTTP status answered."""

    method: str
    token: str | None
    params: dict[str, Any]
    at: float = 0.0
    status: int = 200


@dataclass
class ResponsePost:
    """One post to a ``response_url``."""

    key: str
    body: dict[str, Any]
    at: float


@dataclass
class SlackStandIn:
    valid_tokens: set[str]
    calls: list[SlackCall] = field(default_factory=list)
    url: str = ""
    """The Web API base, ``http://127.0.0.1:PORT/api`` (``SLACK_API_URL``)."""
    answers: dict[str, Callable[[SlackCall], dict[str, Any]]] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    """Channel name -> id, what ``conversations.list`` lists."""
    page_size: int = 100
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(channel id, ts) -> the message as posted and updated."""
    seeded: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(channel id, ts) -> a message people wrote (``seed_thread``)."""
    uploads: dict[str, bytes] = field(default_factory=dict)
    shared_files: list[dict[str, Any]] = field(default_factory=list)
    responses: list[ResponsePost] = field(default_factory=list)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Socket Mode: envelope id -> the ack the app sent back."""
    delays: dict[str, float] = field(default_factory=dict)
    """Method -> seconds to wait before answering."""
    expired: set[str] = field(default_factory=set)
    """``response_url`` keys answered with 404 ``expired_url``."""
    _throttled: dict[str, list[int]] = field(default_factory=dict)
    _failing: dict[str, list[str]] = field(default_factory=dict)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------------ for tests

    @property
    def base(self) -> str:
        return self.url.removesuffix("/api")

    def response_url(self, key: str | None = None) -> str:
        """A ``response_url`` whose posts are recorded under ``key``."""
        return f"{self.base}/response/{key or uuid.uuid4().hex[:8]}"

    def throttle(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        self._throttled.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error"}``."""
        self._failing.setdefault(method, []).extend([error] * times)

    def called(self, method: str) -> list[SlackCall]:
        """The calls of ``method`` that were answered (not throttled)."""
        return [c for c in self.calls if c.method == method and c.status == 200]

    def seed_thread(self, channel: str, messages: list[dict[str, Any]]) -> None:
        """Messages people wrote in channel id ``channel``, as ``conversations.replies`` lists
        them (``ts``, ``user`` or ``bot_id``, ``text``, and ``thread_ts`` in a thread)."""
        for message in messages:
            self.seeded[(channel, str(message["ts"]))] = {"type": "message", **message}

    def posts_to(self, key: str) -> list[dict[str, Any]]:
        return [r.body for r in self.responses if r.key == key]

    async def until(
        self, check: Callable[[], T], timeout: float = 5.0, what: str = "the stand-in"
    ) -> T:
        """Poll ``check`` until it returns something truthy; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.01)

    @property
    def sockets(self) -> int:
        return sum(not ws.closed for ws in self._sockets)

    def push(self, kind: str, payload: dict[str, Any], retry: int = 0) -> str:
        """Send an envelope (``slash_commands``, ``events_api``, ``interactive``) to every
        connected Socket Mode client; returns its ``envelope_id``."""
        envelope_id = uuid.uuid4().hex
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry,
            "retry_reason": "",
        }
        assert self._loop is not None, "the stand-in is not running"

        async def send() -> None:
            for ws in list(self._sockets):
                if not ws.closed:
                    await ws.send_str(json.dumps(envelope))

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(timeout=5)
        return envelope_id

    # ------------------------------------------------------------------ Web API

    def answer(self, call: SlackCall) -> dict[str, Any]:
        if self._failing.get(call.method):
            return {"ok": False, "error": self._failing[call.method].pop(0)}
        if call.token is None:
            return {"ok": False, "error": "not_authed"}
        if call.token not in self.valid_tokens:
            return {"ok": False, "error": "invalid_auth"}
        if call.method in self.answers:
            return self.answers[call.method](call)
        method = getattr(self, "_" + call.method.replace(".", "_"), None)
        if method is None:
            return {"ok": True}
        result: dict[str, Any] = method(call.params)
        return result

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://acme.slack.com/",
            "team": "Acme",
            "user": "vigil",
            "team_id": "T0001",
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _channel(self, name: str, cid: str) -> dict[str, Any]:
        return {
            "id": cid,
            "name": name,
            "is_channel": True,
            "is_private": False,
            "is_archived": False,
            "is_member": True,
        }

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        listed = sorted(self.channels.items(), key=lambda kv: kv[1])
        start = int(params.get("cursor") or 0)
        size = min(int(params.get("limit") or 100), self.page_size)
        page = listed[start : start + size]
        more = start + size < len(listed)
        return {
            "ok": True,
            "channels": [self._channel(name, cid) for name, cid in page],
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(str(params.get("channel", "")))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        name = next((n for n, c in self.channels.items() if c == cid), cid.lower())
        return {"ok": True, "channel": self._channel(name, cid)}

    def _channel_id(self, channel: str) -> str | None:
        channel = channel.lstrip("#")
        if channel in self.channels:
            return self.channels[channel]
        if channel in self.channels.values() or (channel[:1] in "CGD" and channel.isupper()):
            return channel
        return None

    def _new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(str(params.get("channel", "")))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self._new_ts()
        message = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": params.get("text", ""),
            "blocks": _blocks(params.get("blocks")),
        }
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        self.messages[(cid, ts)] = message
        return {"ok": True, "channel": cid, "ts": ts, "message": message}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(str(params.get("channel", "")))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        thread_ts = str(params.get("ts") or "")
        if not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        found = [
            m
            for (channel, ts), m in [*self.seeded.items(), *self.messages.items()]
            if channel == cid and thread_ts in (ts, m.get("thread_ts"))
        ]
        if not any(m["ts"] == thread_ts for m in found):
            return {"ok": False, "error": "thread_not_found"}
        found.sort(key=lambda m: _ts_key(m["ts"]))
        cursor = str(params.get("cursor") or "")
        if cursor and not cursor.startswith("next_ts:"):
            return {"ok": False, "error": "invalid_cursor"}
        start = int(cursor.removeprefix("next_ts:")) if cursor else 0
        size = max(1, min(int(params.get("limit") or 1000), 1000))
        page = found[start : start + size]
        more = start + size < len(found)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": f"next_ts:{start + size}" if more else ""},
        }

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(str(params.get("channel", "")))
        key = (cid or "", str(params.get("ts", "")))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        message = self.messages[key]
        if "text" in params:
            message["text"] = params["text"]
        if "blocks" in params:
            message["blocks"] = _blocks(params["blocks"])
        message["edited"] = {"user": BOT_USER, "ts": self._new_ts()}
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message["text"]}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._channel_id(str(params.get("channel", ""))) is None:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._new_ts()}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not params.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        if not files or any(f.get("id") not in self.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        channel = params.get("channel_id")
        if channel and self._channel_id(str(channel)) is None:
            return {"ok": False, "error": "channel_not_found"}
        for f in files:
            self.shared_files.append(
                {
                    "id": f["id"],
                    "title": f.get("title"),
                    "channel": channel,
                    "thread_ts": params.get("thread_ts"),
                    "bytes": self.uploads[f["id"]],
                }
            )
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"{self.base.replace('http', 'ws', 1)}/link/?ticket=t"}

    # ------------------------------------------------------------------ HTTP


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    return int(seconds), int(fraction[:6].ljust(6, "0") or 0)


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    body = await request.read()
    if not body:
        return params
    kind = request.headers.get("Content-Type", "")
    if kind.startswith("application/json"):
        params.update(json.loads(body))
    else:
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    return params


def _app(stand_in: SlackStandIn) -> web.Application:
    async def api(request: web.Request) -> web.Response:
        params = await _params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.pop("token", None)
        call = SlackCall(request.match_info["method"], token, params, time.monotonic())
        stand_in.calls.append(call)
        throttled = stand_in._throttled.get(call.method)
        if throttled:
            call.status = 429
            headers = {"Retry-After": str(throttled.pop(0))}
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers=headers
            )
        if call.method in stand_in.delays:
            await asyncio.sleep(stand_in.delays[call.method])
        if call.method == "apps.connections.open" and not str(token).startswith("xapp-"):
            return web.json_response({"ok": False, "error": "not_allowed_token_type"})
        return web.json_response(stand_in.answer(call))

    async def upload(request: web.Request) -> web.Response:
        stand_in.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text=f"OK - {len(stand_in.uploads[request.match_info['file_id']])}")

    async def respond(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if key in stand_in.expired:
            return web.Response(status=404, text="expired_url")
        body = json.loads(await request.read() or b"{}")
        stand_in.responses.append(ResponsePost(key, body, time.monotonic()))
        return web.Response(text="ok")

    async def link(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        stand_in._sockets.append(ws)
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0001"}}
        await ws.send_str(json.dumps(hello))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                data = json.loads(message.data)
                if "envelope_id" in data:
                    stand_in.acks[data["envelope_id"]] = data
        return ws

    app = web.Application()
    app.router.add_route("*", "/api/{method}", api)
    app.router.add_post("/upload/{file_id}", upload)
    app.router.add_post("/response/{key}", respond)
    app.router.add_get("/link/", link)
    return app


@contextmanager
def serve(valid_tokens: set[str], **options: Any) -> Iterator[SlackStandIn]:
    """Serve the stand-in on a free loopback port until the block ends. ``options`` are
    ``SlackStandIn`` fields (``channels``, ``page_size``, ``delays``)."""
    stand_in = SlackStandIn(valid_tokens=set(valid_tokens), **options)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(stand_in), access_log=None, handle_signals=False)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = runner.addresses[0][1]
        stand_in.url = f"http://127.0.0.1:{port}/api"
        stand_in._loop = loop
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="slack-stand-in", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the Slack stand-in did not start")
    try:
        yield stand_in
    finally:

        async def shutdown() -> None:
            for ws in list(stand_in._sockets):
                with suppress(Exception):
                    await ws.close()
            await runner.cleanup()

        with suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


# --------------------------------------------------------------------------- what Slack sends


def slash_command_form(
    text: str,
    *,
    response_url: str,
    channel_id: str = "C0GENERAL",
    channel_name: str = "vigil",
    user_id: str = "W111",
    command: str = "/vigil",
) -> str:
    """The form body Slack posts for ``/vigil TEXT`` (the shape of bolt-python's fixture)."""
    return urlencode(
        {
            "token": "verification_token",
            "team_id": "T111",
            "team_domain": "test-domain",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": "primary-owner",
            "command": command,
            "text": text,
            "enterprise_id": "E111",
            "enterprise_name": "Org Name",
            "response_url": response_url,
            "trigger_id": "111.111.xxx",
        }
    )


def slash_command_payload(text: str, **kwargs: Any) -> dict[str, Any]:
    """The same as a Socket Mode ``slash_commands`` payload (a JSON object)."""
    return dict(parse_qsl(slash_command_form(text, **kwargs), keep_blank_values=True))


def event_body(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """An Events API ``event_callback`` around ``event`` (an ``app_mention`` or ``message``)."""
    return {
        "token": "verification_token",
        "team_id": "T111",
        "enterprise_id": "E111",
        "api_app_id": "A111",
        "event": {"team": "T111", "event_ts": event.get("ts", ""), **event},
        "type": "event_callback",
        "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": "T111",
                "user_id": BOT_USER,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }


def message_event(
    text: str,
    *,
    channel: str,
    user: str = "W222",
    ts: str | None = None,
    thread_ts: str | None = None,
    kind: str = "message",
    **extra: Any,
) -> dict[str, Any]:
    event = {
        "client_msg_id": str(uuid.uuid4()),
        "type": kind,
        "text": text,
        "user": user,
        "ts": ts or f"{time.time():.6f}",
        "channel": channel,
        **extra,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def block_actions_body(
    message: dict[str, Any],
    action: dict[str, Any],
    *,
    channel_id: str,
    response_url: str,
    user_id: str = "W111",
) -> dict[str, Any]:
    """What Slack posts when ``user_id`` presses ``action`` (a button element of the message's
    blocks) on ``message`` (as the stand-in stored it) in ``channel_id``."""
    return {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": "primary-owner",
            "name": "primary-owner",
            "team_id": "T111",
        },
        "api_app_id": "A111",
        "token": "verification_token",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": "111.222.valid",
        "team": {"id": "T111", "domain": "workspace-domain"},
        "channel": {"id": channel_id, "name": "test-channel"},
        "message": message,
        "response_url": response_url,
        "actions": [
            {
                "action_id": action["action_id"],
                "block_id": action.get("block_id", "b"),
                "text": action["text"],
                "value": action["value"],
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def signed_headers(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack signs a request with (``v0=`` HMAC-SHA256 of ``v0:TS:BODY``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature or ""}
