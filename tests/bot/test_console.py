from __future__ import annotations

import io

from bot.console import repl
from bot.render.terminal import channel_line, render
from handlers.types import Button, Buttons, Chart, Context, Fields, Reply, Section, Table


async def test_repl_answers_each_line_until_quit() -> None:
    seen: list[str] = []

    async def handle(text: str) -> Reply:
        seen.append(text)
        return Reply(f"echo {text}")

    out = io.StringIO()
    await repl(handle, stdin=io.StringIO("status\n\nask why?\nquit\nnever read\n"), stdout=out)
    assert seen == ["status", "ask why?"]
    assert "echo status" in out.getvalue() and out.getvalue().count("vigil> ") >= 3


async def test_repl_stops_at_end_of_input() -> None:
    async def handle(text: str) -> Reply:
        return Reply("ok")

    out = io.StringIO()
    await repl(handle, stdin=io.StringIO("help\n"), stdout=out, prompt="")
    assert out.getvalue() == "ok\n\n"


def test_render_every_part() -> None:
    reply = Reply(
        "headline",
        parts=(
            Section("body", title="What we know"),
            Fields((("cpu", "91 %"), ("host", "gw-1"))),
            Table(("service", "state"), (("checkout", "ok"), ("payments", "2 past baseline"))),
            Chart(b"\x89PNG" + b"0" * 3000, "latency"),
            Buttons((Button("Acknowledge", "ack alert-1"),)),
            Context("as of 10:05"),
        ),
    )
    text = render(reply)
    assert text.splitlines()[0] == "headline"
    assert "What we know:\nbody" in text
    assert "cpu   91 %" in text
    assert "payments  2 past baseline" in text
    assert "[chart: latency, 2 KB PNG]" in text
    assert "[Acknowledge: `ack alert-1`]" in text


def test_channel_line_prefixes_the_first_line_and_indents_the_rest() -> None:
    line = channel_line("alerts", Reply("fired", parts=(Section("detail"),)))
    assert line == "[#alerts] fired\n    detail"
