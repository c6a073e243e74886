"""Replies as Discord messages: content, embeds, chart attachments and buttons, within Discord's
limits.

A ``Reply`` becomes one or more ``DiscordMessage``: ``Reply.text`` is the message content (split
at 2,000 characters, errors prefixed with a warning sign), the parts go into embeds:

- ``Section`` and ``Table`` (as a code block) fill the embed description (4,096 characters);
- ``Fields`` become embed fields (25 per embed, name 256, value 1,024; a longer value goes on
  in the next field);
- ``Chart`` is a PNG attachment the embed shows as its image (``attachment://chart-1.png``),
  one image per embed;
- ``Context`` lines are the footer of the last embed (2,048);
- ``Buttons`` are the components of the last message (5 rows of 5), each ``custom_id``
  ``vigil:<command>``, or ``vigil:#<key>`` with the command kept in ``CustomIds`` when the
  command is too long for Discord's 100 characters.

A message carries at most 10 embeds and 10 files, and all its embeds together at most 6,000
characters (Discord counts titles, descriptions, fields, footers and authors of every embed of a
message together). Text that does not fit is split at line breaks, then spaces; a code block cut
in two is closed and reopened so both halves render.

Everything here is pure but ``DiscordMessage.files`` (fresh ``discord.File`` streams, as a sent
file is consumed) and ``build_view`` in ``bot.discordbot.views``.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import discord

from handlers.types import Button, Buttons, Chart, Context, Fields, Reply, Section, Table

CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
MESSAGE_EMBED_CHARS_MAX = 6000
EMBEDS_MAX = 10
FILES_MAX = 10
BUTTONS_MAX = 25
LABEL_MAX = 80
CUSTOM_ID_MAX = 100
THREAD_NAME_MAX = 100

CUSTOM_ID_PREFIX = "vigil:"
KEY_MARK = "#"
COLOUR = discord.Colour(0x3B82F6)
ERROR_COLOUR = discord.Colour(0xDC2626)
ERROR_PREFIX = "\u26a0\ufe0f "  # ⚠️
EMPTY = "\u200b"  # zero-width space: Discord refuses empty field names and values
ELLIPSIS = "\u2026"
FENCE = "```"
INLINE_FIELD_MAX = 40

_STYLES = {
    "default": discord.ButtonStyle.secondary,
    "primary": discord.ButtonStyle.primary,
    "danger": discord.ButtonStyle.danger,
}


class CustomIds:
    """Button ``custom_id`` <-> command text. ``vigil:ack a-3`` when it fits in Discord's 100
    characters; otherwise ``vigil:#<16 hex>`` with the command kept here, bounded (the oldest
    keys are forgotten first; a press on a forgotten key is answered as expired)."""

    def __init__(self, keep: int = 2000) -> None:
        self._keep = keep
        self._commands: OrderedDict[str, str] = OrderedDict()

    def encode(self, command: str) -> str:
        direct = CUSTOM_ID_PREFIX + command
        if len(direct) <= CUSTOM_ID_MAX and not command.startswith(KEY_MARK):
            return direct
        key = CUSTOM_ID_PREFIX + KEY_MARK + hashlib.sha256(command.encode()).hexdigest()[:16]
        self._commands[key] = command
        self._commands.move_to_end(key)
        while len(self._commands) > self._keep:
            self._commands.popitem(last=False)
        return key

    def decode(self, custom_id: str) -> str | None:
        """The command of a Vigil button, or None (not ours, or a forgotten key)."""
        if not custom_id.startswith(CUSTOM_ID_PREFIX):
            return None
        rest = custom_id[len(CUSTOM_ID_PREFIX) :]
        if rest.startswith(KEY_MARK):
            return self._commands.get(custom_id)
        return rest or None

    def __len__(self) -> int:
        return len(self._commands)


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    description: str = ""

    def to_file(self) -> discord.File:
        return discord.File(
            io.BytesIO(self.data), filename=self.filename, description=self.description or None
        )


@dataclass(frozen=True)
class ButtonSpec:
    label: str
    custom_id: str
    style: discord.ButtonStyle = discord.ButtonStyle.secondary


@dataclass(frozen=True)
class DiscordMessage:
    """One message to send: what ``Messageable.send`` and ``followup.send`` take."""

    content: str = ""
    embeds: tuple[discord.Embed, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    buttons: tuple[ButtonSpec, ...] = ()

    def files(self) -> list[discord.File]:
        """Fresh file objects (discord.py closes a file once it is sent)."""
        return [a.to_file() for a in self.attachments]


# --------------------------------------------------------------------------- text splitting


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line breaks, else at spaces,
    else anywhere; a code block cut in two is closed at the end of one piece and reopened (with
    its language) at the start of the next."""
    if len(text) <= limit:
        return [text] if text.strip() else []
    if limit < 32:
        raise ValueError(f"limit {limit} is too small to split text")
    close = len(FENCE) + 1  # "\n```" ends a piece cut inside a code block
    pieces: list[str] = []
    current: list[str] = []
    size = 0  # len("\n".join(current))
    opener = ""  # the fence line of the code block open at the end of ``current``
    opened_here = False  # that fence line is the last line of ``current``
    for line in _lines(text, limit - 2 * close - 8):
        stripped = line.strip()
        toggles = stripped.startswith(FENCE) and stripped.count(FENCE) % 2 == 1
        open_after = bool(opener) != toggles
        grown = size + (1 if current else 0) + len(line)
        if current and grown + (close if open_after else 0) > limit:
            carried: list[str] = []
            if opener and opened_here:  # do not leave an empty block behind
                carried = [current.pop()]
            elif opener:
                current.append(FENCE)
                carried = [opener]
            if current:
                pieces.append("\n".join(current))
            current = carried
            size = len("\n".join(current))
        size += (1 if current else 0) + len(line)
        current.append(line)
        opened_here = toggles and not opener
        if toggles:
            opener = "" if opener else stripped
    if current:
        pieces.append("\n".join(current))
    return [piece for piece in pieces if piece.strip()]


def _lines(text: str, width: int) -> Iterable[str]:
    """The lines of ``text``, those longer than ``width`` cut at spaces (else anywhere)."""
    for line in text.split("\n"):
        while len(line) > width:
            cut = line.rfind(" ", 0, width + 1)
            if cut <= width // 2:
                cut = width
            yield line[:cut].rstrip()
            line = line[cut:].lstrip()
        yield line


# --------------------------------------------------------------------------- parts -> embeds


def table_block(table: Table) -> str:
    """A table as aligned columns in a code block."""
    rows = [tuple(str(c) for c in table.columns), *(tuple(str(c) for c in r) for r in table.rows)]
    count = max(len(r) for r in rows)
    rows = [r + ("",) * (count - len(r)) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(count)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    lines = [line(rows[0]), "  ".join("-" * w for w in widths), *(line(r) for r in rows[1:])]
    return "\n".join([FENCE, *lines, FENCE])


@dataclass
class _EmbedDraft:
    title: str = ""
    description: list[str] = field(default_factory=list)
    fields: list[tuple[str, str, bool]] = field(default_factory=list)
    image: str = ""
    footer: str = ""

    def description_len(self) -> int:
        return len("\n\n".join(self.description))

    def size(self) -> int:
        return (
            len(self.title)
            + self.description_len()
            + sum(len(n) + len(v) for n, v, _ in self.fields)
            + len(self.footer)
        )

    def empty(self) -> bool:
        return not (self.title or self.description or self.fields or self.image or self.footer)

    def build(self, colour: discord.Colour) -> discord.Embed:
        embed = discord.Embed(
            title=self.title or None,
            description="\n\n".join(self.description) or None,
            colour=colour,
        )
        for name, value, inline in self.fields:
            embed.add_field(name=name, value=value, inline=inline)
        if self.image:
            embed.set_image(url=f"attachment://{self.image}")
        if self.footer:
            embed.set_footer(text=self.footer)
        return embed


class _Embeds:
    """Lays the parts of one reply out in embeds, each within its own limits."""

    def __init__(self) -> None:
        self.drafts: list[_EmbedDraft] = [_EmbedDraft()]
        self.attachments: dict[int, Attachment] = {}  # draft index -> its image

    @property
    def current(self) -> _EmbedDraft:
        return self.drafts[-1]

    def new(self) -> _EmbedDraft:
        if not self.current.empty():
            self.drafts.append(_EmbedDraft())
        return self.current

    def text(self, text: str) -> None:
        if not text.strip():
            return
        for piece in split_text(text, DESCRIPTION_MAX):
            draft = self.current
            if draft.fields or draft.image:  # keep the order: text below fields is a new embed
                draft = self.new()
            grown = len(piece) + (2 if draft.description else 0)
            if (
                draft.description_len() + grown > DESCRIPTION_MAX
                or draft.size() + grown > MESSAGE_EMBED_CHARS_MAX
            ):
                draft = self.new()
            draft.description.append(piece)

    def fields(self, items: Iterable[tuple[str, str]]) -> None:
        for name, value in items:
            name = truncate(name.strip() or EMPTY, FIELD_NAME_MAX)
            chunks = split_text(value.strip(), FIELD_VALUE_MAX) or [EMPTY]
            for number, chunk in enumerate(chunks):
                label = name if number == 0 else EMPTY
                draft = self.current
                if (
                    draft.image
                    or len(draft.fields) >= FIELDS_MAX
                    or draft.size() + len(label) + len(chunk) > MESSAGE_EMBED_CHARS_MAX
                ):
                    draft = self.new()
                inline = len(chunk) <= INLINE_FIELD_MAX and "\n" not in chunk and len(chunks) == 1
                draft.fields.append((label, chunk, inline))

    def chart(self, chart: Chart, number: int) -> None:
        draft = self.current
        if draft.image:
            draft = self.new()
        filename = f"chart-{number}.png"
        title = truncate(chart.title.strip(), TITLE_MAX)
        if title and not draft.title:
            if draft.size() + len(title) > MESSAGE_EMBED_CHARS_MAX:
                draft = self.new()
            draft.title = title
        draft.image = filename
        self.attachments[len(self.drafts) - 1] = Attachment(
            filename, chart.png, truncate(chart.alt or chart.title, 1024)
        )

    def footer(self, lines: Sequence[str]) -> None:
        text = truncate("\n".join(line.strip() for line in lines if line.strip()), FOOTER_MAX)
        if not text:
            return
        draft = self.current
        if draft.size() + len(text) > MESSAGE_EMBED_CHARS_MAX:
            draft = self.new()
        draft.footer = text

    def built(self, colour: discord.Colour) -> list[tuple[discord.Embed, Attachment | None]]:
        return [
            (draft.build(colour), self.attachments.get(index))
            for index, draft in enumerate(self.drafts)
            if not draft.empty()
        ]


def buttons(parts: Iterable[Buttons], ids: CustomIds) -> tuple[ButtonSpec, ...]:
    specs: list[ButtonSpec] = []
    seen: set[str] = set()
    for part in parts:
        for button in part.buttons:
            spec = button_spec(button, ids)
            if spec.custom_id in seen or len(specs) >= BUTTONS_MAX:
                continue  # Discord refuses a custom_id twice in one message
            seen.add(spec.custom_id)
            specs.append(spec)
    return tuple(specs)


def button_spec(button: Button, ids: CustomIds) -> ButtonSpec:
    return ButtonSpec(
        label=truncate(button.label.strip() or button.command, LABEL_MAX),
        custom_id=ids.encode(button.command),
        style=_STYLES.get(button.style, discord.ButtonStyle.secondary),
    )


# --------------------------------------------------------------------------- reply -> messages


def render(reply: Reply, ids: CustomIds) -> list[DiscordMessage]:
    """``reply`` as the messages to send, in order (``reply.thread`` is not included: render
    each thread reply on its own). Never empty."""
    layout = _Embeds()
    charts = 0
    context: list[str] = []
    button_parts: list[Buttons] = []
    for part in reply.parts:
        if isinstance(part, Section):
            layout.text(f"**{part.title}**\n{part.text}" if part.title else part.text)
        elif isinstance(part, Table):
            layout.text(table_block(part))
        elif isinstance(part, Fields):
            layout.fields(part.items)
        elif isinstance(part, Chart):
            charts += 1
            layout.chart(part, charts)
        elif isinstance(part, Context):
            context.append(part.text)
        elif isinstance(part, Buttons):
            button_parts.append(part)
    layout.footer(context)
    embeds = layout.built(ERROR_COLOUR if reply.error else COLOUR)

    text = reply.text.strip()
    if reply.error and text:
        text = ERROR_PREFIX + text
    contents = split_text(text, CONTENT_MAX)
    if not contents and not embeds:
        contents = [ELLIPSIS]

    messages: list[DiscordMessage] = [DiscordMessage(content=c) for c in contents[:-1]]
    group: list[tuple[discord.Embed, Attachment | None]] = []
    first_content = contents[-1] if contents else ""

    def close_group() -> None:
        nonlocal first_content
        messages.append(
            DiscordMessage(
                content=first_content,
                embeds=tuple(e for e, _ in group),
                attachments=tuple(a for _, a in group if a is not None),
            )
        )
        first_content = ""
        group.clear()

    for embed, attachment in embeds:
        files = sum(a is not None for _, a in group) + (attachment is not None)
        chars = sum(len(e) for e, _ in group) + len(embed)
        if group and (
            len(group) >= EMBEDS_MAX or files > FILES_MAX or chars > MESSAGE_EMBED_CHARS_MAX
        ):
            close_group()
        group.append((embed, attachment))
    if group or first_content:
        close_group()

    specs = buttons(button_parts, ids)
    if specs:
        last = messages[-1]
        messages[-1] = DiscordMessage(last.content, last.embeds, last.attachments, specs)
    return messages


# --------------------------------------------------------------------------- amends


def amended(embeds: Sequence[discord.Embed], status: str) -> list[discord.Embed]:
    """The embeds of a posted message with ``status`` appended to the last one's footer (the
    newest lines kept when the footer would pass its limit)."""
    status = truncate(status.strip(), FOOTER_MAX)
    copies = [e.copy() for e in embeds]
    if not copies:
        return [discord.Embed(colour=COLOUR).set_footer(text=status)]
    last = copies[-1]
    footer = (last.footer.text or "") if last.footer else ""
    lines = [line for line in footer.split("\n") if line] + [status]
    while len(lines) > 1 and len("\n".join(lines)) > FOOTER_MAX:
        lines.pop(0)
    text = "\n".join(lines)
    others = sum(len(e) for e in copies) - len(footer)
    if others + len(text) > MESSAGE_EMBED_CHARS_MAX:
        text = status
    last.set_footer(text=text, icon_url=last.footer.icon_url if last.footer else None)
    return copies


def thread_name(text: str) -> str:
    """A thread name from a reply's first line (1-100 characters)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "") or "Vigil"
    return truncate(first, THREAD_NAME_MAX)
