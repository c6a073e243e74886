"""The web console: a local chat page with Vigil's channels (``WebConsole``), its message store
and live updates (Server-Sent Events), and its static page (``static/``, no build step)."""

from __future__ import annotations

from bot.web.front import WebConsole

__all__ = ["WebConsole"]
