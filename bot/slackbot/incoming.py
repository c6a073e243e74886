"""What people send to Vigil on Slack: Slack's markup turned back into text, and which thread
follow-ups are meant for Vigil.

Slack sends message and slash command text with ``&``, ``<`` and ``>`` escaped, and channels and
links as ``<#C123|name>``, ``<https://x|label>`` or ``<https://x>``. ``plain`` turns those into
what the person typed (``#name``, ``label (https://x)``, ``https://x``) and unescapes the three
entities, so ``ask`` gets ``p95 > 200ms`` and echoed text is escaped once, by the renderer. User
mentions (``<@U123>``) and special mentions (``<!here>``) are kept: the router strips a leading
mention, and the renderer escapes the rest so nothing echoed can ping.

``for_vigil`` decides whether a follow-up in a thread Vigil was mentioned in (without a new
mention) is addressed to it: it starts with a command, or is a question. Chatter between people
(``ok I'll restart it``, ``:+1:``) is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_MARKUP = re.compile(r"<([^<>\n]*)>")
_ENTITY = re.compile(r"&(lt|gt|amp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}
_SCHEMES = ("https://", "http://", "mailto:")
QUESTION_WORDS = (
    "why",
    "what",
    "how",
    "is",
    "are",
    "was",
    "did",
    "does",
    "do",
    "when",
    "where",
    "which",
    "who",
    "can",
    "could",
    "show",
    "list",
    "any",
)
_QUESTION = re.compile(rf"^(?:{'|'.join(QUESTION_WORDS)})\b", re.I)
_TO_VIGIL = re.compile(r"^(?:@vigil\b|vigil[:,]\s)", re.I)


def plain(text: str) -> str:
    """Slack's message text as typed: channels as ``#name``, links as ``label (url)`` or
    ``url``, ``&lt; &gt; &amp;`` unescaped; user and special mentions kept."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], _MARKUP.sub(_token, text))


def _token(match: re.Match[str]) -> str:
    inside = match.group(1)
    target, _, label = inside.partition("|")
    if target.startswith(("@", "!")) or not target:
        return match.group(0)
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if not label:
        return target
    if label in (target, _bare(target)):  # auto-linked as typed: ``example.com``, ``a@b.org``
        return label
    return f"{label} ({target})"


def _bare(url: str) -> str:
    for scheme in _SCHEMES:
        if url.startswith(scheme):
            return url.removeprefix(scheme)
    return url


def for_vigil(text: str, is_command: Callable[[str], bool]) -> bool:
    """Whether a follow-up without a mention (``text`` already ``plain``) is for Vigil: it
    starts with a command (``is_command(first word)``), is a question (ends with ``?`` or
    starts with a question word) or names Vigil first (``vigil: ...``). A message that starts
    with someone else's mention is for them."""
    text = text.replace("\u00a0", " ").strip()
    if not text or text.startswith("<@"):
        return False
    if _TO_VIGIL.match(text):
        return True
    word = text.partition(" ")[0]
    return is_command(word) or text.endswith("?") or _QUESTION.match(text) is not None
