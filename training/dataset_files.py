"""Keeping dataset files safe: timestamped backups (the last few kept, older ones compressed),
integrity-checked JSON, and recovery of a corrupt file from its newest valid backup.

Backups are ``backups/<stem>_backup_<YYYYMMDD_HHMMSS>.json``; all but the newest are gzipped
(``.json.gz``), and only the newest ``keep`` are kept. A file identical to its newest backup is
not backed up again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from knowledge.statefile import write_bytes_atomic, write_json_atomic
from training.metrics_dataset import DatasetError

log = logging.getLogger(__name__)
T = TypeVar("T")

_STAMP = re.compile(r"_backup_(\d{8}_\d{6}(?:_\d+)?)\.json(?:\.gz)?$")


class Backups:
    """Timestamped backups of the files of one datasets folder."""

    def __init__(self, folder: Path, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.folder = Path(folder)
        self.keep = keep

    def of(self, path: Path) -> list[Path]:
        """The backups of ``path``, newest first."""
        prefix = f"{Path(path).stem}_backup_"
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if p.name.startswith(prefix)]
        found = [p for p in found if _STAMP.search(p.name)]
        return sorted(found, key=lambda p: _STAMP.search(p.name).group(1), reverse=True)  # type: ignore[union-attr]

    def backup(self, path: Path, now: datetime | None = None) -> Path | None:
        """Copy ``path`` into the backups (unless it is missing, or identical to the newest
        backup), then compress all but the newest and drop those beyond ``keep``."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        existing = self.of(path)
        if existing and _digest(read_backup(existing[0])) == _digest(data):
            return None
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
        target = self.folder / f"{path.stem}_backup_{stamp}.json"
        n = 1
        while target.exists() or target.with_suffix(".json.gz").exists():
            target = self.folder / f"{path.stem}_backup_{stamp}_{n}.json"
            n += 1
        write_bytes_atomic(target, data)
        self._tidy(path)
        return target

    def _tidy(self, path: Path) -> None:
        backups = self.of(path)
        for old in backups[self.keep :]:
            old.unlink(missing_ok=True)
        for older in backups[1 : self.keep]:
            if older.suffix != ".gz":
                packed = older.with_name(older.name + ".gz")
                write_bytes_atomic(packed, gzip.compress(older.read_bytes(), mtime=0))
                older.unlink()

    def newest_valid(self, path: Path, parse: Callable[[str, str], T]) -> tuple[Path, T] | None:
        """The newest backup of ``path`` that ``parse(text, where)`` accepts, and its value."""
        for candidate in self.of(path):
            try:
                text = read_backup(candidate).decode("utf-8")
                return candidate, parse(text, str(candidate))
            except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile, DatasetError):
                log.warning("backup %s is not valid either; trying an older one", candidate)
        return None


def read_backup(path: Path) -> bytes:
    data = Path(path).read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Loaded(Generic[T]):
    """What ``load_or_recover`` found: the value (None when there was nothing usable) and, when
    the file had to be recovered or dropped, a message saying what happened."""

    value: T | None
    message: str | None = None


def load_or_recover(
    path: Path,
    parse: Callable[[str, str], T],
    backups: Backups,
    what: str,
    *,
    read_only: bool = False,
) -> Loaded[T]:
    """Read ``path`` with ``parse(text, where)``. A missing file gives ``Loaded(None)``. A file
    that ``parse`` refuses is moved aside (``NAME.corrupt-STAMP``, kept for inspection) and
    replaced by its newest valid backup; the message says so, or that no valid backup exists.
    ``read_only``: touch nothing; the value is the newest valid backup's, and the message says
    that a generation run will repair the file. A file that cannot be read at all (permissions,
    a folder in its place) is a ``DatasetError``, not damage: nothing is rolled back."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Loaded(None)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        return Loaded(parse(raw.decode("utf-8"), str(path)))
    except UnicodeDecodeError as exc:
        problem = f"is corrupt (not UTF-8: {exc.reason})"
    except DatasetError as exc:
        problem = f"is corrupt ({str(exc).removeprefix(f'{path}: ')})"
    if read_only:
        found = backups.newest_valid(path, parse)
        shown = f"its backup {found[0].name}" if found else "nothing (no valid backup)"
        return Loaded(
            found[1] if found else None,
            f"the {what} {path} {problem}; shown from {shown}; `vigil dataset generate` repairs it",
        )
    aside = path.with_name(f"{path.name}.corrupt-{datetime.now(UTC):%Y%m%d_%H%M%S}")
    os.replace(path, aside)
    found = backups.newest_valid(path, parse)
    if found is None:
        message = (
            f"the {what} {path} {problem}; no valid backup exists, so it starts afresh "
            f"(the damaged file is kept as {aside.name})"
        )
        log.warning("%s", message)
        return Loaded(None, message)
    source, value = found
    write_bytes_atomic(path, read_backup(source))
    message = (
        f"the {what} {path} {problem}; restored it from the backup {source.name} "
        f"(the damaged file is kept as {aside.name})"
    )
    log.warning("%s", message)
    return Loaded(value, message)


# ------------------------------------------------------------------------------ sealed JSON
def write_sealed(path: Path, body: dict[str, Any]) -> None:
    """Write ``body`` atomically with a ``checksum`` of its canonical JSON, so that a file
    edited by hand or damaged on disk is detected on load."""
    write_json_atomic(Path(path), {**body, "checksum": _checksum(body)})


def parse_sealed(text: str, where: str) -> dict[str, Any]:
    """The body of a sealed file; ``DatasetError`` when it is not JSON or its checksum does not
    match."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise DatasetError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("checksum"), str):
        raise DatasetError(f"{where}: no checksum; not a file Vigil wrote")
    checksum = doc.pop("checksum")
    if checksum != _checksum(doc):
        raise DatasetError(f"{where}: checksum mismatch; the file was damaged or edited")
    return doc


def _checksum(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
