"""Grouping of log lines into rough templates (numbers, ids and quoted values masked), so that
an answer can say "HikariPool ... timed out (x37)" instead of quoting 37 lines."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from knowledge.telemetry import LogRecord

_MASKS = (
    (re.compile(r"\b[0-9a-f]{8,}\b", re.I), "<id>"),
    (re.compile(r"\b\d+(?:\.\d+)*(?:ms|s|%)?\b"), "<n>"),
    (re.compile(r"\[REDACTED:[a-z_]+\]"), "<redacted>"),
    (re.compile(r"\"[^\"]*\""), '"<s>"'),
)


def template_of(line: str) -> str:
    """The line with variable parts masked."""
    for pattern, mask in _MASKS:
        line = pattern.sub(mask, line)
    return re.sub(r"\s+", " ", line).strip()[:200]


@dataclass
class LogPattern:
    template: str
    level: str
    count: int
    first: LogRecord
    last: LogRecord


def group(
    records: Iterable[LogRecord],
    levels: Iterable[str] = ("WARN", "ERROR", "FATAL"),
    redact: Callable[[str], str] | None = None,
) -> list[LogPattern]:
    """Patterns of the records at ``levels``, most frequent first. ``redact``: a callable applied
    to each line before grouping."""
    wanted = set(levels)
    patterns: dict[tuple[str, str], LogPattern] = {}
    for record in records:
        if record.level not in wanted:
            continue
        line = record.message.splitlines()[0] if record.message else ""
        if redact is not None:
            line = redact(line)
        key = (record.service, template_of(strip_prefix(line)))
        found = patterns.get(key)
        if found is None:
            patterns[key] = LogPattern(key[1], record.level, 1, record, record)
        else:
            found.count += 1
            found.last = record
    return sorted(patterns.values(), key=lambda p: (-p.count, p.first.ts))


def strip_prefix(line: str) -> str:
    """The line without a leading timestamp or syslog prefix."""
    return re.sub(r"^(\d{4}-\d\d-\d\d[ T][\d:.,]+\S*|[A-Z][a-z]{2} +\d+ [\d:]+)\s*", "", line)
