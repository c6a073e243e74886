"""A Slack world per test: the Web API stand-in, a real ``VigilApp`` (no knowledge store) with a
registry the test chooses, the real ``SlackFront`` started by ``start_fronts`` on a loopback
port, and a client that sends Slack's signed requests to ``/slack/events``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.app import VigilApp
from bot.config import Settings
from bot.fronts import Fronts, start_fronts
from bot.slackbot.front import SlackFront
from handlers import help
from handlers.deps import Deps
from handlers.registry import Command, Registry
from handlers.types import (
    Amend,
    Button,
    Buttons,
    Chart,
    ChatRequest,
    Context,
    Fields,
    Reply,
    Section,
)
from tests.standins import slack_api
from tests.standins.slack_api import SlackStandIn

BOT_TOKEN = "xoxb-test-0000000000"
APP_TOKEN = "xapp-1-test-0000000000"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


STATUS = Reply(
    "All quiet on payments.",
    parts=(Fields((("p95", "120 ms"), ("errors", "0.1 %"))), Context("as of now")),
)
CHART = Reply("Latency of checkout", parts=(Chart(PNG, "checkout p95", "a line"),))
LONG = Reply("A long answer.", parts=tuple(Section("word " * 2000, f"Part {n}") for n in range(8)))
SECRET_REPLY = Reply("Only you see this.", ephemeral=True)


def _ack(req: ChatRequest) -> Reply:
    return Reply(
        f"{req.args} is acknowledged by {req.user}.",
        amends=(Amend(f"Acknowledged by {req.user}"),),
    )


def _resolve(req: ChatRequest) -> Reply:
    return Reply(
        f"{req.args} resolved by {req.user}.",
        amends=(Amend(f"Resolved by {req.user}", close=True),),
    )


Make = Callable[[ChatRequest], Reply]


@dataclass
class Recorder:
    """A registry whose commands record the requests they get; ``ask`` takes ``delay_s``."""

    requests: list[ChatRequest] = field(default_factory=list)
    delay_s: float = 0.0

    def command(self, name: str, make: Make, mutates: bool = False) -> Command:
        async def handler(req: ChatRequest, deps: Deps) -> Reply:
            self.requests.append(req)
            return make(req)

        return Command(name, f"test {name}", name, handler, mutates=mutates)

    async def _slow(self, req: ChatRequest, deps: Deps) -> Reply:
        self.requests.append(req)
        await asyncio.sleep(self.delay_s)
        return Reply(f"Answer to: {req.args}", parts=(Context("slow path"),))

    def registry(self) -> Registry:
        registry = Registry(
            [
                Command("ask", "slow answers", "ask Q", self._slow),
                self.command("status", lambda r: STATUS),
                self.command("chart", lambda r: CHART),
                self.command("long", lambda r: LONG),
                self.command("secret", lambda r: SECRET_REPLY),
                self.command("ack", _ack, mutates=True),
                self.command("resolve", _resolve, mutates=True),
            ]
        )
        registry.add(help.command_for(registry))
        return registry


def alert_reply(alert_id: str = "a-3") -> Reply:
    """An alert as the alerts job posts it: buttons, a ref, a thread reply."""
    return Reply(
        f"[critical] payments/payments-2: memory_leak ({alert_id})",
        parts=(
            Section("memory_usage on payments-2 is 91 % (normal 50 %)."),
            Buttons(
                (
                    Button("Acknowledge", f"ack {alert_id}", "primary"),
                    Button("Resolve", f"resolve {alert_id}", "danger"),
                )
            ),
            Context(f"{alert_id} · details in thread"),
        ),
        thread=(Reply(f"{alert_id} details", parts=(Section("memory_usage +6.0 sigma"),)),),
        refs=(f"alert:{alert_id}",),
    )


@dataclass
class SlackWorld:
    slack: SlackStandIn
    app: VigilApp
    fronts: Fronts
    session: aiohttp.ClientSession
    recorder: Recorder

    @property
    def front(self) -> SlackFront:
        front = self.fronts.get("slack")
        assert isinstance(front, SlackFront)
        return front

    @property
    def events_url(self) -> str:
        assert self.fronts.http is not None
        return f"{self.fronts.http.url}/slack/events"

    async def send(
        self,
        body: str,
        content_type: str = "application/x-www-form-urlencoded",
        timestamp: int | None = None,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, float]:
        """POST a signed body to /slack/events: (status, body, seconds to the answer)."""
        signed = slack_api.signed_headers(secret, body, timestamp)
        began = time.perf_counter()
        async with self.session.post(
            self.events_url,
            data=body.encode(),
            headers={"Content-Type": content_type, **signed, **(headers or {})},
        ) as answer:
            text = await answer.text()
            return answer.status, text, time.perf_counter() - began

    async def slash(
        self, text: str, channel_id: str = "C0GENERAL", user_id: str = "W111", key: str = "r1"
    ) -> tuple[int, dict[str, Any], float]:
        """``/vigil TEXT``: (status, the ack's JSON body or {}, seconds to the ack)."""
        form = slack_api.slash_command_form(
            text,
            response_url=self.slack.response_url(key),
            channel_id=channel_id,
            user_id=user_id,
        )
        status, body, took = await self.send(form)
        return status, json.loads(body) if body.strip() else {}, took

    async def event(
        self, event: dict[str, Any], event_id: str | None = None, **headers: str
    ) -> int:
        body = json.dumps(slack_api.event_body(event, event_id))
        status, _, _ = await self.send(body, "application/json", headers=headers)
        return status

    async def press(
        self, channel_id: str, ts: str, label: str, user_id: str = "W111", key: str = "b1"
    ) -> int:
        """Press the button ``label`` on the stand-in's copy of message ``ts``."""
        message = self.slack.messages[(channel_id, ts)]
        button = next(
            e
            for block in message["blocks"]
            if block["type"] == "actions"
            for e in block["elements"]
            if e["text"]["text"] == label
        )
        body = slack_api.block_actions_body(
            message,
            button,
            channel_id=channel_id,
            response_url=self.slack.response_url(key),
            user_id=user_id,
        )
        status, _, _ = await self.send(urlencode({"payload": json.dumps(body)}))
        return status


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with slack_api.serve({BOT_TOKEN, APP_TOKEN}) as stand_in:
        yield stand_in


def slack_env(slack: SlackStandIn, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
        "VIGIL_HTTP_PORT": "0",
        **extra,
    }


@pytest.fixture
def world_factory(
    slack: SlackStandIn, make_settings: Callable[..., Settings]
) -> Callable[..., Any]:
    """``async with world_factory(registry=..., **env) as world``."""

    @asynccontextmanager
    async def make(
        registry: Registry | None = None, recorder: Recorder | None = None, **env: str
    ) -> AsyncIterator[SlackWorld]:
        recorder = recorder or Recorder()
        settings = make_settings(**slack_env(slack, **env))
        app = VigilApp(settings, registry=registry or recorder.registry(), knowledge=False)
        fronts = await start_fronts(app)
        try:
            async with aiohttp.ClientSession() as session:
                yield SlackWorld(slack, app, fronts, session, recorder)
        finally:
            await fronts.stop()

    return make


@pytest.fixture
async def world(world_factory: Callable[..., Any]) -> AsyncIterator[SlackWorld]:
    async with world_factory() as made:
        yield made
