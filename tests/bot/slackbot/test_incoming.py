"""Slack's markup turned back into text, and which thread follow-ups are for Vigil."""

from __future__ import annotations

import pytest

from bot.slackbot.incoming import plain
from handlers.router import for_vigil

COMMANDS = {"status", "ack", "chart"}


def _is_command(word: str) -> bool:
    return word.lower() in COMMANDS


@pytest.mark.parametrize(
    ("sent", "typed"),
    [
        ("why is p95 &gt; 200ms &amp; rising &lt;now&gt;?", "why is p95 > 200ms & rising <now>?"),
        ("&amp;lt; stays an escape", "&lt; stays an escape"),
        ("errors in <#C0OPS|vigil-ops>", "errors in #vigil-ops"),
        ("errors in <#C0OPS|>", "errors in #C0OPS"),
        (
            "see <https://grafana.example/d/1?a=1&amp;b=2|the board>",
            "see the board (https://grafana.example/d/1?a=1&b=2)",
        ),
        ("see <https://grafana.example/d/1>", "see https://grafana.example/d/1"),
        ("is <http://example.com|example.com> down", "is example.com down"),
        ("mail <mailto:ops@example.com|ops@example.com>", "mail ops@example.com"),
        ("<@U0001> status", "<@U0001> status"),
        ("<!here> <!subteam^S1|@oncall> hi", "<!here> <!subteam^S1|@oncall> hi"),
        ("a <b", "a <b"),
    ],
)
def test_plain_gives_back_what_was_typed(sent: str, typed: str) -> None:
    assert plain(sent) == typed


@pytest.mark.parametrize(
    "text",
    [
        "status",
        "Ack a-3",
        "chart p95",
        "why is it slow",
        "What's the error rate",
        "show me the p95",
        "any errors since 10:00",
        "p95 looks high?",
        "vigil: look at payments",
        "@vigil look at payments",
    ],
)
def test_commands_and_questions_are_for_vigil(text: str) -> None:
    assert for_vigil(text, _is_command)


@pytest.mark.parametrize(
    "text",
    [
        "ok I'll restart it",
        ":+1:",
        "thanks!",
        "",
        "   ",
        "statuses look fine to me",
        "anyone else seeing this",
        "this is fine",
        "<@W333> can you restart it?",  # for that person
    ],
)
def test_chatter_is_not_for_vigil(text: str) -> None:
    assert not for_vigil(text, _is_command)
