"""The Block Kit renderer: pure functions, Slack's limits kept by splitting."""

from __future__ import annotations

import json
from typing import Any

from bot.render import slack
from bot.render.slack import amended, render, split_text
from handlers.types import Button, Buttons, Chart, Context, Fields, Reply, Section, Table


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


def _within_limits(reply: Reply) -> list[slack.SlackMessage]:
    messages = render(reply).messages
    for message in messages:
        assert 1 <= len(message.blocks) <= 50 and 0 < len(message.text) <= 4000
        for block in message.blocks:
            if block["type"] == "section":
                assert len(block.get("text", {}).get("text", "")) <= 3000
                assert len(block.get("fields", ())) <= 10
                assert all(len(f["text"]) <= 2000 for f in block.get("fields", ()))
            elif block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
            elif block["type"] == "context":
                assert all(len(e["text"]) <= 3000 for e in block["elements"])
            elif block["type"] == "actions":
                assert len(block["elements"]) <= 25
                assert all(len(e["value"]) <= 2000 for e in block["elements"])
        ids = [
            e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
        ]
        assert len(ids) == len(set(ids))
        json.dumps(message.payload())  # what the Web API gets
    return messages


def test_a_short_answer_is_one_message_with_sections_fields_and_a_context_line() -> None:
    reply = Reply(
        "Checkout is slow because of **db pool** exhaustion.",
        parts=(
            Section("Pool at 100 % since 10:02.", "Evidence"),
            Fields((("p95", "2.3 s"), ("errors", "4 %"))),
            Context("Sources: [1] prometheus · 812 ms · extractive"),
        ),
    )
    (message,) = _within_limits(reply)
    assert message.text == "Checkout is slow because of db pool exhaustion."
    kinds = [b["type"] for b in message.blocks]
    assert kinds == ["section", "header", "section", "section", "context"]
    assert message.blocks[0]["text"] == {
        "type": "mrkdwn",
        "text": "Checkout is slow because of *db pool* exhaustion.",
    }
    assert message.blocks[1]["text"]["text"] == "Evidence"
    assert message.blocks[3]["fields"][1]["text"] == "*errors*\n4 %"
    assert message.blocks[4]["elements"][0]["text"].startswith("Sources: [1] prometheus")


def test_errors_carry_a_warning_marker() -> None:
    (message,) = render(Reply("Something went wrong (error 1a2b).", error=True)).messages
    assert message.text.startswith(":warning: ")
    assert _texts(message.blocks)[0] == ":warning: Something went wrong (error 1a2b)."


def test_what_a_user_typed_cannot_ping_or_forge_links() -> None:
    (message,) = render(Reply("I don't know the command `<!channel>` & <@U1>.")).messages
    assert "<!" not in message.text and "<@" not in json.dumps(message.blocks)
    assert (
        _texts(message.blocks)[0]
        == "I don't know the command `&lt;!channel&gt;` &amp; &lt;@U1&gt;."
    )
    (linked,) = render(Reply("See [the runbook](https://wiki.example/rb/1).")).messages
    assert _texts(linked.blocks)[0] == "See <https://wiki.example/rb/1|the runbook>."


def test_a_long_answer_is_split_into_messages_within_every_limit() -> None:
    paragraph = "The pool is exhausted because the batch job holds connections. " * 30
    reply = Reply(
        "x" * 5000,
        parts=(
            *(
                Section("\n\n".join([paragraph] * 6), f"Finding {n} " + "t" * 200)
                for n in range(12)
            ),
            Fields(tuple((f"k{n}", "v" * 2500) for n in range(23))),
            Context("c" * 4000),
        ),
    )
    messages = _within_limits(reply)
    assert len(messages) > 3
    assert len(messages[0].text) == 4000 and messages[0].text.endswith("…")
    assert messages[1].text.endswith(f"(2/{len(messages)})")
    sections = [t for m in messages for t in _texts(m.blocks)]
    assert sum(t.count("batch job") for t in sections) == 12 * 6 * 30  # nothing lost
    fields = [f for m in messages for b in m.blocks for f in b.get("fields", ())]
    assert len(fields) == 23 and all(f["text"].endswith("…") for f in fields)


def test_fifty_blocks_at_most_per_message() -> None:
    reply = Reply("many", parts=tuple(Context(f"line {n}") for n in range(120)))
    messages = _within_limits(reply)
    assert [len(m.blocks) for m in messages] == [50, 50, 21]


def test_a_wide_table_is_monospace_split_by_rows_with_its_header_repeated() -> None:
    rows = tuple(
        (f"a-{n}", "critical", f"payments/payments-{n}", "memory_leak", "-") for n in range(300)
    )
    table = Table(("id", "severity", "service/host", "type", "state"), rows)
    messages = _within_limits(Reply("300 alerts firing.", parts=(table,)))
    chunks = [t for m in messages for t in _texts(m.blocks)][1:]
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.startswith("```\nid ") and chunk.endswith("\n```")
        assert chunk.splitlines()[2].startswith("--")
    listed = [line for chunk in chunks for line in chunk.splitlines() if line.startswith("a-")]
    assert len(listed) == 300 and listed[-1].startswith("a-299 ")


def test_a_two_column_table_becomes_fields_ten_to_a_section() -> None:
    rows = tuple((f"cmd{n} ARGS", f"does thing {n}") for n in range(23))
    (message,) = _within_limits(Reply("Commands", parts=(Table(("command", "what"), rows),)))
    sections = [b for b in message.blocks if "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10, 10, 3]
    assert sections[0]["fields"][0]["text"] == "*cmd0 ARGS*\ndoes thing 0"


def test_buttons_become_actions_with_unique_ids_and_the_command_as_value() -> None:
    buttons = Buttons(
        (
            Button("Acknowledge", "ack a-3", "primary"),
            Button("Mute 1h", "mute payments/payments-2:memory_leak 1h"),
            Button("Resolve", "resolve a-3", "danger"),
            Button("Too long", "x" * 2001),
        )
    )
    many = Buttons(tuple(Button(f"B{n}", f"ack a-{n}") for n in range(30)))
    (message,) = _within_limits(Reply("alert", parts=(buttons, many)))
    actions = [b for b in message.blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [3, 25, 5]
    first = actions[0]["elements"]
    assert [(e["text"]["text"], e["value"], e.get("style")) for e in first] == [
        ("Acknowledge", "ack a-3", "primary"),
        ("Mute 1h", "mute payments/payments-2:memory_leak 1h", None),
        ("Resolve", "resolve a-3", "danger"),
    ]
    assert all(e["action_id"].startswith("vigil:") for a in actions for e in a["elements"])


def test_charts_are_returned_for_upload_not_rendered_as_blocks() -> None:
    chart = Chart(b"\x89PNG", "p95 latency", "a line rising")
    rendered = render(Reply("Latency", parts=(chart, Context("c"))))
    assert rendered.charts == [chart]
    assert [b["type"] for b in rendered.messages[0].blocks] == ["section", "context"]


def test_header_titles_are_clipped_to_150() -> None:
    (message,) = render(Reply("t", parts=(Section("body", "T" * 400),))).messages
    assert len(message.blocks[1]["text"]["text"]) == 150


def test_amending_appends_the_status_and_closing_removes_the_buttons() -> None:
    (message,) = render(
        Reply("alert", parts=(Buttons((Button("Ack", "ack a-1"),)), Context("a-1")))
    ).messages
    acked = amended(message.blocks, "Acknowledged by U1", close=False)
    assert [b["type"] for b in acked] == ["section", "actions", "context", "context"]
    closed = amended(acked, "Resolved by <@U2>", close=True)
    assert [b["type"] for b in closed] == ["section", "context", "context", "context"]
    assert closed[-1]["elements"][0]["text"] == "Resolved by &lt;@U2&gt;"
    assert [b["type"] for b in message.blocks] == ["section", "actions", "context"]  # unchanged


def test_split_text_cuts_at_boundaries_and_keeps_code_fences_balanced() -> None:
    text = "intro\n\n```\n" + "\n".join(f"line {n:04d} " + "x" * 40 for n in range(200)) + "\n```"
    pieces = split_text(text, 3000)
    assert len(pieces) > 2
    assert all(len(p) <= 3000 and p.count("```") % 2 == 0 for p in pieces)
    lines = [line for p in pieces for line in p.splitlines() if line.startswith("line ")]
    assert len(lines) == 200
    assert split_text("short") == ["short"] and split_text("") == [""]
    assert all(len(p) <= 100 for p in split_text("y" * 1000, 100))
