from __future__ import annotations

import logging

import pytest

from handlers import messages
from handlers.deps import Deps
from handlers.registry import Command, Registry, default_registry
from handlers.router import MAX_INPUT_CHARS, Router, parse
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
    reply = await Router(registry).dispatch(ChatRequest("ask " + "x" * MAX_INPUT_CHARS), Deps())
    assert reply.error and "shorten" in reply.text


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
