"""Raw log text into ``LogLine``: access logs, JSON lines, syslog and "TIMESTAMP LEVEL message".

``LineParser`` keeps what a file's lines share: its format (detected from the first line that
parses when ``auto``), its default service and host, and the time of the previous line (a line
that parses as nothing still counts, at that time). Lines that start with whitespace or
``Caused by`` continue the previous record (stack traces). All regexes are compiled once and
timestamps are cached, so parsing costs a few microseconds a line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from knowledge.logmining import LogLine, normalise_level

Format = Literal["auto", "apache", "json", "syslog", "plain"]
FORMATS: tuple[str, ...] = ("apache", "json", "syslog", "plain")

Parsed = tuple[datetime, str, str, str, str]
"""(ts, level, message, service, host); service and host "" when the line does not say."""

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    )
}
_TZ_CACHE: dict[str, timezone] = {}
_TS_CACHE: dict[str, datetime] = {}
_LEVEL_WORD = re.compile(
    r"\b(FATAL|CRITICAL|CRIT|EMERG|ALERT|PANIC|SEVERE|ERROR|ERR|WARNING|WARN|NOTICE|INFO|DEBUG|TRACE)\b",
    re.IGNORECASE,
)


def _cached(key: str, make: Callable[[str], datetime]) -> datetime:
    found = _TS_CACHE.get(key)
    if found is None:
        if len(_TS_CACHE) > 8192:
            _TS_CACHE.clear()
        found = _TS_CACHE[key] = make(key)
    return found


def _offset(text: str) -> timezone:
    """``+0100`` / ``-05:00`` / ``Z`` as a timezone."""
    found = _TZ_CACHE.get(text)
    if found is None:
        digits = text.replace(":", "")
        if digits in ("Z", "z", ""):
            found = UTC
        else:
            sign = -1 if digits[0] == "-" else 1
            minutes = int(digits[1:3]) * 60 + int(digits[3:5])
            found = timezone(sign * timedelta(minutes=minutes))
        _TZ_CACHE[text] = found
    return found


def _apache_time(text: str) -> datetime:
    # 17/May/2015:10:05:03 +0000
    return datetime(
        int(text[7:11]),
        _MONTHS[text[3:6]],
        int(text[0:2]),
        int(text[12:14]),
        int(text[15:17]),
        int(text[18:20]),
        tzinfo=_offset(text[21:].strip()),
    )


def _iso_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace(",", ".", 1) if "," in text else text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 string or epoch seconds / milliseconds as an aware datetime, else ``None``."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str) and value:
            if value[0].isdigit() and value.replace(".", "", 1).isdigit():
                return parse_time(float(value))
            return _cached(value, _iso_time)
    except (ValueError, OverflowError, OSError):
        return None
    return None


# ----------------------------------------------------------------------------- access logs

_ACCESS = re.compile(
    r"^(\S+) \S+ \S+ \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?)\] "
    r'"((?:[^"\\]|\\.)*)" (\d{3}) (\S+)(.*)$'
)


def parse_apache(line: str) -> Parsed | None:
    """Apache / nginx combined or common log format. The level comes from the status (5xx
    ERROR, 4xx WARN, else INFO); the message drops the client address, user and timestamp."""
    match = _ACCESS.match(line)
    if match is None:
        return None
    try:
        ts = _cached(match.group(2), _apache_time)
    except (ValueError, KeyError):
        return None
    status = match.group(4)
    level = "ERROR" if status[0] == "5" else "WARN" if status[0] == "4" else "INFO"
    return ts, level, f"{match.group(3)} {status} {match.group(5)}{match.group(6)}", "", ""


# ----------------------------------------------------------------------------- JSON lines

_JSON_TS = ("@timestamp", "timestamp", "ts", "time", "datetime", "date")
_JSON_LEVEL = ("level", "severity", "lvl", "loglevel", "log.level", "levelname")
_JSON_MESSAGE = ("message", "msg", "log", "text", "event")
_JSON_SERVICE = ("service", "service.name", "app", "application", "logger_name", "component")
_JSON_HOST = ("host", "hostname", "host.name", "node", "pod")


def _field(record: dict[str, object], names: tuple[str, ...]) -> object:
    for name in names:
        value = record.get(name)
        if value is None and "." in name:
            outer, _, inner = name.partition(".")
            nested = record.get(outer)
            value = nested.get(inner) if isinstance(nested, dict) else None
        if value is not None and value != "" and not isinstance(value, dict | list):
            return value
    return None


def parse_json(line: str) -> Parsed | None:
    """A JSON object per line (ts / time / @timestamp, level / severity, msg / message,
    service, host). Other fields are left out of the message."""
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    ts = parse_time(_field(record, _JSON_TS))
    if ts is None:
        return None
    message = _field(record, _JSON_MESSAGE)
    error = record.get("error") or record.get("exception") or record.get("stack_trace")
    text = str(message if message is not None else "")
    if isinstance(error, str) and error:
        text = f"{text}\n{error}" if text else error
    level = _field(record, _JSON_LEVEL)
    service = _field(record, _JSON_SERVICE)
    host = _field(record, _JSON_HOST)
    return (
        ts,
        normalise_level(str(level)) if level is not None else "",
        text,
        str(service) if isinstance(service, str | int) else "",
        str(host) if isinstance(host, str | int) else "",
    )


# ----------------------------------------------------------------------------- syslog

_SYSLOG_3164 = re.compile(
    r"^(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) "
    r"([^:\[\s]+)(?:\[\d+\])?:? ?(.*)$"
)
_SYSLOG_5424 = re.compile(r"^<(\d{1,3})>1 (\S+) (\S+) (\S+) \S+ \S+ (?:-|(?:\[.*?\])+) ?(.*)$")
_PRI_LEVELS = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")


class _SyslogClock:
    """RFC 3164 stamps have no year: the year of the reference time, or the one before when
    that would put the line more than a day in the future."""

    def __init__(self, reference: datetime) -> None:
        self.reference = reference

    def __call__(self, text: str) -> datetime:
        month, day, clock = _MONTHS[text[0:3]], int(text[4:6]), text[7:15]
        hour, minute, second = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
        year = self.reference.year
        ts = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        if ts - self.reference > timedelta(days=1):
            ts = ts.replace(year=year - 1)
        return ts


def _level_word(message: str) -> str:
    match = _LEVEL_WORD.search(message, 0, 80)
    return normalise_level(match.group(1)) if match else ""


def parse_syslog(line: str, clock: Callable[[str], datetime] | None = None) -> Parsed | None:
    """RFC 3164 (``May 17 10:05:03 host app[123]: message``) or RFC 5424 syslog."""
    if line.startswith("<") and (match := _SYSLOG_5424.match(line)) is not None:
        ts = parse_time(match.group(2))
        if ts is None:
            return None
        pri = int(match.group(1))
        return ts, _PRI_LEVELS[pri % 8], match.group(5), match.group(4), match.group(3)
    match = _SYSLOG_3164.match(line)
    if match is None:
        return None
    try:
        ts = (clock or _SyslogClock(datetime.now(UTC)))(match.group(2))
    except (ValueError, KeyError):
        return None
    message = match.group(5)
    level = _PRI_LEVELS[int(match.group(1)) % 8] if match.group(1) else _level_word(message)
    return ts, level, message, match.group(4), match.group(3)


# ----------------------------------------------------------------------------- plain

_PLAIN = re.compile(
    r"^\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?: ?(?:Z|[+-]\d\d:?\d\d))?)\]?"
    r"\s+(?:\[?(FATAL|CRITICAL|ERROR|ERR|WARNING|WARN|NOTICE|INFO|DEBUG|TRACE|SEVERE)\]?\s*[:-]?\s*)?"
    r"(.*)$",
    re.IGNORECASE,
)


def parse_plain(line: str) -> Parsed | None:
    """``TIMESTAMP [LEVEL] message`` (log4j, logback, Python logging and the like). A level word
    later in the line (``[main] ERROR com.foo``) is found too."""
    match = _PLAIN.match(line)
    if match is None:
        return None
    ts = parse_time(match.group(1).replace(" Z", "Z"))
    if ts is None:
        return None
    message = match.group(3)
    level = normalise_level(match.group(2)) if match.group(2) else _level_word(message)
    return ts, level, message, "", ""


# ----------------------------------------------------------------------------- the parser


def is_continuation(line: str) -> bool:
    """A stack-trace line that belongs to the record before it."""
    return bool(line) and (line[0] in " \t" or line.startswith(("Caused by", "...")))


class LineParser:
    """Parses one stream's lines (a file, a folder's file) into ``LogLine`` records.

    ``service`` and ``host`` are the defaults when a line does not name its own (JSON fields,
    syslog app and host); ``force_service`` makes ``service`` win over the line's.
    ``last_ts`` is the time given to lines that parse as nothing; it moves with each parsed
    line and is what a follower persists beside its offset.
    """

    def __init__(
        self,
        format: Format = "auto",
        service: str = "",
        host: str = "",
        last_ts: datetime | None = None,
        force_service: bool = False,
    ) -> None:
        self.format: str = format
        self.service = service
        self.host = host
        self.force_service = force_service
        self.last_ts = last_ts or datetime.now(UTC)
        self._clock = _SyslogClock(self.last_ts)
        self.unparsed = 0
        """Lines that matched no format (counted with level "" at ``last_ts``)."""

    def _try(self, name: str, line: str) -> Parsed | None:
        if name == "apache":
            return parse_apache(line)
        if name == "json":
            return parse_json(line)
        if name == "syslog":
            return parse_syslog(line, self._clock)
        return parse_plain(line)

    def parse_one(self, line: str) -> Parsed | None:
        """The line under this stream's format, or under any format when that fails (and the
        first that works becomes the stream's format when it was ``auto``)."""
        if self.format != "auto":
            parsed = self._try(self.format, line)
            if parsed is not None:
                return parsed
        for name in FORMATS:
            if name == self.format:
                continue
            parsed = self._try(name, line)
            if parsed is not None:
                if self.format == "auto":
                    self.format = name
                return parsed
        return None

    def parse(self, lines: Iterable[str]) -> list[LogLine]:
        """Records of ``lines`` (text without line ends). Continuation lines join the record
        before them; ones at the very start (their record was in an earlier batch) are
        dropped, since that record was counted already."""
        out: list[LogLine] = []
        pending: list[str] = []
        head: tuple[datetime, str, str, str, str] | None = None
        for raw in lines:
            if not raw.strip():
                continue
            if is_continuation(raw):
                if head is not None:
                    pending.append(raw)
                continue
            if head is not None:
                out.append(self._record(head, pending))
                pending = []
            parsed = self.parse_one(raw)
            if parsed is None:
                self.unparsed += 1
                head = (self.last_ts, "", raw, "", "")
            else:
                head = parsed
                self.last_ts = parsed[0]
        if head is not None:
            out.append(self._record(head, pending))
        return out

    def _record(self, head: Parsed, pending: list[str]) -> LogLine:
        ts, level, message, service, host = head
        if pending:
            message = "\n".join([message, *pending])
        if self.force_service or not service:
            service = self.service
        return LogLine(ts, message, level, service, host or self.host)
