"""What the console accepts from a page: JSON bodies, message ids, display names. Anything else
is ``Refused`` with a one-line reason (400 unless said), never a traceback."""

from __future__ import annotations

from typing import Any

from aiohttp import web

MAX_USER = 40
DEFAULT_USER = "you"


class Refused(Exception):
    """A request the console will not serve: ``status`` with this message as JSON."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class BadRequest(Refused):
    """The body or a parameter is not what the route expects: 400."""


async def json_body(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON ({type(exc).__name__}).") from exc
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    return body


def message_id(value: Any, name: str) -> int:
    """A message id from JSON (a number) or a query string (digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    raise BadRequest(f"'{name}' must be a message id (a whole number).")


def display_name(value: Any, bot: str) -> str:
    """The display name a page sends: 1 to 40 printable characters, not the bot's (``bot``)."""
    if value is None:
        return DEFAULT_USER
    if not isinstance(value, str):
        raise BadRequest("'user' must be a name (text).")
    name = value.strip() or DEFAULT_USER
    if len(name) > MAX_USER or not name.isprintable():
        raise BadRequest(f"'user' must be 1 to {MAX_USER} printable characters.")
    if name.lower() == bot:
        raise BadRequest(f"'{bot}' is the bot's name; pick another.")
    return name
