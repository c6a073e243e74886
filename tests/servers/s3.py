"""A local S3-compatible server for tests: moto's ``moto_server`` (PyPI ``moto[server]``) on an
ephemeral loopback port, in its own process, stopped at teardown.

It keeps buckets in memory, does not check request signatures (any key pair is accepted) and
honours ``If-None-Match: *`` on PutObject, the conditional put that Lance commits versions with.
``running_s3(workdir)`` runs one server for a block; the ``s3_server`` fixture (module scope,
imported as ``s3_server_fixture``) wraps it for test modules that import it. Give each test
its own bucket (``new_bucket``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import stop_process

STARTUP_S = 30.0
ACCESS_KEY = "vigil-test-access-key"
SECRET_KEY = "vigil-test-secret-Zq81xPv0"
"""Test credentials; tests assert that this string never reaches a message or a log line."""
REGION = "us-east-1"


def moto_binary() -> Path | None:
    """``moto_server`` beside this interpreter (the venv), else on ``PATH``."""
    beside = Path(sys.executable).parent / "moto_server"
    if beside.exists():
        return beside
    found = shutil.which("moto_server")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(endpoint: str) -> bool:
    """Whether the server answers ``GET /`` (ListBuckets)."""
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=1) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self) -> Any:
        """A boto3 S3 client for this server (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self, prefix: str = "vigil") -> str:
        """A freshly created, empty bucket with a unique name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in ``bucket`` under ``prefix``."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def env(self, uri: str) -> dict[str, str]:
        """Vigil's settings for a knowledge store at ``uri`` on this server."""
        return {
            "VIGIL_LANCEDB_URI": uri,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def running_s3(workdir: Path) -> Iterator[S3Server]:
    """A moto S3 server on an ephemeral 127.0.0.1 port until the block ends."""
    binary = moto_binary()
    if binary is None:
        raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / "moto.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    server = S3Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + STARTUP_S
        while not answers(server.endpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start: {server.log_tail()}")
            time.sleep(0.05)
        yield server
    finally:
        stop_process(process, grace_s=10)


@pytest.fixture(scope="module", name="s3_server")
def s3_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto S3 server per test module: ``from tests.servers.s3 import s3_server_fixture``
    and take ``s3_server`` as an argument."""
    with running_s3(tmp_path_factory.mktemp("moto")) as server:
        yield server
