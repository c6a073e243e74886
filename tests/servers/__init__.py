"""Real local servers for integration tests (Prometheus from the Debian package, moto's S3)."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """Terminate a server, and kill it when it is still up after ``grace_s``."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
