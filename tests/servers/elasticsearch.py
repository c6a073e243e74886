"""A real Elasticsearch-compatible server for tests: noida-db (from PyPI, ES 8.15 wire
protocol) on an ephemeral loopback port, with its own data dir, run in the foreground and
stopped at teardown."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

STARTUP_S = 30.0


def noida_binary() -> Path | None:
    """The server binary inside the ``noida_db`` package (its ``noida-db`` launcher only runs
    it as a child), else the launcher beside this interpreter or on ``PATH``."""
    with suppress(ImportError):
        import noida_db

        packaged = Path(noida_db.__file__).parent / "noida-db"
        if packaged.is_file():
            if not os.access(packaged, os.X_OK):
                packaged.chmod(0o755)
            return packaged
    beside = Path(sys.executable).parent / "noida-db"
    if beside.exists():
        return beside
    found = shutil.which("noida-db")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    """Whether ``GET /`` answers with the cluster info."""
    try:
        with urllib.request.urlopen(url + "/", timeout=1) as response:
            return "version" in json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill, the server's whole process group (a launcher and its child)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextmanager
def noida_elasticsearch(data_dir: Path, binary: Path) -> Iterator[str]:
    """Run noida-db's Elasticsearch in ``data_dir`` until the block ends; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "noida.log"
    command = [
        str(binary),
        "start",
        "--data-dir",
        str(data_dir),
        "--only",
        "elasticsearch",
        "--elasticsearch-port",
        str(port),
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_S
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"noida-db did not start on {url}: {output}")
            time.sleep(0.05)
        yield url
    finally:
        _stop(process)
