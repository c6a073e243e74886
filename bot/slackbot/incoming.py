"""What people send to Vigil on Slack: Slack's markup turned back into text.

Slack sends message and slash command text with ``&``, ``<`` and ``>`` escaped, and channels and
links as ``<#C123|name>``, ``<https://x|label>`` or ``<https://x>``. ``plain`` turns those into
what the person typed (``#name``, ``label (https://x)``, ``https://x``) and unescapes the three
entities, so ``ask`` gets ``p95 > 200ms`` and echoed text is escaped once, by the renderer. User
mentions (``<@U123>``) and special mentions (``<!here>``) are kept: the router strips a leading
mention, and the renderer escapes the rest so nothing echoed can ping.

Which thread follow-ups are for Vigil at all is ``handlers.router.for_vigil`` (shared with
Discord).

``signed`` checks a request's signature before anything reads its body (slack_sdk's verifier
raises on a timestamp that is not a number or a signature that is not ASCII); ``well_formed``
says whether a parsed body has the shape Bolt's own middleware relies on (it reads nested
fields without checking their type); ``mapping`` and ``ident`` read a field that should be
an object or an id, whatever a request puts there.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from urllib.parse import parse_qs

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


MAX_AGE_S = 300
"""Requests signed longer ago (or further ahead) than this are refused, as Slack advises."""


def signed(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float
) -> bool:
    """Whether ``body`` carries Slack's signature (``v0=`` HMAC-SHA256 of ``v0:TS:BODY`` with
    the signing secret) made within ``MAX_AGE_S`` of ``now``."""
    if not secret or not timestamp or not signature:
        return False
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature.isascii():
        return False
    if abs(now - int(timestamp)) > MAX_AGE_S:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def ssl_check(body: bytes) -> bool:
    """Slack's unsigned certificate check (``ssl_check=1``), which Bolt answers with a 200."""
    form = parse_qs(body.decode("utf-8", "replace"))
    return form.get("ssl_check") == ["1"]  # once: Bolt reads the last value, this the first


def ident(value: Any) -> str | None:
    """An id or timestamp field as text (``"U123"``, ``"1700000000.000100"``); None when it is
    missing, empty or not a string or number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value) or None


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is an object, else an empty one (a field of the wrong type)."""
    return value if isinstance(value, dict) else {}


_OBJECTS = ("event", "container", "message", "previous_message", "view", "item")
"""Fields that are objects whenever Slack sends them."""
_OBJECTS_OR_IDS = ("user", "channel", "team", "enterprise")
"""Objects in interactive payloads, ids (strings) elsewhere, null on org-wide installs."""


def well_formed(body: Any) -> bool:
    """Whether a parsed request body has the shape of what Slack sends, as far as Bolt's
    middleware reads it: an object whose object fields are objects, lists of objects where
    lists go. Signed requests always have it; this keeps a malformed one a 400."""
    if not isinstance(body, dict):
        return False
    for key in _OBJECTS:
        if key in body and not isinstance(body[key], dict):
            return False
    for key in _OBJECTS_OR_IDS:
        if body.get(key) is not None and not isinstance(body[key], dict | str):
            return False
    for key in ("authorizations", "actions"):
        value = body.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, dict) for v in value)
        ):
            return False
    actions = body.get("actions")
    if body.get("type") == "block_actions" and not (  # a press names what was pressed
        actions and all(isinstance(a.get("action_id"), str) for a in actions)
    ):
        return False
    event = body.get("event")
    return event is None or all(
        not isinstance(event.get(key), list | dict) for key in ("type", "subtype", "bot_id")
    )
