"""Replies as JSON for the web console: each part as a plain object the page renders.

Text stays text: the page builds its DOM from these values (``textContent``), never from HTML
strings, so nothing here escapes. Charts are handed to ``save_chart``, which keeps the PNG and
returns the URL the page loads it from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.types import Buttons, Chart, Context, Fields, Part, Section, Table

SaveChart = Callable[[Chart], str]


def part_json(part: Part, save_chart: SaveChart) -> dict[str, Any]:
    """One part as ``{"type": ..., ...}``; ``Chart`` -> ``{type: "chart", url, title, alt}``."""
    if isinstance(part, Section):
        return {"type": "section", "title": part.title, "text": part.text}
    if isinstance(part, Fields):
        return {"type": "fields", "items": [[str(k), str(v)] for k, v in part.items]}
    if isinstance(part, Table):
        return {
            "type": "table",
            "columns": [str(c) for c in part.columns],
            "rows": [[str(cell) for cell in row] for row in part.rows],
        }
    if isinstance(part, Chart):
        return {
            "type": "chart",
            "url": save_chart(part),
            "title": part.title,
            "alt": part.alt or part.title,
        }
    if isinstance(part, Buttons):
        return {
            "type": "buttons",
            "buttons": [
                {"label": b.label, "command": b.command, "style": b.style} for b in part.buttons
            ],
        }
    if isinstance(part, Context):
        return {"type": "context", "text": part.text}
    raise TypeError(f"unknown reply part {type(part).__name__}")


def parts_json(parts: tuple[Part, ...], save_chart: SaveChart) -> list[dict[str, Any]]:
    return [part_json(part, save_chart) for part in parts]


def button_commands(parts: list[dict[str, Any]]) -> set[str]:
    """The commands of every button among rendered ``parts``."""
    return {
        str(button["command"])
        for part in parts
        if part.get("type") == "buttons"
        for button in part.get("buttons", ())
    }
