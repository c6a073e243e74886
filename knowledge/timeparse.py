"""Parsing of human durations ("90s", "5m", "1h30m", "2d") used in config and on the CLI."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"`` or a number of seconds.

    Raises ``ValueError`` with a short reason on anything else (including negative values).
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 1h or 2d")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif not isinstance(value, str):  # null or a list in a YAML file
        raise ValueError("expected a duration such as 30s, 5m, 1h or 2d")
    else:
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError("expected a duration such as 30s, 5m, 1h or 2d")
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # past timedelta's 999,999,999 days, or not a number
        raise ValueError("expected a duration such as 30s, 5m, 1h or 2d") from None


def format_duration(delta: timedelta) -> str:
    """Render a duration compactly: ``1h 5m``, ``40s``, ``3d 2h``."""
    seconds = round(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    shown = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(shown[:2])
