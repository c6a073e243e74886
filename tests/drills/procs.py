"""Child processes for the drills: started with the repository on the path and no endpoint from
the caller's environment, read line by line with a deadline, killed with SIGKILL."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KEEP = ("PATH", "HOME", "LANG", "TMPDIR")


def child_env(**extra: str) -> dict[str, str]:
    """A clean environment: the repository importable, the embedding model offline."""
    env = {k: v for k, v in os.environ.items() if k in KEEP}
    return {**env, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **extra}


def vigil(*args: str) -> list[str]:
    """The command line of the real ``vigil`` CLI."""
    return [sys.executable, "-m", "bot", *args]


class Child:
    """A process whose stdout lines are read by a thread (so that waiting has a deadline) and
    whose stderr goes to a file (so that it never blocks on a full pipe)."""

    def __init__(
        self, command: Sequence[str], env: dict[str, str], logs: Path, cwd: Path = REPO
    ) -> None:
        logs.parent.mkdir(parents=True, exist_ok=True)
        self.stderr_path = logs
        self._stderr = logs.open("ab")
        self.proc = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def wait_for(self, prefix: str, timeout: float = 60.0) -> str:
        """The next stdout line starting with ``prefix`` (earlier ones are kept in ``lines``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line within {timeout}s") from None
            if line is None:
                self.proc.wait(timeout=30)
                raise AssertionError(
                    f"exited {self.proc.returncode} before a {prefix!r} line:\n{self.stderr()}"
                )
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def wait_stderr(self, needle: str, count: int = 1, timeout: float = 120.0) -> None:
        """Until ``needle`` appears ``count`` times in stderr (log lines); fails if it exits."""
        deadline = time.monotonic() + timeout
        while self.stderr_path.read_text(errors="replace").count(needle) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode} first:\n{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen {count}x within {timeout}s")
            time.sleep(0.01)

    def kill9_unless_done(self) -> bool:
        """SIGKILL, unless it already exited by itself (then its exit code must be 0); whether
        it was killed."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.close()
        assert self.proc.returncode in (0, -signal.SIGKILL), (self.proc.returncode, self.stderr())
        return self.proc.returncode == -signal.SIGKILL

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.close()
        assert self.proc.returncode == -signal.SIGKILL, self.proc.returncode

    def finish(self, timeout: float = 120.0) -> int:
        """Wait for it to exit by itself; its exit code."""
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.close()
        return self.proc.returncode

    def close(self) -> None:
        """After it exited: the rest of its stdout into ``lines``, the pipes closed."""
        self._reader.join(timeout=10)  # the process is gone: its stdout is at its end
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
