"""Replies as Slack Block Kit messages: pure functions, no Web API calls.

``render(reply)`` gives the messages to post (each ``{"text", "blocks"}``) and the charts to
upload next to them. Slack's limits are kept by splitting, never by failing: a section's text is
at most 3,000 characters, a header 150, a section at most 10 fields of 2,000, a message at most
50 blocks (and about 12,000 characters, so that each message stays readable), the notification
``text`` at most 4,000. Tables become fields (two columns) or a monospace block split by rows.
Buttons become ``actions`` blocks whose ``action_id`` starts with ``vigil:`` (unique in the
reply) and whose ``value`` is the command a press dispatches.

Text is Slack ``mrkdwn``: ``&``, ``<`` and ``>`` are escaped, so nothing a user typed can ping
``@channel`` or forge a link; Markdown bold, headings and links are translated.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from handlers.types import Button, Buttons, Chart, Context, Fields, Reply, Section, Table

Block = dict[str, Any]

ACTION_PREFIX = "vigil:"
REFS_MARK = "|refs:"
SECTION_TEXT = 3000
HEADER_TEXT = 150
CONTEXT_TEXT = 3000
FIELDS_PER_SECTION = 10
FIELD_TEXT = 2000
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
BUTTONS_PER_BLOCK = 25
BLOCKS_PER_MESSAGE = 50
MESSAGE_CHARS = 12_000
FALLBACK_TEXT = 4000
ERROR_MARK = ":warning:"
ELLIPSIS = "…"
FENCE = "```"


@dataclass(frozen=True)
class SlackMessage:
    """One message for ``chat.postMessage`` / ``response_url``: notification text and blocks."""

    text: str
    blocks: list[Block]

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class Rendered:
    messages: list[SlackMessage]
    charts: list[Chart]


def render(reply: Reply) -> Rendered:
    """``reply`` as one or more messages within Slack's limits, and its charts (uploaded by the
    front, which knows the channel). The thread replies are rendered one by one by the front."""
    head = mrkdwn(reply.text)
    if reply.error:
        head = f"{ERROR_MARK} {head}"
    blocks: list[Block] = [_section(c) for c in split_text(head, SECTION_TEXT) if c.strip()]
    charts: list[Chart] = []
    counter = itertools.count()
    for part in reply.parts:
        if isinstance(part, Section):
            if part.title:
                blocks.append(header(part.title))
            blocks.extend(_section(c) for c in split_text(mrkdwn(part.text), SECTION_TEXT))
        elif isinstance(part, Fields):
            blocks.extend(_fields(part.items))
        elif isinstance(part, Table):
            blocks.extend(table_blocks(part))
        elif isinstance(part, Chart):
            charts.append(part)
        elif isinstance(part, Buttons):
            blocks.extend(actions(part.buttons, counter, reply.refs))
        elif isinstance(part, Context):
            blocks.append(context(part.text))
    fallback = _plain(reply.text) or ELLIPSIS
    if reply.error:
        fallback = f"{ERROR_MARK} {fallback}"
    return Rendered(_messages(blocks or [_section(ELLIPSIS)], fallback), charts)


# --------------------------------------------------------------------------- blocks


def header(title: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(title, HEADER_TEXT)}}


def context(text: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(mrkdwn(text), CONTEXT_TEXT)}],
    }


def actions(
    buttons: Iterable[Button], counter: Iterator[int], refs: tuple[str, ...] = ()
) -> list[Block]:
    """``actions`` blocks of at most 25 buttons; a button whose command exceeds Slack's value
    limit cannot be dispatched and is left out. The reply's ``refs`` ride in the ``block_id``
    (see ``carried_refs``)."""
    elements: list[Block] = []
    for button in buttons:
        if not button.command or len(button.command) > BUTTON_VALUE:
            continue
        element: Block = {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{next(counter)}",
            "text": {"type": "plain_text", "text": clip(button.label, BUTTON_TEXT), "emoji": True},
            "value": button.command,
        }
        if button.style in ("primary", "danger"):
            element["style"] = button.style
        elements.append(element)
    carried = ",".join(refs)
    return [
        {
            "type": "actions",
            "block_id": clip(f"{ACTION_PREFIX}{next(counter)}{REFS_MARK}{carried}", 255),
            "elements": elements[i : i + BUTTONS_PER_BLOCK],
        }
        for i in range(0, len(elements), BUTTONS_PER_BLOCK)
    ]


def carried_refs(blocks: list[Block]) -> set[str]:
    """The refs of the reply a message's buttons came from, read back from their ``block_id``:
    a pressed button's message can be amended by ref even after a restart."""
    refs: set[str] = set()
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "actions" and block_id.startswith(ACTION_PREFIX):
            _, _, carried = block_id.partition(REFS_MARK)
            refs.update(r for r in carried.split(",") if r and not r.endswith(ELLIPSIS))
    return refs


def table_blocks(table: Table) -> list[Block]:
    """Two columns: key/value fields, ten to a section. More: a monospace block per chunk of
    rows, each chunk repeating the column names."""
    if not table.rows:
        return []
    if len(table.columns) == 2:
        items = tuple((str(row[0]), str(row[1]) if len(row) > 1 else "") for row in table.rows)
        return _fields(items)
    lines = _aligned(table)
    head, rows = lines[:2], lines[2:]
    room = SECTION_TEXT - 2 * len(FENCE) - 2
    head = [clip(line, room // 3) for line in head]
    budget = room - sum(len(h) + 1 for h in head)
    blocks: list[Block] = []
    chunk: list[str] = []
    used = 0
    for row in rows:
        row = clip(row, budget - 1)
        if chunk and used + len(row) + 1 > budget:
            blocks.append(_monospace([*head, *chunk]))
            chunk, used = [], 0
        chunk.append(row)
        used += len(row) + 1
    blocks.append(_monospace([*head, *chunk]))
    return blocks


def amended(blocks: list[Block], status: str, close: bool) -> list[Block]:
    """``blocks`` of a posted message with ``status`` appended as a context line, and its
    buttons removed when ``close``. The input is not modified."""
    out = [copy.deepcopy(b) for b in blocks if not (close and b.get("type") == "actions")]
    out = out[: BLOCKS_PER_MESSAGE - 1]
    if status:
        out.append(context(status))
    return out


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " "}}


def _fields(items: tuple[tuple[str, str], ...]) -> list[Block]:
    fields = [
        {
            "type": "mrkdwn",
            "text": clip(f"*{mrkdwn(k)}*\n{mrkdwn(v)}" if k else mrkdwn(v), FIELD_TEXT),
        }
        for k, v in items
    ]
    return [
        {"type": "section", "fields": fields[i : i + FIELDS_PER_SECTION]}
        for i in range(0, len(fields), FIELDS_PER_SECTION)
    ]


def _monospace(lines: list[str]) -> Block:
    body = "\n".join(escape(line.replace(FENCE, "'''")) for line in lines)
    return _section(f"{FENCE}\n{body}\n{FENCE}")


def _aligned(table: Table) -> list[str]:
    """The table as the terminal shows it: column names, a rule, then rows, aligned."""
    width = len(table.columns)
    rows = [table.columns, *(tuple(row[:width]) + ("",) * (width - len(row)) for row in table.rows)]
    widths = [min(40, max(len(str(r[i])) for r in rows)) for i in range(width)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


# --------------------------------------------------------------------------- messages


def _size(block: Block) -> int:
    if block.get("type") == "section":
        text = len(block.get("text", {}).get("text", ""))
        return text + sum(len(f["text"]) for f in block.get("fields", ()))
    if block.get("type") == "context":
        return sum(len(e.get("text", "")) for e in block["elements"])
    if block.get("type") == "actions":
        return sum(len(e["value"]) + 40 for e in block["elements"])
    return len(block.get("text", {}).get("text", ""))


def _messages(blocks: list[Block], fallback: str) -> list[SlackMessage]:
    groups: list[list[Block]] = [[]]
    used = 0
    for block in blocks:
        size = _size(block)
        current = groups[-1]
        if current and (len(current) >= BLOCKS_PER_MESSAGE or used + size > MESSAGE_CHARS):
            groups.append([])
            used = 0
        groups[-1].append(block)
        used += size
    if len(groups) == 1:
        return [SlackMessage(clip(escape(fallback), FALLBACK_TEXT), groups[0])]
    short = clip(escape(fallback), 150)
    return [
        SlackMessage(
            clip(escape(fallback), FALLBACK_TEXT) if n == 0 else f"{short} ({n + 1}/{len(groups)})",
            group,
        )
        for n, group in enumerate(groups)
    ]


# --------------------------------------------------------------------------- text


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s)]+)\)")


def escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> str:
    """Markdown-ish text as Slack mrkdwn: escaped, ``**bold**`` and ``# heading`` as ``*bold*``,
    ``[label](https://...)`` as a Slack link."""
    text = escape(text)
    text = _BOLD.sub(r"*\1*", text)
    text = _HEADING.sub(r"*\1*", text)
    return _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)


def _plain(text: str) -> str:
    return _BOLD.sub(r"\1", text)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


def split_text(text: str, limit: int = SECTION_TEXT) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at paragraph, line or word
    boundaries where possible; a code fence open at a cut is closed and reopened."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        room = limit - len(FENCE) - 1  # space to close a fence left open
        cut = _cut_at(rest, room)
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n")
        if piece.count(FENCE) % 2:
            piece += "\n" + FENCE
            rest = FENCE + "\n" + rest
        pieces.append(piece)
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces


def _cut_at(text: str, room: int) -> int:
    window = text[:room]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at > room // 2:
            return at + len(separator)
    return room
