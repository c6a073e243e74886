"""What every ``vigil`` command module shares: loading settings (a bad value exits 2 with one
line), the global logging options, and the one-line usage error."""

from __future__ import annotations

from typing import NoReturn

import typer

from bot.config import Settings, load_settings
from bot.logging import configure_logging
from knowledge.errors import ConfigError

state: dict[str, object] = {"log_json": None, "log_level": None}
"""Set by the ``vigil`` callback from ``--log-json`` and ``--verbose``."""


def load_settings_or_exit() -> Settings:
    """Load settings and set up logging; a bad value exits 2 with one line."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(f"vigil: config error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(
        level=str(state["log_level"] or settings.env.VIGIL_LOG_LEVEL),
        json_lines=bool(state["log_json"]) or settings.env.VIGIL_LOG_FORMAT == "json",
        secrets=settings.env.secret_values(),
    )
    return settings


def usage_error(message: str) -> NoReturn:
    """Print ``vigil: MESSAGE`` on stderr and exit 2."""
    typer.echo(f"vigil: {message}", err=True)
    raise typer.Exit(2)
