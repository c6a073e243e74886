"""``vigil summarize THREAD.json``: summarise an exported incident thread and remember it.

THREAD.json is a list of ``{user, ts, text}`` (``ts`` as ISO 8601 or a Slack timestamp such as
``"1700000000.000100"``), or ``{"messages": [...]}`` around such a list (``channel`` beside it
is used for the incident's id). Bad input is one line naming the message's index; exit 2.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from bot.config import Settings
from handlers.summarize import to_reply
from handlers.types import ThreadMessage
from knowledge.errors import VigilError
from knowledge.incidents import INCIDENTS_FILE, IncidentMemory, Remembered, Summarizer
from knowledge.statefile import load_json_file

log = logging.getLogger(__name__)

MAX_MESSAGES = 20_000
MAX_TEXT = 40_000


class ThreadError(ValueError):
    """An exported thread that cannot be read (one line)."""


def incidents_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / INCIDENTS_FILE


def load_thread(path: Path) -> list[ThreadMessage]:
    """The messages of an exported thread, oldest first; ``ThreadError`` at the first problem."""
    return load_export(path)[1]


def load_export(path: Path) -> tuple[str, list[ThreadMessage]]:
    """``(channel, messages)`` of an exported thread (channel ``""`` when the file has none)."""
    path = Path(path)
    raw = load_json_file(path, ThreadError)
    channel = ""
    if isinstance(raw, dict) and "messages" in raw:
        channel = str(raw.get("channel") or "")
        raw = raw["messages"]
    if not isinstance(raw, list):
        raise ThreadError(f"{path}: expected a list of messages {{user, ts, text}}")
    if not raw:
        raise ThreadError(f"{path}: the thread has no messages")
    if len(raw) > MAX_MESSAGES:
        raise ThreadError(f"{path}: {len(raw):,} messages; the limit is {MAX_MESSAGES:,}")
    messages = [_message(path, i, item) for i, item in enumerate(raw)]
    messages.sort(key=lambda m: m.ts)
    return channel, messages


def _message(path: Path, index: int, item: Any) -> ThreadMessage:
    where = f"{path}: message {index}"
    if not isinstance(item, dict):
        raise ThreadError(
            f"{where}: expected an object {{user, ts, text}}, got {type(item).__name__}"
        )
    for key in ("user", "ts", "text"):
        if key not in item:
            raise ThreadError(f"{where}: field {key!r} is missing")
    user, text = item["user"], item["text"]
    if not isinstance(user, str) or not user.strip():
        raise ThreadError(f"{where}: field 'user' must be a non-empty string")
    if not isinstance(text, str):
        raise ThreadError(f"{where}: field 'text' must be a string")
    if len(text) > MAX_TEXT:
        raise ThreadError(f"{where}: field 'text' is over {MAX_TEXT:,} characters")
    return ThreadMessage(user.strip(), parse_ts(item["ts"], where), text)


def parse_ts(value: Any, where: str = "ts") -> datetime:
    """A Slack timestamp (``"1700000000.000100"``, or a number) or ISO 8601 (UTC if naive)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ThreadError(f"{where}: field 'ts' must be an ISO time or a Slack timestamp")
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    try:
        if seconds is not None:
            return datetime.fromtimestamp(seconds, UTC)
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ThreadError(
            f"{where}: field 'ts' {text[:40]!r} is neither an ISO time nor a Slack timestamp"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def run_summarize(settings: Settings, path: Path, store: bool = True, as_json: bool = False) -> int:
    """Summarise the thread in ``path`` and print it (terminal text or JSON); with ``store``,
    remember it (knowledge store and incidents.json). Returns the exit code."""
    from bot.knowledge import build_answerer, make_redactor, open_store, store_present
    from bot.render.terminal import render

    try:
        channel, messages = load_export(path)
    except ThreadError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        return 2
    redactor = make_redactor(settings)
    kb = None
    if store or store_present(settings):  # evidence needs the store
        try:
            kb = open_store(settings)
        except VigilError as exc:
            if store:
                typer.echo(f"vigil: {exc}", err=True)
                return 1
            log.warning("summarize: no evidence, the store cannot be opened: %s", exc)
    try:
        answerer = build_answerer(settings, redactor, kb)
        summary = Summarizer.from_answerer(answerer).summarize(messages, channel=channel)
    except VigilError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        return 1
    remembered = None
    failure = None
    if store:
        try:
            remembered = IncidentMemory(kb, incidents_path(settings), redactor).remember(summary)
        except VigilError as exc:  # printed after the summary, which is not lost
            failure = f"vigil: the summary could not be remembered: {exc}"
        if remembered is not None and remembered.problem:
            failure = f"vigil: the summary was not fully remembered: {remembered.problem}"
    if as_json:
        data = summary.to_json()
        data["remembered"] = remembered is not None
        data["record"] = remembered.record if remembered is not None else None
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        typer.echo(render(to_reply(summary)))
        if remembered is not None:
            typer.echo("\n" + remembered_line(remembered, incidents_path(settings)))
    if failure is not None:
        typer.echo(failure, err=True)
        return 1
    return 0


def remembered_line(remembered: Remembered, records: Path) -> str:
    """Where the summary went: the store, and incidents.json (or why not)."""
    where = "knowledge store; " if remembered.stored else ""
    if remembered.record.startswith("skipped: "):
        why = remembered.record.removeprefix("skipped: ")
        return f"Remembered as {remembered.id} ({where}not added to {records}: {why})."
    return f"Remembered as {remembered.id} ({where}{remembered.record} in {records})."
