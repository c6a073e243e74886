from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from handlers import messages
from handlers.access import AccessPolicy, AccessRule
from handlers.deps import Deps
from handlers.limits import ChatLimits, RateLimiter
from handlers.registry import Command, Registry, default_registry
from handlers.router import Router, garbled, parse
from handlers.types import ChatRequest, Reply, Table


@pytest.fixture
def registry() -> Registry:
    return default_registry()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status", ("status", "")),
        ("STATUS payments", ("status", "payments")),
        ("<@U0LAN0Z89> status", ("status", "")),
        ("<@!123456789> help ask", ("help", "ask")),
        ("/vigil ask why is checkout slow?", ("ask", "why is checkout slow?")),
        ("why is payments slow?", ("ask", "why is payments slow?")),
        ("is gw-1 ok?", ("ask", "is gw-1 ok?")),
        ("checkout latency?", ("ask", "checkout latency?")),
        ("stauts", ("stauts", "")),
        ("   ", ("", "")),
        ("<@U0LAN0Z89>", ("", "")),
        ("?", ("help", "")),
    ],
)
def test_parse(registry: Registry, text: str, expected: tuple[str, str]) -> None:
    assert parse(text, registry) == expected


async def test_help_is_generated_from_the_registry(registry: Registry) -> None:
    reply = await Router(registry).dispatch(ChatRequest("help"), Deps())
    table = next(p for p in reply.parts if isinstance(p, Table))
    listed = {row[0].split()[0] for row in table.rows}
    assert listed == {c.name for c in registry}


async def test_help_for_a_command_and_for_nonsense(registry: Registry) -> None:
    router = Router(registry)
    reply = await router.dispatch(ChatRequest("help ask"), Deps())
    assert "ask QUESTION" in reply.text
    reply = await router.dispatch(ChatRequest("help frobnicate"), Deps())
    assert "no command `frobnicate`" in reply.text


async def test_a_new_command_appears_in_help() -> None:
    async def ping(req: ChatRequest, deps: Deps) -> Reply:
        return Reply("pong " + req.args)

    registry = default_registry()
    registry.add(Command("ping", "answers pong", "ping [TEXT]", ping))
    router = Router(registry)
    assert (await router.dispatch(ChatRequest("ping hi"), Deps())).text == "pong hi"
    reply = await router.dispatch(ChatRequest("help"), Deps())
    assert any(
        row[0] == "ping [TEXT]" for p in reply.parts if isinstance(p, Table) for row in p.rows
    )


def test_duplicate_names_are_refused() -> None:
    registry = default_registry()
    with pytest.raises(ValueError, match="twice"):
        registry.add(Command("status", "again", "status", registry.get("status").handler))


async def test_unknown_command_suggests_the_closest(registry: Registry) -> None:
    reply = await Router(registry).dispatch(ChatRequest("stauts"), Deps())
    assert reply.error and reply.ephemeral
    assert "Did you mean `status`?" in reply.text


async def test_empty_input_gets_a_hint(registry: Registry) -> None:
    reply = await Router(registry).dispatch(ChatRequest("  "), Deps())
    assert reply.text == messages.EMPTY_INPUT


async def test_overlong_input_is_refused_without_running_anything(registry: Registry) -> None:
    limit = ChatLimits().max_input_chars
    reply = await Router(registry).dispatch(ChatRequest("ask " + "x" * limit), Deps())
    assert reply.error and reply.ephemeral and "shorten" in reply.text
    assert f"{limit + 4:,} characters" in reply.text
    short = Router(registry, limits=ChatLimits(max_input_chars=50))
    assert "at most 50" in (await short.dispatch(ChatRequest("ask " + "y" * 60), Deps())).text


async def test_a_crashing_handler_becomes_a_reply_with_an_error_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom(req: ChatRequest, deps: Deps) -> Reply:
        raise RuntimeError("database password=hunter2 rejected")

    router = Router(Registry([Command("boom", "fails", "boom", boom)]))
    with caplog.at_level(logging.ERROR):
        reply = await router.dispatch(ChatRequest("boom", user="U1"), Deps())
    assert reply.error
    assert "Traceback" not in reply.text and "hunter2" not in reply.text
    error_id = reply.text.split("(error ")[1][:8]
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_ask_without_telemetry_says_what_to_configure(registry: Registry) -> None:
    reply = await Router(registry).dispatch(ChatRequest("ask why is checkout slow?"), Deps())
    assert "PROMETHEUS_URL" in reply.text
    reply = await Router(registry).dispatch(ChatRequest("ask"), Deps())
    assert "Usage" in reply.text


@pytest.mark.parametrize(
    ("text", "is_garbled"),
    [
        ("???", True),
        ("\x00\x01\x02\x03ab\x04\x05\x06\x07\x08", True),
        ("%%%% $$$$ ^^^^ !!", True),
        ("a b c", True),
        ("status", False),
        ("why is checkout-2 at 95% cpu?", False),
        ("p95 > 200ms on gw-1 ???", False),
        ("ok", False),
    ],
)
def test_garbled_input_is_told_apart_from_terse_input(text: str, is_garbled: bool) -> None:
    assert garbled(text) is is_garbled


async def test_garbled_input_gets_the_help_hint_and_runs_nothing(registry: Registry) -> None:
    reply = await Router(registry).dispatch(
        ChatRequest("@vigil ¿¿ ## !!", platform="slack"), Deps()
    )
    assert reply.ephemeral and reply.text == messages.GARBLED_INPUT


def _counting_registry(calls: list[ChatRequest]) -> Registry:
    async def handle(req: ChatRequest, deps: Deps) -> Reply:
        calls.append(req)
        return Reply("done")

    return Registry(
        [
            Command("look", "reads", "look", handle),
            Command("fix", "changes state", "fix", handle, mutates=True),
        ]
    )


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        (ChatRequest("fix", user="U1", channel="general", platform="slack"), True),
        (ChatRequest("fix", user="U2", channel="alerts", platform="slack"), True),
        (ChatRequest("fix", user="U2", channel="C0GENERAL", platform="slack"), False),
        (ChatRequest("fix", user="42", roles=("oncall",), platform="discord"), True),
        (
            ChatRequest("fix", user="42", roles=("dev",), channel="general", platform="discord"),
            False,
        ),
        (ChatRequest("fix", user="anyone", platform="web"), True),
        (ChatRequest("fix", user="local", platform="terminal"), True),
        (ChatRequest("fix", user="vigil", platform="scheduler"), True),
    ],
)
async def test_state_changing_commands_only_for_who_access_names(
    request_: ChatRequest, allowed: bool
) -> None:
    calls: list[ChatRequest] = []
    access = AccessPolicy(
        slack=AccessRule(users=("U1",), channels=("#alerts",)),
        discord=AccessRule(roles=("oncall",)),
    )
    router = Router(_counting_registry(calls), access=access)
    reply = await router.dispatch(request_, Deps())
    assert bool(calls) is allowed
    if not allowed:
        assert reply.ephemeral and reply.error and "`fix` changes state" in reply.text
        assert "access" in reply.text
    # reading is never restricted
    read = await router.dispatch(replace(request_, text="look"), Deps())
    assert read.text == "done"


def test_access_defaults_let_the_alert_channels_act_and_nobody_else_on_chat_platforms() -> None:
    policy = AccessPolicy()
    assert policy.allows(ChatRequest("ack a-1", user="U9", channel="alerts", platform="slack"))
    assert not policy.allows(ChatRequest("ack a-1", user="U9", channel="general", platform="slack"))
    assert not policy.allows(ChatRequest("ack a-1", user="1", channel="C77", platform="discord"))
    assert policy.allows(ChatRequest("ack a-1", user="bob", platform="web"))


async def test_each_user_is_rate_limited_on_their_own(registry: Registry) -> None:
    calls: list[ChatRequest] = []
    router = Router(_counting_registry(calls), limits=ChatLimits(requests=6, per="1m", burst=3))
    alice = ChatRequest("look", user="alice", platform="slack")
    replies = [await router.dispatch(alice, Deps()) for _ in range(5)]
    assert [r.text for r in replies[:3]] == ["done"] * 3
    refused = replies[3]
    assert refused.ephemeral and refused.error and "wait 10s" in refused.text
    assert replies[4] == Reply("", ephemeral=True)  # told once, then nothing to post
    assert len(calls) == 3  # a refused request runs nothing
    bob = ChatRequest("look", user="bob", platform="slack")
    assert (await router.dispatch(bob, Deps())).text == "done"
    # the terminal is the operator: never limited
    local = ChatRequest("look", user="alice", platform="terminal")
    assert all([(await router.dispatch(local, Deps())).text == "done" for _ in range(10)])


def test_the_rate_limiter_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(ChatLimits(requests=60, per="1m", burst=2), clock=lambda: now[0])
    req = ChatRequest("x", user="u", platform="discord")
    assert limiter.check(req) == 0 and limiter.check(req) == 0
    assert limiter.check(req) == pytest.approx(1.0)
    now[0] += 0.5
    assert limiter.check(req) == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.check(req) == 0
