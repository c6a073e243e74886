"""Fuzzing ``POST /slack/events``: the real ``SlackFront`` (HTTP mode, the real command registry
and handlers) on a loopback port, against the Slack Web API stand-in, gets hypothesis-made
requests: slash commands, event callbacks, ``url_verification`` and interactive payloads of any
shape, signed correctly or not at all / badly, with random content types and cut-off bodies.

What must hold: never a 5xx; nothing that looks like Python's insides (a traceback, an exception
class name) in any answer nor in anything Vigil sent to Slack; no answer fails in the background
(no exception logged); the front keeps serving; an unsigned or badly signed request gets 401 and
runs nothing. The server runs once per module, in a thread with its own event loop, so each
example costs one HTTP request and the answers it starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import yaml
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from bot.app import VigilApp
from bot.config import load_settings
from bot.fronts import Fronts, start_fronts
from bot.slackbot.front import SlackFront
from handlers.types import ChatRequest, Reply
from tests.conftest import REPO
from tests.fuzz.strategies import FUZZ, chat_text, flat, json_value, leaks, mutated, obj, optional
from tests.standins import slack_api
from tests.standins.slack_api import SlackStandIn

BOT_TOKEN = "fuzz-bot-token-7Qx2"
SECRET = "fuzz-signing-secret-9c1e4b"
CHANNELS = ("C0GENERAL", "C0ALERTS", "C0OPS", "D0DIRECT", "C0NOPE", "", "G0PRIVATE")
USERS = ("W111", "W222", slack_api.BOT_USER, "", "USLACKBOT")
SIGNED_EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", 300))
UNSIGNED_EXAMPLES = max(SIGNED_EXAMPLES // 2, 10)
FRESH_ID = "Ev-fresh"
_EVENT_IDS = itertools.count(1)
THREADS = ("1700000000.000100", "1700000000.000200", "", "not-a-ts")


# --------------------------------------------------------------------------- the live front


@dataclass
class LiveSlack:
    """A running ``SlackFront`` on its own event loop (thread), and what it did."""

    slack: SlackStandIn
    url: str
    closed_url: str
    loop: asyncio.AbstractEventLoop
    front: SlackFront
    dispatched: list[ChatRequest] = field(default_factory=list)
    failures: list[logging.LogRecord] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"LiveSlack({self.url})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis: not every call
        printer.text(repr(self))

    def settle(self, timeout: float = 20.0) -> None:
        """Wait for the answers under way to finish (posted or given up)."""
        deadline = time.monotonic() + timeout
        while self.front._tasks:
            assert time.monotonic() < deadline, f"answers still running after {timeout}s"
            time.sleep(0.005)

    def logged(self) -> str:
        """The failures logged since the last request, with their tracebacks."""
        formatter = logging.Formatter("%(name)s: %(message)s")
        return "\n".join(formatter.format(record) for record in self.failures)

    def seen(self) -> tuple[int, int, int]:
        """How much has happened so far: dispatches, Web API calls, response_url posts."""
        return len(self.dispatched), len(self.slack.calls), len(self.slack.responses)

    def sent_since(self, before: tuple[int, int, int]) -> str:
        """Everything Vigil sent to Slack since ``before``: Web API parameters and response_url
        bodies."""
        calls = [c.params for c in self.slack.calls[before[1] :]]
        posts = [r.body for r in self.slack.responses[before[2] :]]
        return flat(calls) + "\n" + flat(posts)


class _Failures(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.into.append(record)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(root: Path) -> Path:
    """The shipped config with the chat rate limit lifted (every example may run its command)."""
    target = root / "data_config"
    shutil.copytree(REPO / "data_config", target)
    path = target / "ai-config.yml"
    data = yaml.safe_load(path.read_text())
    data["chat"] = {**data.get("chat", {}), "burst": 10_000, "requests": 10_000, "per": "1s"}
    path.write_text(yaml.safe_dump(data))
    return target


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSlack]:
    root = tmp_path_factory.mktemp("slack-fuzz")
    (root / "var").mkdir()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="slack-fuzz", daemon=True)
    thread.start()
    failures: list[logging.LogRecord] = []
    handler = _Failures(failures)
    logging.getLogger().addHandler(handler)
    with slack_api.serve({BOT_TOKEN}) as slack:
        settings = load_settings(
            config_dir=_config(root),
            env_file=root / "none.env",
            environ={
                "VIGIL_DATA_DIR": str(root / "var"),
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": slack.url,
                "VIGIL_HTTP_PORT": "0",
            },
        )
        dispatched: list[ChatRequest] = []

        async def start() -> tuple[VigilApp, Fronts]:
            app = VigilApp(settings, knowledge=False)
            real = app.dispatch

            async def dispatch(req: ChatRequest) -> Reply:
                dispatched.append(req)
                return await real(req)

            app.dispatch = dispatch  # type: ignore[method-assign]
            return app, await start_fronts(app)

        _app, fronts = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
        front = fronts.get("slack")
        assert isinstance(front, SlackFront) and fronts.http is not None
        live = LiveSlack(
            slack,
            f"{fronts.http.url}/slack/events",
            f"http://127.0.0.1:{_closed_port()}/response/closed",
            loop,
            front,
            dispatched,
            failures,
        )
        try:
            yield live
        finally:
            live.settle()
            asyncio.run_coroutine_threadsafe(fronts.stop(), loop).result(30)
            logging.getLogger().removeHandler(handler)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as session:
        yield session


# --------------------------------------------------------------------------- what is sent

channel_id = st.one_of(st.sampled_from(CHANNELS), st.text(max_size=12))
user_id = st.one_of(st.sampled_from(USERS), st.text(max_size=12))
ts = st.one_of(st.sampled_from(THREADS), st.text(max_size=20))
# where an answer may go: the stand-in (most), an expired one, a closed port, no URL, junk
response_url = st.one_of(
    st.sampled_from(["standin", "standin", "standin", "expired", "closed", "none"]),
    st.text(max_size=20).filter(lambda t: "://" not in t and not t.startswith("//")),
)


def _resolve_url(live: LiveSlack, choice: str) -> str | None:
    if choice == "standin":
        return live.slack.response_url()
    if choice == "expired":
        live.slack.expired.add("gone")
        return live.slack.response_url("gone")
    if choice == "closed":
        return live.closed_url
    if "://" in choice:  # a mutation made a URL: never post anywhere but here
        return "junk"
    return None if choice == "none" else choice


slash_forms = obj(
    {
        "token": "verification_token",
        "team_id": "T111",
        "channel_id": channel_id,
        "channel_name": st.sampled_from(["vigil", "vigil-alerts", "directmessage"]),
        "user_id": user_id,
        "user_name": "someone",
        "command": st.sampled_from(["/vigil", "/vigil", "/vigil", "/other", "vigil", ""]),
        "text": chat_text,
        "response_url": response_url,
        "trigger_id": "111.111.xxx",
        "ssl_check": optional(st.sampled_from(["1", "0"])),
    }
)
slack_event = obj(
    {
        "type": st.sampled_from(["app_mention", "message", "message", "reaction_added"]),
        "user": user_id,
        "text": chat_text,
        "channel": channel_id,
        "channel_type": optional(st.sampled_from(["im", "channel", "group"])),
        "ts": ts,
        "thread_ts": optional(ts),
        "event_ts": ts,
        "subtype": optional(st.sampled_from(["message_changed", "bot_message"])),
        "bot_id": optional(st.sampled_from([slack_api.BOT_ID, "B999"])),
        "team": "T111",
    }
)
event_callbacks = obj(
    {
        "token": "verification_token",
        "team_id": "T111",
        "api_app_id": "A111",
        "event": slack_event,
        "type": "event_callback",
        "event_id": FRESH_ID,  # made unique when sent: Slack's retries are dropped by id
        "event_time": st.integers(0, 2**32),
        "authorizations": [{"team_id": "T111", "user_id": slack_api.BOT_USER, "is_bot": True}],
    }
)
url_verifications = obj(
    {"token": "verification_token", "challenge": st.text(), "type": "url_verification"}
)
action = obj(
    {
        "action_id": st.sampled_from(["vigil:0", "vigil:1", "vigil:", "other"]),
        "block_id": st.sampled_from(["vigil:0", "vigil:0|alert:a-1", "b"]),
        "text": {"type": "plain_text", "text": "Acknowledge"},
        "value": chat_text,
        "type": "button",
        "action_ts": "1700000000.000300",
    }
)
interactive = obj(
    {
        "type": st.sampled_from(["block_actions", "block_actions", "view_submission"]),
        "user": obj({"id": user_id, "name": "someone"}),
        "api_app_id": "A111",
        "token": "verification_token",
        "container": obj(
            {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": st.booleans(),
            }
        ),
        "trigger_id": "111.222.valid",
        "team": {"id": "T111", "domain": "acme"},
        "channel": obj({"id": channel_id, "name": "x"}),
        "message": obj(
            {
                "ts": ts,
                "thread_ts": optional(ts),
                "text": chat_text,
                "blocks": st.lists(json_value, max_size=2),
            }
        ),
        "response_url": response_url,
        "actions": st.lists(action, min_size=1, max_size=2),
    }
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
content_types = st.one_of(
    st.sampled_from(
        [
            "",
            "text/plain",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded; charset=latin-1",
            "application/x-www-form-urlencoded; charset=no-such-charset",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(str.strip),
)


class Sent:
    """One request before it is sent: what kind, its data (a form, a JSON value, an interactive
    payload or raw bytes), its content type and how much of the body survives (``cut``). Not
    a dataclass: hypothesis shows a dataclass field by field, and some are 60 kB long."""

    def __init__(self, kind: str, data: Any, content_type: str, cut: float | None = None) -> None:
        self.kind, self.data, self.content_type, self.cut = kind, data, content_type, cut

    def __repr__(self) -> str:
        data = repr(self.data)  # whole, to replay it, unless hypothesis would refuse it
        data = data if len(data) <= 25_000 else f"{data[:3000]}... ({len(data):,} characters)"
        return f"Sent({self.kind!r}, {data}, {self.content_type!r}, cut={self.cut!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis shows it
        printer.text(repr(self))

    def body(self, live: LiveSlack) -> bytes:
        """The body, with any response_url choice made real (a stand-in URL, a closed port)."""
        data = self.data
        if isinstance(data, dict) and "response_url" in data and self.kind in ("slash", "action"):
            data = dict(data)
            real = _resolve_url(live, str(data.pop("response_url")))
            if real is not None:
                data["response_url"] = real
        if self.kind == "slash":
            body = urlencode(data).encode()
        elif self.kind == "action":
            payload = data if isinstance(data, str) else json.dumps(data)
            body = urlencode({"payload": payload}).encode()
        elif self.kind == "raw":
            body = data
        else:
            if isinstance(data, dict) and data.get("event_id") == FRESH_ID:
                data = {**data, "event_id": f"Ev{next(_EVENT_IDS)}"}
            body = json.dumps(data).encode()
        if self.cut is not None:
            body = body[: int(len(body) * self.cut)]
        return body


@st.composite
def requests(draw: st.DrawFn) -> Sent:
    """Any request Slack could send, or something else, maybe with the wrong content type and
    maybe cut short."""
    kind = draw(st.sampled_from(["slash", "slash", "event", "event", "verify", "action", "raw"]))
    if kind == "slash":
        sent = Sent(kind, draw(mutated(slash_forms)), FORM)
    elif kind in ("event", "verify"):
        sent = Sent(
            kind, draw(mutated(event_callbacks if kind == "event" else url_verifications)), JSON
        )
    elif kind == "action":
        payload = draw(
            st.one_of(
                mutated(interactive),
                mutated(interactive),
                st.text(max_size=40),
                json_value.map(json.dumps),
            )
        )
        sent = Sent(kind, payload, FORM)
    else:
        raw = draw(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
        sent = Sent(kind, raw, draw(st.sampled_from([FORM, JSON])))
    if draw(st.integers(0, 9)) == 0:
        sent.content_type = draw(content_types)
    if draw(st.integers(0, 9)) == 0:
        sent.cut = draw(st.floats(0, 1, exclude_max=True))
    return sent


def _examples(found: list[Sent]) -> Any:
    """``@example(sent=...)`` for each of ``found``."""

    def decorate(test: Any) -> Any:
        for sent in reversed(found):
            test = example(sent=sent)(test)
        return test

    return decorate


def _signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _post(
    client: httpx.Client, live: LiveSlack, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST ``body``; an empty Content-Type is left out; the failures logged before are
    forgotten (each example is checked on its own)."""
    live.failures.clear()
    sent = {k: v for k, v in headers.items() if v or k != "Content-Type"}
    return client.post(live.url, content=body, headers=sent)


def _check_answer(live: LiveSlack, answer: httpx.Response, body: bytes) -> None:
    sent = body.decode("utf-8", "replace")
    assert answer.status_code < 500, (answer.status_code, answer.text[:500], live.logged())
    assert leaks(answer.text, sent) == [], answer.text[:500]
    assert SECRET not in answer.text and BOT_TOKEN not in answer.text


# --------------------------------------------------------------------------- the tests


def _mention(**changes: Any) -> dict[str, Any]:
    event = slack_api.message_event("status", channel="C0GENERAL", user="W111", kind="app_mention")
    return {**slack_api.event_body({**event, "ts": THREADS[0]}), **changes}


def _press(**changes: Any) -> dict[str, Any]:
    message = {"ts": THREADS[0], "text": "alert", "blocks": []}
    action = {"action_id": "vigil:0", "text": {"type": "plain_text", "text": "Ack"}}
    body = slack_api.block_actions_body(
        message, {**action, "value": "ack a-1"}, channel_id="C0ALERTS", response_url="none"
    )
    return {**body, "response_url": "standin", **changes}


# what the fuzzing found (each was a 500, a crash in the background or an exception's name
# posted to the user before its fix), kept as fixed examples
FOUND = [
    Sent("event", _mention(event=None), JSON),  # Bolt's middleware: None.get
    Sent("event", _mention(authorizations={}), JSON),  # Bolt: authorizations[0] of a dict
    Sent("event", {**_mention(), "event": {**_mention()["event"], "thread_ts": []}}, JSON),
    Sent("raw", b"payload=\xff\xfe", FORM),  # not UTF-8
    Sent("slash", {"command": "/vigil", "text": "help"}, f"{FORM}; charset=no-such-charset"),
    Sent("action", _press(actions=[]), FORM),  # Bolt: actions[0]
    Sent("action", _press(actions=[{"value": "ack a-1"}]), FORM),  # Bolt: action["action_id"]
    Sent("action", _press(channel="C0ALERTS", container=[1], message=True), FORM),
    Sent("action", _press(response_url="expired"), FORM),  # "Slack said `ResponseUrlError`"
    Sent("slash", {"command": "/vigil", "text": "help", "response_url": "x y"}, FORM),
]


@settings(FUZZ, max_examples=SIGNED_EXAMPLES)
@given(sent=requests())
@_examples(FOUND)
def test_signed_requests_never_fail_nor_show_python_insides(
    live: LiveSlack, client: httpx.Client, sent: Sent
) -> None:
    body = sent.body(live)
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": sent.content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": _signature(SECRET, stamp, body),
    }
    before = live.seen()
    answer = _post(client, live, body, headers)
    live.settle()
    _check_answer(live, answer, body)
    out = live.sent_since(before)
    assert leaks(out, body.decode("utf-8", "replace")) == [], out[:2000]
    assert SECRET not in out and BOT_TOKEN not in out
    assert live.failures == [], live.logged()
    ran = live.dispatched[before[0] :]
    event(f"{sent.kind}: {answer.status_code}" + (", ran a command" if ran else ""))


bad_signing = st.sampled_from(
    ["none", "no-signature", "no-timestamp", "wrong-secret", "stale", "future", "junk-ts", "junk"]
)


@settings(FUZZ, max_examples=UNSIGNED_EXAMPLES)
@given(sent=requests(), how=bad_signing)
def test_unsigned_or_badly_signed_requests_get_401_and_run_nothing(
    live: LiveSlack, client: httpx.Client, sent: Sent, how: str
) -> None:
    body = sent.body(live)
    now = int(time.time())
    stamp = {"stale": now - 600, "future": now + 600}.get(how, now)
    headers = {
        "Content-Type": sent.content_type,
        "X-Slack-Request-Timestamp": "yesterday" if how == "junk-ts" else str(stamp),
        "X-Slack-Signature": (
            _signature("not-the-secret", str(stamp), body)
            if how == "wrong-secret"
            else "v0=" + "0" * 64
            if how == "junk"
            else _signature(SECRET, str(stamp), body)
        ),
    }
    if how in ("none", "no-signature"):
        del headers["X-Slack-Signature"]
    if how in ("none", "no-timestamp"):
        del headers["X-Slack-Request-Timestamp"]
    before = live.seen()
    answer = _post(client, live, body, headers)
    live.settle()
    _check_answer(live, answer, body)
    if b"ssl_check=1" in body:  # Slack's certificate check: Bolt answers it unsigned (200)
        assert answer.status_code in (200, 400, 401)
    else:
        assert answer.status_code == 401, (how, answer.status_code, answer.text[:200])
    assert live.seen() == before, "an unsigned request ran something"


def test_the_front_still_answers_after_the_fuzzing(live: LiveSlack, client: httpx.Client) -> None:
    """Last: a plain, signed ``/vigil help`` is acknowledged and answered."""
    key = "after-fuzz"
    form = slack_api.slash_command_form("help", response_url=live.slack.response_url(key))
    body = form.encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": _signature(SECRET, stamp, body),
    }
    answer = _post(client, live, body, headers)
    live.settle()
    assert answer.status_code == 200 and "Working on" in answer.text
    assert live.slack.posts_to(key), "no answer through the response_url"
