"""The ``vigil`` command line. Exit codes: 0 ok, 1 a component or command failed, 2 bad
configuration or usage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.config import Settings, load_settings
from bot.logging import configure_logging
from knowledge.errors import ConfigError

app = typer.Typer(
    name="vigil",
    help="Vigil: chat-ops for observability. Answers from your own metrics, logs, traces, "
    "runbooks and incidents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("vigil")
_state: dict[str, object] = {"log_json": None, "log_level": None}


@app.callback()
def _global(
    log_json: Annotated[bool, typer.Option("--log-json", help="log as JSON lines")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    _state["log_json"] = log_json or None
    _state["log_level"] = "DEBUG" if verbose else None


def _settings() -> Settings:
    """Load settings and set up logging; a bad value exits 2 with one line."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(f"vigil: config error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(
        level=str(_state["log_level"] or settings.env.VIGIL_LOG_LEVEL),
        json_lines=bool(_state["log_json"]) or settings.env.VIGIL_LOG_FORMAT == "json",
        secrets=settings.env.secret_values(),
    )
    return settings


def _run_async(coro: object) -> int:
    try:
        return int(asyncio.run(coro))  # type: ignore[arg-type]
    except ConfigError as exc:
        typer.echo(f"vigil: config error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        return 0


@app.command()
def demo(
    duration: Annotated[
        float | None, typer.Option(help="stop by itself after this many seconds", min=0)
    ] = None,
    no_web: Annotated[bool, typer.Option("--no-web", help="do not serve the web console")] = False,
) -> None:
    """Run the demo: a simulated fleet with scripted incidents, alerts and chat, all offline."""
    from bot.demo import run_demo

    settings = _settings()
    raise typer.Exit(_run_async(run_demo(settings, duration=duration, web=not no_web)))


@app.command()
def run(
    duration: Annotated[
        float | None, typer.Option(help="stop by itself after this many seconds", min=0)
    ] = None,
) -> None:
    """Run the bot with the integrations configured in .env and data_config/."""
    settings = _settings()
    raise typer.Exit(_run_async(_run_bot(settings, duration)))


async def _run_bot(settings: Settings, duration: float | None) -> int:
    from bot.app import VigilApp
    from bot.channels import console_sink

    bot = VigilApp(settings)
    if settings.env.VIGIL_CONSOLE:
        bot.hub.add_sink(console_sink())
    log.warning(
        "no live telemetry source is wired into `vigil run` yet; "
        "chat answers and alerts need `vigil demo` for now"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await bot.start()
    log.info("vigil is running; Ctrl-C to stop")
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    finally:
        await bot.stop()
    return 0


@app.command()
def doctor(
    quick: Annotated[bool, typer.Option("--quick", help="do not load the embedding model")] = False,
) -> None:
    """Check every configured component and say how to fix what fails."""
    from bot.doctor import Check, run_checks

    try:
        settings = load_settings()
    except ConfigError as exc:
        checks = [Check("config", "failed", str(exc), "fix the value named above")]
        _print_checks(checks)
        raise typer.Exit(2) from None
    configure_logging(level="WARNING", secrets=settings.env.secret_values())
    checks = run_checks(settings, load_model=not quick)
    _print_checks(checks)
    failed = [c for c in checks if c.status == "failed"]
    if failed:
        typer.echo(f"{len(failed)} component(s) failed: {', '.join(c.component for c in failed)}")
    raise typer.Exit(1 if failed else 0)


def _print_checks(checks: list) -> None:
    table = Table("component", "status", "detail", "how to fix", show_lines=False)
    style = {"ok": "green", "failed": "bold red", "not configured": "dim"}
    for check in checks:
        table.add_row(
            check.component, f"[{style[check.status]}]{check.status}[/]", check.detail, check.hint
        )
    Console(width=160, soft_wrap=False).print(table)


@app.command()
def version() -> None:
    """Print Vigil's version."""
    from importlib.metadata import version as dist_version

    typer.echo(f"vigil {dist_version('vigil')}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
