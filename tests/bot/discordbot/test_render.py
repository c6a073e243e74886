"""Replies as Discord messages: Discord's limits hold whatever the reply."""

from __future__ import annotations

import discord
import pytest

from bot.render.discord import (
    CONTENT_MAX,
    CUSTOM_ID_MAX,
    DESCRIPTION_MAX,
    ERROR_COLOUR,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    MESSAGE_EMBED_CHARS_MAX,
    CustomIds,
    DiscordMessage,
    amended,
    render,
    split_text,
    table_block,
    thread_name,
)
from handlers.types import Button, Buttons, Chart, Context, Fields, Reply, Section, Table
from tests.bot.discordbot.conftest import tiny_png


def within_limits(messages: list[DiscordMessage]) -> None:
    for message in messages:
        assert len(message.content) <= CONTENT_MAX
        assert message.content or message.embeds
        assert len(message.embeds) <= 10 and len(message.attachments) <= 10
        assert sum(len(e) for e in message.embeds) <= MESSAGE_EMBED_CHARS_MAX
        for embed in message.embeds:
            assert len(embed.title or "") <= 256
            assert len(embed.description or "") <= DESCRIPTION_MAX
            assert len(embed.fields) <= FIELDS_MAX
            for f in embed.fields:
                assert 1 <= len(f.name or "") <= 256 and 1 <= len(f.value or "") <= FIELD_VALUE_MAX
            assert len(embed.footer.text or "") <= FOOTER_MAX
        assert len(message.buttons) <= 25
        assert all(
            len(b.custom_id) <= CUSTOM_ID_MAX and len(b.label) <= 80 for b in message.buttons
        )
        assert len({b.custom_id for b in message.buttons}) == len(message.buttons)


def test_a_plain_reply_is_one_message_of_text() -> None:
    (message,) = render(Reply("All quiet."), CustomIds())
    assert message == DiscordMessage(content="All quiet.")


def test_parts_go_into_one_embed_in_order() -> None:
    reply = Reply(
        "checkout is slow",
        parts=(
            Section("p95 doubled since 10:02", title="What"),
            Table(("service", "p95"), (("checkout", "840 ms"), ("payments", "95 ms"))),
            Fields((("host", "co-1"), ("note", "a longer value that is not inline at all, no"))),
            Context("Sources: prometheus"),
            Context("12 ms · extractive"),
        ),
    )
    (message,) = render(reply, CustomIds())
    (embed,) = message.embeds
    assert embed.description == (
        "**What**\np95 doubled since 10:02\n\n```\nservice   p95\n--------  ------\n"
        "checkout  840 ms\npayments  95 ms\n```"
    )
    assert [(f.name, f.value, f.inline) for f in embed.fields] == [
        ("host", "co-1", True),
        ("note", "a longer value that is not inline at all, no", False),
    ]
    assert embed.footer.text == "Sources: prometheus\n12 ms · extractive"
    assert embed.colour != ERROR_COLOUR


def test_text_after_fields_starts_a_new_embed() -> None:
    reply = Reply("x", parts=(Fields((("a", "1"),)), Section("later")))
    (message,) = render(reply, CustomIds())
    assert [len(e.fields) for e in message.embeds] == [1, 0]
    assert message.embeds[1].description == "later"


def test_errors_are_marked() -> None:
    (message,) = render(Reply("Sorry, no.", parts=(Section("why"),), error=True), CustomIds())
    assert message.content == "\u26a0\ufe0f Sorry, no." and message.embeds[0].colour == ERROR_COLOUR


def test_a_long_text_is_split_at_line_breaks_under_2000() -> None:
    text = "\n".join(f"line {i}: " + "x" * 90 for i in range(60))  # ~6,000 characters
    messages = render(Reply(text, parts=(Context("ctx"),)), CustomIds())
    within_limits(messages)
    assert len(messages) == 3  # 20 lines of ~99 characters each
    assert "\n".join(m.content for m in messages) == text  # cut at line breaks only
    assert [bool(m.embeds) for m in messages] == [False, False, True]


@pytest.mark.parametrize("size", [5_000, 30_000])
def test_a_huge_section_spreads_over_embeds_and_messages(size: int) -> None:
    body = "\n".join(f"- finding {i} " + "y" * 60 for i in range(size // 75))
    messages = render(Reply("Report", parts=(Section(body, title="Findings"),)), CustomIds())
    within_limits(messages)
    text = "\n\n".join(e.description or "" for m in messages for e in m.embeds)
    assert text.count("- finding ") == size // 75
    assert messages[0].content == "Report" and all(not m.content for m in messages[1:])


def test_many_fields_and_long_values_stay_within_limits() -> None:
    items = tuple((f"metric {i}", "v" * 1500 if i % 7 == 0 else f"{i} %") for i in range(60))
    messages = render(Reply("Fleet", parts=(Fields(items),)), CustomIds())
    within_limits(messages)
    fields = [f for m in messages for e in m.embeds for f in e.fields]
    assert [f.name for f in fields if f.name != "\u200b"] == [f"metric {i}" for i in range(60)]
    assert "".join(f.value or "" for f in fields[:2]) == "v" * 1500  # continued, not cut


def test_a_table_too_long_for_one_description_reopens_its_code_block() -> None:
    table = Table(("id", "what"), tuple((f"a-{i}", "z" * 70) for i in range(120)))
    messages = render(Reply("Alerts", parts=(table,)), CustomIds())
    within_limits(messages)
    blocks = [e.description or "" for m in messages for e in m.embeds]
    assert len(blocks) >= 3
    assert all(b.startswith("```") and b.endswith("```") for b in blocks)


def test_charts_are_attachments_the_embeds_show() -> None:
    png = tiny_png()
    reply = Reply(
        "two charts",
        parts=(Section("text"), Chart(png, "p95", alt="rising"), Chart(png, "errors")),
    )
    (message,) = render(reply, CustomIds())
    assert [a.filename for a in message.attachments] == ["chart-1.png", "chart-2.png"]
    assert [e.image.url for e in message.embeds] == [
        "attachment://chart-1.png",
        "attachment://chart-2.png",
    ]
    assert [e.title for e in message.embeds] == ["p95", "errors"]
    assert message.embeds[0].description == "text"
    files = message.files()
    assert files[0].filename == "chart-1.png" and files[0].description == "rising"
    assert files[0].fp.read() == png
    assert message.files()[0].fp.read() == png  # fresh streams each time


def test_eleven_charts_need_two_messages() -> None:
    reply = Reply("many", parts=tuple(Chart(tiny_png(), f"c{i}") for i in range(11)))
    messages = render(reply, CustomIds())
    within_limits(messages)
    assert [len(m.attachments) for m in messages] == [10, 1]
    assert messages[1].embeds[0].image.url == "attachment://chart-11.png"


def test_buttons_carry_their_command_in_the_custom_id() -> None:
    ids = CustomIds()
    long = "mute " + "svc-" * 30 + " 1h"
    reply = Reply(
        "alert",
        parts=(
            Buttons(
                (
                    Button("Acknowledge", "ack a-3", "primary"),
                    Button("Mute", long),
                    Button("Resolve", "resolve a-3", "danger"),
                    Button("Again", "ack a-3"),  # the same custom id twice: dropped
                )
            ),
        ),
    )
    (message,) = render(reply, ids)
    within_limits([message])
    ack, mute, resolve = message.buttons
    assert (ack.custom_id, ack.style) == ("vigil:ack a-3", discord.ButtonStyle.primary)
    assert mute.custom_id.startswith("vigil:#") and len(mute.custom_id) == 23
    assert ids.decode(mute.custom_id) == long and ids.decode(ack.custom_id) == "ack a-3"
    assert resolve.style == discord.ButtonStyle.danger
    assert ids.decode("other:thing") is None and ids.decode("vigil:#ffffffffffffffff") is None


def test_long_command_keys_are_bounded() -> None:
    ids = CustomIds(keep=3)
    keys = [ids.encode("x" * 120 + str(i)) for i in range(5)]
    assert len(ids) == 3
    assert ids.decode(keys[0]) is None and ids.decode(keys[4]) == "x" * 120 + "4"


def test_buttons_go_on_the_last_message() -> None:
    reply = Reply("y" * 4500, parts=(Buttons((Button("Ack", "ack a-1"),)),))
    messages = render(reply, CustomIds())
    assert [len(m.buttons) for m in messages] == [0, 0, 1]


def test_an_empty_reply_still_says_something() -> None:
    (message,) = render(Reply(""), CustomIds())
    assert message.content


def test_split_text_keeps_code_blocks_whole() -> None:
    text = "before\n```py\n" + "\n".join(f"print({i})" for i in range(400)) + "\n```\nafter"
    pieces = split_text(text, 500)
    assert all(len(p) <= 500 and p.count("```") % 2 == 0 for p in pieces)
    assert pieces[1].startswith("```py\n")
    joined = "\n".join(p.removeprefix("```py\n").removesuffix("\n```") for p in pieces)
    assert [line for line in joined.splitlines() if line.startswith("print")] == [
        f"print({i})" for i in range(400)
    ]


def test_split_text_cuts_a_line_without_spaces() -> None:
    pieces = split_text("a" * 250, 100)
    assert "".join(pieces) == "a" * 250 and all(len(p) <= 100 for p in pieces)


def test_amended_appends_the_status_to_the_footer() -> None:
    embeds = [discord.Embed(description="one"), discord.Embed(description="two")]
    embeds[1].set_footer(text="a-1 · at 10:00 UTC")
    new = amended(embeds, "a-1 acknowledged by ana at 10:05 UTC")
    assert new[1].footer.text == "a-1 · at 10:00 UTC\na-1 acknowledged by ana at 10:05 UTC"
    assert embeds[1].footer.text == "a-1 · at 10:00 UTC"  # the originals are untouched
    assert amended([], "done")[0].footer.text == "done"
    full = discord.Embed().set_footer(
        text="\n".join(f"status {i:04d} " + "s" * 80 for i in range(22))
    )
    footer = amended([full], "newest")[0].footer.text or ""
    assert len(footer) <= FOOTER_MAX and footer.endswith("newest")


def test_table_block_and_thread_name() -> None:
    assert table_block(Table(("a",), (("1",), ("22",)))) == "```\na\n--\n1\n22\n```"
    assert thread_name("\n[critical] payments down\nmore") == "[critical] payments down"
    assert len(thread_name("t" * 300)) == 100 and thread_name("") == "Vigil"
