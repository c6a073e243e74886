"""Log files, followed like ``tail -F``, mined into log patterns.

Each file is known by its device and inode, with a fingerprint of its first bytes; its offset,
the time of its last line and its format are saved together with the Drain3 state, in one
atomic write, only in ``Fetch.commit``. So a kill -9 before the commit reads the same bytes
again on restart and builds the same documents (with the same ids): nothing is lost or doubled.

- A file found on the first run starts at its end (``from_beginning: false``) or at 0; a file
  that appears later (a new file in a folder, the new file after a rotation) starts at 0.
- Rotation by rename: the old inode is read to its end (through the handle kept open, even
  when the glob no longer matches its new name), the new file from 0.
- Truncation (size below the offset, or the first bytes changed): read again from 0.
- copytruncate: the copy has the fingerprint of a file already read, so it starts at that
  file's offset; the truncated original starts again at 0.
- ``.gz`` files are history: read once, whole, when found on the first run with
  ``from_beginning``, or later when their content is not a copy of a file already read (a
  rotated log compressed by logrotate is skipped). ``import_paths`` reads any of them.
- A last line without its newline waits for the next fetch; undecodable bytes are replaced.

``fetch(start, end)`` ignores the range except to close windows: it reads what is new (at most
``max_bytes_per_fetch``), mines it, and closes the windows that end before
``min(end, newest line time) - settle`` (or ``end - settle`` when every file is read to its end
and nothing new came). The watermark is the end of the newest closed window.
"""

from __future__ import annotations

import copy
import glob
import gzip
import hashlib
import logging
import os
import re
import socket
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from knowledge.documents import EPOCH
from knowledge.logformats import LineParser
from knowledge.logmining import LogMiner, MinerConfig
from knowledge.sources.base import Fetch, Source, SourceConfig, SourceContext, one_line

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 1024
"""The first bytes of a file that tell it apart from another on the same inode, or its copy."""
MIN_FINGERPRINT = 64
"""A copy is recognised by its fingerprint only when the file has at least this many bytes."""
READ_CHUNK = 1 << 20
"""Bytes parsed and mined at a time: what is held in memory at once."""
MAX_LINE = 1 << 20
"""A line longer than this (no newline in sight) is cut and mined in pieces."""
GONE_FINGERPRINTS = 200
"""Fingerprints of files no longer followed, remembered to skip their compressed copies."""
_GENERIC_NAMES = frozenset(
    {
        "access",
        "app",
        "application",
        "console",
        "current",
        "error",
        "errors",
        "log",
        "logs",
        "main",
        "out",
        "output",
        "server",
        "stderr",
        "stdout",
        "messages",
    }
)
_SUFFIX = re.compile(r"(?:\.gz|\.\d+|[-_.]\d{8}(?:\d\d)?|\.log|\.txt|\.out|\.err|\.json|\.jsonl)$")


class FilesConfig(SourceConfig):
    """``sources.files`` in ai-config.yml: log files followed like ``tail -F``."""

    paths: tuple[str, ...] = ()
    """Globs of files and folders (a folder means the files under it)."""
    format: Literal["auto", "apache", "json", "syslog", "plain"] = "auto"
    """How lines are parsed; ``auto`` detects it per file from its lines."""
    service: str = ""
    """The service of every line; default: from the line (JSON, syslog) or the file name."""
    host: str = ""
    """The host of lines that do not name one; default: this machine's name."""
    from_beginning: bool = False
    """Read files found on the first run from their start (history) instead of their end."""
    mining: MinerConfig = MinerConfig()
    max_bytes_per_fetch: int = 32 << 20
    """Bytes read per fetch at most; a source catching up takes several runs."""


def service_of(path: str | Path) -> str:
    """A service name from a file name: ``checkout.log.1`` -> ``checkout``; generic names
    (``app.log``, ``access.log``) take their folder's name (``/var/log/nginx/access.log`` ->
    ``nginx``)."""
    path = Path(path)
    name = path.name
    while True:
        stripped = _SUFFIX.sub("", name)
        if stripped == name or not stripped:
            break
        name = stripped
    if not name or name.lower() in _GENERIC_NAMES:
        parent = path.parent.name
        return parent or name or "logs"
    return name


def _fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


@dataclass
class _Read:
    """What one fetch read: lines mined, bytes consumed, the newest line time."""

    lines: int = 0
    bytes: int = 0
    newest: float | None = None


class FilesSource(Source):
    """Log files followed like ``tail -F`` and mined into log patterns (see the module doc)."""

    kind = "files"
    Config = FilesConfig
    config: FilesConfig

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self.host = self.config.host or socket.gethostname()
        self.miner = LogMiner(self.kind, context.state_dir, context.redact, self.config.mining)
        self._state: dict[str, Any] = self._initial(self.miner.extra)
        self._handles: dict[str, int] = {}
        self._streams: dict[str, _Stream] = {}
        self._pending: object | None = None
        self._before: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _initial(extra: dict[str, Any]) -> dict[str, Any]:
        state = copy.deepcopy(extra) if extra else {}
        state.setdefault("started", False)
        state.setdefault("files", {})
        state.setdefault("newest", None)
        state.setdefault("watermark", None)
        state.setdefault("gone", [])
        return state

    def configured(self) -> bool:
        return bool(self.config.paths)

    # ------------------------------------------------------------------ finding files
    def matched(self, paths: Iterable[str] | None = None) -> list[str]:
        """The files the globs (or ``paths``) match now, folders expanded, sorted."""
        found: dict[str, None] = {}
        own = os.path.realpath(self.context.state_dir)
        for pattern in paths if paths is not None else self.config.paths:
            expanded = os.path.expanduser(pattern)
            for hit in sorted(glob.glob(expanded, recursive=True)) or [expanded]:
                if os.path.isdir(hit):
                    for folder, dirs, names in os.walk(hit):
                        if os.path.realpath(folder).startswith(own):
                            dirs[:] = []
                            continue
                        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                        for name in sorted(names):
                            if not name.startswith("."):
                                found[os.path.join(folder, name)] = None
                elif os.path.isfile(hit):
                    found[hit] = None
        return list(found)

    def health(self) -> tuple[bool, str]:
        if not self.config.paths:
            return False, "no paths configured: set sources.files.paths to log files or folders"
        readable = [p for p in self.matched() if os.access(p, os.R_OK)]
        if not readable:
            return False, (
                f"no readable file matches {', '.join(self.config.paths)}: check the paths "
                "and that Vigil may read them"
            )
        more = f" and {len(readable) - 3} more" if len(readable) > 3 else ""
        return True, f"{len(readable)} log files readable ({', '.join(readable[:3])}{more})"

    # ------------------------------------------------------------------ fetch
    def fetch(self, start: datetime, end: datetime) -> Fetch:
        self._discard_uncommitted()
        state = copy.deepcopy(self._state)
        try:
            read = self._follow(state)
            cutoff = self._cutoff(state, read, end)
            documents, embed = self.miner.close(cutoff)
        except Exception as exc:
            self.miner.rollback()
            log.warning("files source %s failed while reading", self.name, exc_info=True)
            return Fetch.error(f"reading log files failed ({one_line(exc)}); check the paths")
        step = int(self.config.mining.window.total_seconds())
        aligned = int(cutoff.timestamp()) // step * step
        if state["watermark"] is None or aligned > state["watermark"]:
            state["watermark"] = aligned
        state["started"] = True
        watermark = datetime.fromtimestamp(state["watermark"], UTC)
        return self._result(state, documents, embed, watermark, read.lines)

    def _result(
        self,
        state: dict[str, Any],
        documents: list[Any],
        embed: list[str],
        watermark: datetime | None,
        lines: int,
    ) -> Fetch:
        token = object()
        self._pending = token
        commit = self._committer(token, state)
        if not documents:
            result = Fetch.no_data(watermark)
            result.items, result.commit = lines, commit
            return result
        return Fetch(
            status="ok",
            documents=documents,
            watermark=watermark,
            items=lines,
            commit=commit,
            vectors_from=embed,
        )

    def _committer(self, token: object, state: dict[str, Any]) -> Callable[[], None]:
        def commit() -> None:
            if self._pending is not token:
                return  # a later fetch replaced this one: its state is not ours to save
            self.miner.save(extra=state)
            self._state = state
            self._pending = None
            for key in list(self._handles):
                if key not in state["files"]:
                    os.close(self._handles.pop(key))
            for key in list(self._streams):
                if key not in state["files"] or state["files"][key]["done"]:
                    self._streams.pop(key).close()

        return commit

    def _discard_uncommitted(self) -> None:
        """A fetch whose documents never reached the store: forget what it mined."""
        if self._pending is not None:
            self.miner.rollback()
            self._pending = None

    def _cutoff(self, state: dict[str, Any], read: _Read, end: datetime) -> datetime:
        settle = self.config.settle
        if read.newest is not None and (state["newest"] is None or read.newest > state["newest"]):
            state["newest"] = read.newest
        if read.bytes == 0:
            return end - settle  # every file is read to its end: the windows before are done
        newest = datetime.fromtimestamp(state["newest"], UTC)
        return min(end, newest) - settle

    # ------------------------------------------------------------------ following
    def _follow(self, state: dict[str, Any]) -> _Read:
        files: dict[str, dict[str, Any]] = state["files"]
        budget = self.config.max_bytes_per_fetch
        read = _Read()
        seen: set[str] = set()
        self._before = copy.deepcopy(files)
        for path in self.matched():
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = f"{st.st_dev}:{st.st_ino}"
            if key in seen:
                continue
            seen.add(key)
            entry = self._place(state, key, path, st.st_size)
            if entry is None or budget <= 0:
                continue
            budget -= self._read_entry(key, entry, budget, read)
        for key in [k for k in files if k not in seen]:
            self._finish_gone(state, key, budget, read)
        return read

    def _place(
        self, state: dict[str, Any], key: str, path: str, size: int
    ) -> dict[str, Any] | None:
        """The entry of the file at ``path`` (inode ``key``): known, truncated, replaced, a
        copy of one already read, or new."""
        files: dict[str, dict[str, Any]] = state["files"]
        entry = files.get(key)
        gz = path.endswith(".gz")
        if entry is not None:
            entry["path"] = path
            if entry["gz"]:
                return None if entry["done"] else entry
            head = self._head(key, path, entry["fp_len"])
            if size < entry["offset"] or _fingerprint(head) != entry["fp"]:
                log.info("log file %s was truncated or replaced: reading it from the start", path)
                entry.update(offset=0, fp=_fingerprint(b""), fp_len=0)
            return entry
        entry = {
            "path": path,
            "offset": 0,
            "fp": _fingerprint(b""),
            "fp_len": 0,
            "ts": None,
            "gz": gz,
            "done": False,
            "service": self.config.service or service_of(path),
        }
        files[key] = entry
        if gz:
            first = state["started"] or self.config.from_beginning
            head = _gz_head(path)
            if not first or (len(head) >= MIN_FINGERPRINT and self._known(state, head)):
                entry["done"] = True
                return None
            return entry
        head = self._head(key, path, FINGERPRINT_BYTES)
        copied = self._copied(state, key, head)
        if copied is not None:
            entry["offset"] = min(copied, size)
        elif not state["started"] and not self.config.from_beginning:
            entry["offset"] = self._line_start_before(key, path, size)
        return entry

    def _known(self, state: dict[str, Any], head: bytes) -> bool:
        for other in [*state["files"].values(), *state["gone"]]:
            fp_len = other.get("fp_len", 0)
            if fp_len >= MIN_FINGERPRINT and _fingerprint(head[:fp_len]) == other["fp"]:
                return True
        return False

    def _copied(self, state: dict[str, Any], key: str, head: bytes) -> int | None:
        """The offset already read of a file whose copy this is (copytruncate), else None."""
        for other_key, other in self._before.items():
            fp_len = other["fp_len"]
            if other_key == key or other["gz"] or fp_len < MIN_FINGERPRINT:
                continue
            if len(head) >= fp_len and _fingerprint(head[:fp_len]) == other["fp"]:
                return int(other["offset"])
        return None

    def _fd(self, key: str, path: str) -> int:
        fd = self._handles.get(key)
        if fd is None:
            fd = os.open(path, os.O_RDONLY)
            st = os.fstat(fd)
            if f"{st.st_dev}:{st.st_ino}" != key:
                os.close(fd)
                raise FileNotFoundError(f"{path} changed while it was opened")
            self._handles[key] = fd
        return fd

    def _head(self, key: str, path: str, length: int) -> bytes:
        return os.pread(self._fd(key, path), length, 0) if length else b""

    def _line_start_before(self, key: str, path: str, size: int) -> int:
        """Where the last complete line ends, so tailing starts on a line boundary."""
        if size == 0:
            return 0
        back = min(size, 65536)
        tail = os.pread(self._fd(key, path), back, size - back)
        cut = tail.rfind(b"\n")
        return size - back + cut + 1 if cut >= 0 else size

    def _finish_gone(self, state: dict[str, Any], key: str, budget: int, read: _Read) -> None:
        """A file no longer matched (rotated away, deleted): read what is left through the
        handle still open, then forget it (remembering its fingerprint)."""
        files: dict[str, dict[str, Any]] = state["files"]
        entry = files[key]
        fd = self._handles.get(key)
        if fd is not None and not entry["gz"] and budget > 0:
            used = self._read_entry(key, entry, budget, read)
            if used and entry["offset"] < os.fstat(fd).st_size:
                return  # more to read next time
        gone = files.pop(key)
        state["gone"] = [*state["gone"], {"fp": gone["fp"], "fp_len": gone["fp_len"]}][
            -GONE_FINGERPRINTS:
        ]

    def _parser(self, entry: dict[str, Any]) -> LineParser:
        last = entry["ts"]
        return LineParser(
            self.config.format,
            service=entry["service"],
            host=self.host,
            last_ts=datetime.fromtimestamp(last, UTC) if last is not None else None,
            force_service=bool(self.config.service),
        )

    def _read_entry(self, key: str, entry: dict[str, Any], budget: int, read: _Read) -> int:
        """Read, parse and mine the new bytes of one file; returns the bytes consumed."""
        parser = self._parser(entry)
        if entry["ts"] is None:
            parser.last_ts = self._mtime(entry["path"])
        if entry["gz"]:
            stream = self._streams.setdefault(key, _Stream(entry["path"]))
            chunks = stream.chunks(entry["offset"], budget)
        else:
            chunks = self._chunks(key, entry, budget)
        used = 0
        for data, final in chunks:
            used += len(data)
            self._mine(parser, data, read)
            entry["offset"] += len(data)
            if final:
                entry["done"] = True
        if not entry["gz"] and entry["fp_len"] < FINGERPRINT_BYTES and used:
            head = self._head(key, entry["path"], FINGERPRINT_BYTES)
            entry["fp"], entry["fp_len"] = _fingerprint(head), len(head)
        entry["ts"] = parser.last_ts.timestamp()
        return used

    @staticmethod
    def _mtime(path: str) -> datetime:
        try:
            return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
        except OSError:
            return datetime.now(UTC)

    def _chunks(self, key: str, entry: dict[str, Any], budget: int) -> Iterator[tuple[bytes, bool]]:
        """Whole lines from the entry's offset, at most ``budget`` bytes, ``READ_CHUNK`` at a
        time; a last line without its newline stays for a later fetch."""
        fd = self._fd(key, entry["path"])
        offset = entry["offset"]
        while budget > 0:
            want = min(READ_CHUNK, budget)
            data = os.pread(fd, want, offset)
            if not data:
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) < want or want < READ_CHUNK:
                    return  # a partial last line, or no room left for it: next time
                cut = len(data)  # a line longer than a chunk: mined in pieces
            yield data[:cut], False
            offset += cut
            budget -= cut

    def _mine(self, parser: LineParser, data: bytes, read: _Read) -> None:
        records = parser.parse(split_lines(data))
        read.lines += self.miner.add(records)
        read.bytes += len(data)
        if records:
            newest = parser.last_ts.timestamp()
            if read.newest is None or newest > read.newest:
                read.newest = newest

    # ------------------------------------------------------------------ history import
    def import_paths(self, paths: Iterable[str], state_dir: Path | None = None) -> Iterator[Fetch]:
        """Read the given files, folders and ``.gz`` files from their start, oldest first (by
        modification time), in batches of ``max_bytes_per_fetch``: one ``Fetch`` per batch,
        whose ``commit`` saves the progress (resumable: an interrupted import continues after
        the last committed batch). Uses a miner of its own (``state_dir``, default
        ``<state_dir>/import``), so following and importing do not disturb each other.

        Windows close when the import ends (or early, beyond ``mining.max_open_windows``; a
        line for a window already closed is then dropped and counted as late). The last
        ``Fetch`` carries the rest.
        """
        importer = _Importer(self, list(paths), state_dir or self.context.state_dir / "import")
        yield from importer.run()

    def close(self) -> None:
        for fd in self._handles.values():
            os.close(fd)
        self._handles.clear()
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()


class _Importer:
    """History import of files and folders through a miner of its own."""

    def __init__(self, source: FilesSource, paths: list[str], state_dir: Path) -> None:
        self.source = source
        self.paths = paths
        self.miner = LogMiner(
            source.kind,
            state_dir,
            source.context.redact,
            source.config.mining,
            instance=f"{source.context.state_dir.name}-import",
        )
        self.progress: dict[str, Any] = copy.deepcopy(self.miner.extra) or {"files": {}}
        self.committed = True

    def _order(self) -> list[str]:
        def mtime(path: str) -> float:
            try:
                return os.stat(path).st_mtime
            except OSError:
                return 0.0

        return sorted(self.source.matched(self.paths), key=lambda p: (mtime(p), p))

    def run(self) -> Iterator[Fetch]:
        """One ``Fetch`` per batch; a batch left uncommitted ends the import (run it again to
        resume from the last committed batch)."""
        budget = self.source.config.max_bytes_per_fetch
        for path in self._order():
            stream = _Stream(path)
            try:
                while not self.progress["files"].get(path, {}).get("done", False):
                    progress = copy.deepcopy(self.progress)
                    try:
                        lines = self._batch(path, stream, progress, budget)
                        documents, embed = self.miner.close(EPOCH)
                    except Exception as exc:
                        self.miner.rollback()
                        yield Fetch.error(f"importing {path} failed ({one_line(exc)})")
                        return
                    yield self._fetch(progress, documents, embed, lines)
                    if not self.committed:
                        self.miner.rollback()
                        return
            finally:
                stream.close()
        if not self.progress.get("closed"):
            documents, embed = self.miner.close(datetime.max.replace(tzinfo=UTC))
            progress = copy.deepcopy(self.progress)
            progress["closed"] = True
            yield self._fetch(progress, documents, embed, 0)
            if not self.committed:
                self.miner.rollback()

    def _fetch(
        self, progress: dict[str, Any], documents: list[Any], embed: list[str], lines: int
    ) -> Fetch:
        self.committed = False

        def commit() -> None:
            self.miner.save(extra=progress)
            self.progress = progress
            self.committed = True

        newest = max((d.ts for d in documents), default=None)
        watermark = newest + self.source.config.mining.window if newest else None
        return Fetch(
            status="ok" if documents else "no_data",
            documents=documents,
            watermark=watermark,
            items=lines,
            commit=commit,
            vectors_from=embed,
        )

    def _batch(self, path: str, stream: _Stream, progress: dict[str, Any], budget: int) -> int:
        entry = progress["files"].setdefault(path, {"offset": 0, "ts": None, "done": False})
        source = self.source
        last = entry["ts"]
        parser = LineParser(
            source.config.format,
            service=source.config.service or service_of(path),
            host=source.host,
            last_ts=datetime.fromtimestamp(last, UTC)
            if last is not None
            else FilesSource._mtime(path),
            force_service=bool(source.config.service),
        )
        lines = 0
        for data, final in stream.chunks(entry["offset"], budget):
            records = parser.parse(split_lines(data))
            lines += self.miner.add(records)
            entry["offset"] += len(data)
            entry["done"] = final
        entry["ts"] = parser.last_ts.timestamp()
        return lines


def split_lines(data: bytes) -> list[str]:
    """Bytes of whole lines as text lines: undecodable bytes replaced, ``\\r\\n`` ends too."""
    lines = data.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _gz_head(path: str) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(FINGERPRINT_BYTES)
    except (OSError, EOFError, zlib.error):
        return b""


class _Stream:
    """Whole lines from a file (``.gz`` uncompressed on the fly) from an offset, ``READ_CHUNK``
    at a time. Kept open between batches, so a long ``.gz`` is not decompressed again from its
    start each time; a last line without its newline is held back until the end of the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.handle: Any = None
        self.pos = -1
        self.carry = b""

    def chunks(self, offset: int, budget: int) -> Iterator[tuple[bytes, bool]]:
        """``(lines, at_end)`` pairs: at most ``budget`` bytes of whole lines; at the end of
        the file the rest, with ``at_end`` true."""
        if self.handle is None or self.pos != offset:
            self.close()
            opener: Callable[..., Any] = gzip.open if self.path.endswith(".gz") else open
            self.handle = opener(self.path, "rb")
            self.handle.seek(offset)
            self.pos, self.carry = offset, b""
        while budget > 0:
            data = self.handle.read(READ_CHUNK)
            if not data:
                rest, self.carry = self.carry, b""
                self.pos += len(rest)
                yield rest, True
                return
            data = self.carry + data
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < MAX_LINE:
                self.carry = data
                continue
            cut = cut or len(data)
            self.carry = data[cut:]
            self.pos += cut
            budget -= cut
            yield data[:cut], False

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
