"""Small JSON state files that survive a kill -9: written to a temporary file, flushed to disk,
then renamed over the old one, so a reader sees the old state or the new one, never half of one.

Used for ingestion watermarks, log-file offsets and history-import progress.

A write that fails (a full disk, a read-only folder) leaves the old file as it was, removes its
temporary file, and raises ``StateWriteError``: an ``OSError`` and a ``VigilError`` whose text is
one line naming the file and the reason (``no space left on device``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.errors import VigilError

log = logging.getLogger(__name__)

_FULL = (errno.ENOSPC, errno.EDQUOT)


class StateWriteError(VigilError, OSError):
    """A state file could not be written. ``errno`` and ``filename`` are those of the failure,
    ``strerror`` the short reason; ``str()`` is one line for a user."""

    def __str__(self) -> str:
        text = f"cannot write {self.filename}: {self.strerror}"
        if self.errno in _FULL and self.filename:
            text += f"; free some space on the disk of {Path(self.filename).parent}"
        return text


def state_write_error(path: Path, exc: OSError) -> StateWriteError:
    """``exc`` (raised while writing ``path``) as a ``StateWriteError``."""
    if isinstance(exc, StateWriteError):
        return exc
    full = exc.errno in _FULL
    reason = "no space left on device" if full else (exc.strerror or str(exc) or type(exc).__name__)
    return StateWriteError(exc.errno, reason, str(path))


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically and durably."""
    text = json.dumps(data, indent=1, sort_keys=True, default=str)
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a temporary file beside it, fsync, rename over it, fsync
    of the folder. A crash leaves the old file or the new one, never a mix. A failed write
    leaves the old file, removes the temporary one and raises ``StateWriteError``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise state_write_error(path, exc) from exc
    fsync_dir(path.parent)


def load_json_file(path: Path, error: Callable[[str], Exception]) -> Any:
    """The JSON in a file a user handed over (an export, an incidents file); ``error(line)`` is
    raised with one line naming the file when it is missing, unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read it ({exc})") from None
    except ValueError as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None


def read_json(path: Path, default: Any) -> Any:
    """The JSON in ``path``; ``default`` when it does not exist. A file that is not valid JSON
    is moved aside to ``NAME.corrupt`` with a warning, and ``default`` is returned."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return default
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:  # not UTF-8 (UnicodeDecodeError) or not JSON
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.warning(
            "state file %s was not valid JSON (%s); moved it to %s and started afresh",
            path,
            exc,
            aside,
        )
        return default


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Watermarks:
    """How far each source has been ingested: ``{source name: ISO time}`` in one JSON file.
    ``path=None`` keeps them in memory only (the demo world starts afresh every run)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._marks: dict[str, datetime] = {}
        self.reload()

    def reload(self) -> None:
        """Read the file again (a replica that just took over the jobs from another)."""
        path = self.path
        raw = read_json(path, {}) if path is not None else {}
        marks: dict[str, datetime] = {}
        for name, value in raw.items() if isinstance(raw, dict) else ():
            try:
                marks[str(name)] = _aware(datetime.fromisoformat(str(value)))
            except ValueError:
                log.warning("watermark of %s in %s is not a time (%r); ignored", name, path, value)
        with self._lock:
            self._marks = marks

    def get(self, name: str) -> datetime | None:
        with self._lock:
            return self._marks.get(name)

    def set(self, name: str, when: datetime) -> None:
        with self._lock:
            self._marks[name] = _aware(when)
            if self.path is not None:
                write_json_atomic(
                    self.path, {k: v.isoformat() for k, v in sorted(self._marks.items())}
                )

    def all(self) -> dict[str, datetime]:
        with self._lock:
            return dict(self._marks)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
