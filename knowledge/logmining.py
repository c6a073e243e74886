"""Log lines into patterns: Drain3 template mining, per-window counts, new-pattern signals.

Shared by the Elasticsearch and log-file sources. A ``LogMiner`` masks the variable parts of each
line (IPs, numbers, hex ids, UUIDs, quoted strings, emails, query strings), mines the result with
Drain3, and counts lines per aligned window (default five minutes), service, pattern and level,
with hosts, first and last seen and a few example lines. ``close(before)`` turns the windows that
ended into ``log_pattern`` documents:

- one document per (window, service, pattern, level) for the top patterns by count and for every
  WARN / ERROR / FATAL or new pattern (bounded per window by config);
- a stable explicit id (source, miner instance, service, window start, pattern id, level), so a
  replay of the same lines overwrites instead of duplicating;
- an embed text that depends on the pattern only (service, level, template), so a known pattern
  in a new window costs no embedding.

A pattern Drain3 has never seen (a new cluster once the miner has learnt ``warmup_lines``) is a
signal: its document says so, carries ``payload["new"] = True`` and is at least a warning.

State (the Drain3 model, the open windows, the sources' own cursor in ``extra``) is saved
together in one file with an atomic write, only when ``save`` is called: a source calls it from
``Fetch.commit``, and ``rollback`` returns to the last save when a fetch fails. Redaction is slow,
so it is applied to templates and example lines when documents are built, never to every line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drain3.drain import Drain, LogCluster

from knowledge.config import StrictModel
from knowledge.documents import Document, content_id
from knowledge.sources.base import Duration, Redact
from knowledge.statefile import write_bytes_atomic

log = logging.getLogger(__name__)

STATE_FILE = "logminer.state"
_MAGIC = b"VIGIL-LOGMINER\x01"
_VERSION = 1
SIGNAL_LEVELS = frozenset({"WARN", "ERROR", "FATAL"})
_LEVEL_RANK = {"FATAL": 5, "ERROR": 4, "WARN": 3, "INFO": 2, "DEBUG": 1, "": 0}
_LEVEL_ALIASES = {
    "WARNING": "WARN",
    "ERR": "ERROR",
    "CRITICAL": "FATAL",
    "CRIT": "FATAL",
    "EMERG": "FATAL",
    "ALERT": "FATAL",
    "PANIC": "FATAL",
    "SEVERE": "ERROR",
    "NOTICE": "INFO",
    "INFORMATION": "INFO",
    "TRACE": "DEBUG",
    "FINE": "DEBUG",
}


@dataclass(frozen=True, slots=True)
class LogLine:
    """One raw log line, parsed: when, what, how bad, from where. Not yet redacted."""

    ts: datetime
    message: str
    level: str = ""  # DEBUG, INFO, WARN, ERROR, FATAL or "" when unknown
    service: str = ""
    host: str = ""


def normalise_level(level: str) -> str:
    """``warning`` -> ``WARN``, ``err`` -> ``ERROR``, ``critical`` -> ``FATAL``; unknown as is."""
    upper = level.strip().upper()
    return _LEVEL_ALIASES.get(upper, upper)


class MinerConfig(StrictModel):
    """Template mining settings (``sources.<name>.mining`` in ai-config.yml). Every bound here
    caps memory: none of it grows with the number of lines read."""

    window: Duration = timedelta(minutes=5)
    """Patterns are counted per aligned window of this size."""
    similarity: float = 0.4
    """Drain's similarity threshold: lower merges more lines into one pattern."""
    depth: int = 4
    """Drain's prefix tree depth (at least 3)."""
    max_children: int = 100
    """Drain's children per tree node."""
    max_clusters: int = 5000
    """Patterns Drain remembers; the least recently seen are forgotten beyond this."""
    max_patterns: int = 1000
    """Patterns counted per window and service; further ones count as "other" lines."""
    max_open_windows: int = 500
    """Open (window, service) pairs; the oldest are closed early beyond this."""
    top_patterns: int = 10
    """Documents per window and service for the most frequent patterns (any level)."""
    max_documents: int = 40
    """Documents per window and service at most (top patterns plus warnings, errors, new)."""
    examples: int = 2
    """Example lines kept per pattern and window (redacted when the document is built)."""
    max_hosts: int = 20
    """Hosts counted per pattern and window; the rest count as other hosts."""
    max_line_chars: int = 1000
    """The first line of a message is mined up to this length."""
    warmup_lines: int = 1000
    """Patterns created before the miner has seen this many lines are not "new" signals."""
    critical_count: int = 20
    """An ERROR pattern with at least this many lines in a window is critical."""


# ----------------------------------------------------------------------------- masking

_MASKS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # (a substring the line must hold for the pattern to be tried, pattern, placeholder)
    ('"', re.compile(r'"[^"\n]{0,400}"'), "<STR>"),
    (
        "-",
        re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"),
        "<TS>",
    ),
    ("-", re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<UUID>"),
    ("@", re.compile(r"\b[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"), "<EMAIL>"),
    ("://", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+"), "<URL>"),
    ("?", re.compile(r"(?<=[\w/])\?[^\s\"']*"), "?<QUERY>"),
    (".", re.compile(r"(?<![\w.:])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])"), "<IP>"),
    (":", re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}(?![\w:])"), "<IP>"),
    ("0x", re.compile(r"\b0x[0-9a-fA-F]+\b"), "<HEX>"),
    (
        "",
        re.compile(r"\b(?=[0-9a-fA-F]{8,}\b)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]*\d[0-9a-fA-F]*\b"),
        "<HEX>",
    ),
    ("", re.compile(r"(?<![A-Za-z0-9_<])\d+(?:[.,:]\d+)*"), "<NUM>"),
)
_DIGIT = re.compile(r"\d")


def mask(text: str) -> str:
    """The line with its variable parts replaced by typed placeholders (``<NUM>``, ``<IP>``...)."""
    if '"' not in text and "@" not in text and _DIGIT.search(text) is None:
        return text
    for guard, pattern, placeholder in _MASKS:
        if guard in text:
            text = pattern.sub(placeholder, text)
    return text


# ----------------------------------------------------------------------------- window stats


class _Stats:
    """Counts of one pattern at one level in one window of one service."""

    __slots__ = ("cluster", "count", "examples", "first", "hosts", "last", "level", "new")

    def __init__(self, cluster: LogCluster, level: str, ts: float, new: bool) -> None:
        self.cluster = cluster
        self.level = level
        self.count = 0
        self.hosts: dict[str, int] = {}
        self.first = ts
        self.last = ts
        self.examples: list[str] = []
        self.new = new

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


class _Window:
    """The patterns of one service in one window."""

    __slots__ = ("lines", "other", "patterns", "service", "start")

    def __init__(self, start: int, service: str) -> None:
        self.start = start
        self.service = service
        self.patterns: dict[tuple[int, str], _Stats] = {}
        self.lines = 0
        self.other = 0

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


@dataclass(frozen=True)
class MinerStats:
    """What the miner holds now, for logs and benchmarks."""

    lines: int
    clusters: int
    open_windows: int
    late: int


# ----------------------------------------------------------------------------- the miner


class LogMiner:
    """Drain3 template mining of ``LogLine`` batches into per-window pattern documents.

    ``add`` mines lines into the open windows; ``close(before)`` returns the documents of the
    windows that end at or before ``before`` (plus the stable text to embed for each);
    ``save`` persists the Drain3 state and the open windows under ``state_dir`` atomically;
    ``rollback`` forgets everything since the last ``save``.

    ``source`` is the ``Document.source`` of the documents (``files``, ``elasticsearch``);
    ``instance`` (default: the name of ``state_dir``) keeps two miners' pattern ids apart.
    """

    def __init__(
        self,
        source: str,
        state_dir: Path,
        redact: Redact,
        config: MinerConfig | None = None,
        *,
        instance: str | None = None,
    ) -> None:
        self.source = source
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / STATE_FILE
        self.redact = redact
        self.config = config or MinerConfig()
        self.instance = Path(state_dir).name if instance is None else instance
        self._step = max(1, int(self.config.window.total_seconds()))
        self._redacted: dict[str, str] = {}
        self._fresh()
        self._saved: bytes | None = None
        self._load()

    # ------------------------------------------------------------------ state
    def _fresh(self) -> None:
        self.drain = Drain(
            depth=max(3, self.config.depth),
            sim_th=self.config.similarity,
            max_children=self.config.max_children,
            max_clusters=self.config.max_clusters,
        )
        self._windows: dict[tuple[int, str], _Window] = {}
        self._ready: list[_Window] = []
        self._horizon: dict[str, int] = {}
        self._lines = 0
        self._late = 0
        self.extra: dict[str, Any] = {}

    def _snapshot(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "window": self._step,
            "drain": self.drain,
            "windows": self._windows,
            "ready": self._ready,
            "horizon": self._horizon,
            "lines": self._lines,
            "late": self._late,
            "extra": self.extra,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != _VERSION or state.get("window") != self._step:
            raise ValueError("state of another version or window size")
        self.drain = state["drain"]
        self.drain.max_children = self.config.max_children
        self.drain.sim_th = self.config.similarity
        self._windows = state["windows"]
        self._ready = state["ready"]
        self._horizon = state["horizon"]
        self._lines = int(state["lines"])
        self._late = int(state["late"])
        self.extra = dict(state["extra"])

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("log miner state %s unreadable (%s); starting fresh", self.path, exc)
            return
        try:
            self._restore(_decode(data))
            self._saved = data
        except Exception as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            log.warning(
                "log miner state %s is damaged (%s); moved it to %s and started fresh: "
                "patterns are learnt again",
                self.path,
                type(exc).__name__,
                aside.name,
            )
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            self._fresh()

    def save(self, extra: Mapping[str, Any] | None = None) -> None:
        """Persist the Drain3 model, the open windows and ``extra`` (a source's own cursor:
        file offsets, a search position) together, atomically."""
        if extra is not None:
            self.extra = dict(extra)
        data = _encode(self._snapshot())
        write_bytes_atomic(self.path, data)
        self._saved = data

    def rollback(self) -> None:
        """Return to the last ``save`` (or to the state loaded at start, or to nothing)."""
        if self._saved is None:
            self._fresh()
        else:
            self._restore(_decode(self._saved))

    @property
    def stats(self) -> MinerStats:
        return MinerStats(
            lines=self._lines,
            clusters=len(self.drain.id_to_cluster),
            open_windows=len(self._windows) + len(self._ready),
            late=self._late,
        )

    # ------------------------------------------------------------------ mining
    def add(self, lines: Iterable[LogLine]) -> int:
        """Mine ``lines`` into their windows; returns how many were counted (late lines, for
        a window already closed, are dropped and counted in ``stats.late``)."""
        config = self.config
        step = self._step
        drain = self.drain
        windows = self._windows
        horizon = self._horizon
        max_chars = config.max_line_chars
        max_patterns = config.max_patterns
        max_examples = config.examples
        max_hosts = config.max_hosts
        warmup = config.warmup_lines
        counted = 0
        for line in lines:
            ts = line.ts.timestamp()
            start = int(ts) // step * step
            service = line.service
            if start < horizon.get(service, -(2**62)):
                self._late += 1
                continue
            window = windows.get((start, service))
            if window is None:
                window = self._open(start, service)
            message = line.message
            first = message.partition("\n")[0] if "\n" in message else message
            cluster, change = drain.add_log_message(mask(first[:max_chars]))
            level = line.level
            key = (cluster.cluster_id, level)
            stats = window.patterns.get(key)
            if stats is None:
                if len(window.patterns) >= max_patterns:
                    window.other += 1
                    window.lines += 1
                    self._lines += 1
                    counted += 1
                    continue
                new = change == "cluster_created" and self._lines >= warmup
                stats = window.patterns[key] = _Stats(cluster, level, ts, new)
            stats.count += 1
            if ts < stats.first:
                stats.first = ts
            elif ts > stats.last:
                stats.last = ts
            hosts = stats.hosts
            host = line.host
            if host in hosts:
                hosts[host] += 1
            elif len(hosts) < max_hosts:
                hosts[host] = 1
            if len(stats.examples) < max_examples and message[:500] not in stats.examples:
                stats.examples.append(message[:500])
            window.lines += 1
            self._lines += 1
            counted += 1
        return counted

    def _open(self, start: int, service: str) -> _Window:
        window = self._windows[(start, service)] = _Window(start, service)
        while len(self._windows) > self.config.max_open_windows:
            oldest = min(self._windows)
            self._ready.append(self._windows.pop(oldest))
            self._horizon[oldest[1]] = max(
                self._horizon.get(oldest[1], -(2**62)), oldest[0] + self._step
            )
        return window

    def open_windows(self) -> list[tuple[datetime, str]]:
        """The (window start, service) pairs still counting, oldest first."""
        return [(datetime.fromtimestamp(s, UTC), svc) for s, svc in sorted(self._windows)]

    # ------------------------------------------------------------------ documents
    def close(self, before: datetime) -> tuple[list[Document], list[str]]:
        """Documents of the windows that end at or before ``before`` (and of any closed early
        to bound memory), with one embed text each; the windows are forgotten."""
        limit = before.timestamp()
        done = self._ready
        self._ready = []
        for key in sorted(self._windows):
            if key[0] + self._step <= limit:
                done.append(self._windows.pop(key))
        documents: list[Document] = []
        embed: list[str] = []
        for window in sorted(done, key=lambda w: (w.start, w.service)):
            end = window.start + self._step
            self._horizon[window.service] = max(self._horizon.get(window.service, end), end)
            for document, text in self._documents(window):
                documents.append(document)
                embed.append(text)
        return documents, embed

    def _chosen(self, window: _Window) -> list[_Stats]:
        ranked = sorted(window.patterns.values(), key=lambda s: (-s.count, s.first, s.level))
        top = ranked[: self.config.top_patterns]
        signals = [
            s for s in ranked[self.config.top_patterns :] if s.new or s.level in SIGNAL_LEVELS
        ]
        return top + signals[: max(0, self.config.max_documents - len(top))]

    def _documents(self, window: _Window) -> Iterable[tuple[Document, str]]:
        for stats in self._chosen(window):
            yield self._document(window, stats)

    def _clean(self, text: str) -> str:
        found = self._redacted.get(text)
        if found is None:
            if len(self._redacted) > 20_000:
                self._redacted.clear()
            found = self._redacted[text] = self.redact(text)
        return found

    def _document(self, window: _Window, stats: _Stats) -> tuple[Document, str]:
        w0 = datetime.fromtimestamp(window.start, UTC)
        w1 = w0 + timedelta(seconds=self._step)
        first = datetime.fromtimestamp(stats.first, UTC)
        last = datetime.fromtimestamp(stats.last, UTC)
        service = self._clean(window.service) or "unknown"
        level = stats.level or "unlevelled"
        template = self._clean(" ".join(stats.cluster.log_template_tokens))[:400]
        hosts = sorted(stats.hosts, key=lambda h: (-stats.hosts[h], h))
        host_names = [self._clean(h) for h in hosts if h]
        examples = [self.redact(e) for e in stats.examples]
        where = f" on {', '.join(host_names[:5])}" if host_names else ""
        if len(host_names) > 5:
            where += f" and {len(host_names) - 5} more hosts"
        span = f"{w0:%H:%M}–{w1:%H:%M} UTC on {w0:%Y-%m-%d}"
        head = f"{service} {level} log pattern {span}"
        if stats.new:
            head = f"New {head} (never seen before, first seen at {first:%H:%M:%S} UTC)"
        text = (
            f"{head}: {stats.count}x '{template}'{where}; first seen {first:%H:%M:%S}, "
            f"last seen {last:%H:%M:%S} ({stats.count} of {window.lines} {service} lines "
            "in the window)."
        )
        if examples:
            text += " Example: " + " | ".join(e.replace("\n", " ⏎ ")[:300] for e in examples)
        severity = _severity(stats, self.config.critical_count)
        cluster_id = stats.cluster.cluster_id
        document = Document(
            source=self.source,
            kind="log_pattern",
            text=text,
            ts=w0,
            service=service,
            host=host_names[0] if host_names else "",
            severity=severity,
            title=f"{service} {level} log pattern",
            payload={
                "window_end": w1.isoformat(),
                "pattern_id": cluster_id,
                "template": template,
                "level": stats.level,
                "count": stats.count,
                "hosts": {self._clean(h): stats.hosts[h] for h in hosts},
                "first_seen": first.isoformat(),
                "last_seen": last.isoformat(),
                "new": stats.new,
                "examples": examples,
                "window_lines": window.lines,
                "other_lines": window.other,
            },
            id=content_id(
                self.source, self.instance, window.service, window.start, cluster_id, stats.level
            ),
        )
        return document, f"{service} {level} log pattern: {template}"


def _severity(stats: _Stats, critical_count: int) -> str:
    level = stats.level
    if level == "FATAL" or (level == "ERROR" and stats.count >= critical_count):
        return "critical"
    if level in SIGNAL_LEVELS or stats.new:
        return "warning"
    return "info"


# ----------------------------------------------------------------------------- persistence


def _encode(state: dict[str, Any]) -> bytes:
    body = zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 1)
    return _MAGIC + zlib.crc32(body).to_bytes(4, "big") + body


def _decode(data: bytes) -> dict[str, Any]:
    if not data.startswith(_MAGIC):
        raise ValueError("not a log miner state file")
    head = len(_MAGIC)
    crc, body = int.from_bytes(data[head : head + 4], "big"), data[head + 4 :]
    if zlib.crc32(body) != crc:
        raise ValueError("checksum mismatch")
    state = _StateUnpickler(io.BytesIO(zlib.decompress(body))).load()
    if not isinstance(state, dict):
        raise ValueError("unexpected state")
    return state


_ALLOWED = {
    ("drain3.drain", "Drain"),
    ("drain3.drain", "Node"),
    ("drain3.drain", "LogCluster"),
    ("drain3.drain", "LogClusterCache"),
    ("drain3.simple_profiler", "NullProfiler"),
    ("collections", "OrderedDict"),
    ("knowledge.logmining", "_Stats"),
    ("knowledge.logmining", "_Window"),
}


class _StateUnpickler(pickle.Unpickler):
    """Loads only the classes a miner state holds: a damaged or foreign file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"unexpected {module}.{name} in log miner state")
        return super().find_class(module, name)
