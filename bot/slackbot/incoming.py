"""What people send to Vigil on Slack: Slack's markup turned back into text.

Slack sends message and slash command text with ``&``, ``<`` and ``>`` escaped, and channels and
links as ``<#C123|name>``, ``<https://x|label>`` or ``<https://x>``. ``plain`` turns those into
what the person typed (``#name``, ``label (https://x)``, ``https://x``) and unescapes the three
entities, so ``ask`` gets ``p95 > 200ms`` and echoed text is escaped once, by the renderer. User
mentions (``<@U123>``) and special mentions (``<!here>``) are kept: the router strips a leading
mention, and the renderer escapes the rest so nothing echoed can ping.

Which thread follow-ups are for Vigil at all is ``handlers.router.for_vigil`` (shared with
Discord).
"""

from __future__ import annotations

import re

_MARKUP = re.compile(r"<([^<>\n]*)>")
_ENTITY = re.compile(r"&(lt|gt|amp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}
_SCHEMES = ("https://", "http://", "mailto:")


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
