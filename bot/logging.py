"""Logging: human-readable lines by default, JSON lines with ``--log-json``; secrets never logged.

Every record passes the formatter's redaction as a whole (message, arguments and traceback), so
a token that reaches a log call by accident is still scrubbed.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from knowledge.redaction import Redactor

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactingFormatter(logging.Formatter):
    """``logging.Formatter`` whose whole output goes through a ``Redactor``."""

    def __init__(self, redactor: Redactor, json_lines: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self.redactor = redactor
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        if not self.json_lines:
            text = super().format(record)
            extras = _extras(record)
            if extras:
                text += " " + " ".join(f"{k}={v}" for k, v in extras.items())
            return self.redactor.redact(text)
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.redactor.redact(json.dumps(entry, default=str))


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")
    }


def configure_logging(
    level: str = "INFO",
    json_lines: bool = False,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install one redacting handler on the root logger (replacing earlier ones) and return it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(Redactor(known_secrets=secrets), json_lines=json_lines))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_vigil", False):
            root.removeHandler(old)
    handler._vigil = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("apscheduler", "httpx", "urllib3", "sentence_transformers", "filelock"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler
