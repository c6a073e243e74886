"""Drill fixtures: a tiny tmpfs disk that a test fills to the brim (root only)."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHUNK = 64 << 10


class Disk:
    """A small tmpfs mounted at ``path``; ``fill`` takes all but ``leave`` bytes of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler.bin"

    def available(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Write ``filler.bin`` until the disk is full, then give back ``leave`` bytes (rounded
        down to whole pages by tmpfs)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        block = b"\0" * CHUNK
        try:
            while os.write(fd, block):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)
        size = self.filler.stat().st_size
        os.truncate(self.filler, max(size - leave, 0))
        assert self.available() <= leave + 4096

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


def _mount(target: Path, size: str) -> str | None:
    """Mount a tmpfs; the reason when it cannot be done."""
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs (the full-disk drills)"
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"mount -t tmpfs failed: {(done.stderr or done.stdout).strip()[:200]}"
    return None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Disk]:
    """A 4 MiB tmpfs at ``tmp_path/disk``, unmounted at the end whatever happens."""
    target = tmp_path / "disk"
    reason = _mount(target, "4m")
    if reason is not None:
        pytest.skip(reason)
    try:
        yield Disk(target)
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers() -> Iterator[None]:
    """A CLI run in-process installs a log handler on the runner's stream, which is closed
    after it: take it off, so later log lines do not fail."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_vigil", False):
            root.removeHandler(handler)
