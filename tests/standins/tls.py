"""Throwaway TLS certificates for stand-ins that speak HTTPS (made with openssl)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def self_signed(folder: Path, name: str, ip: bool = False) -> tuple[str, str]:
    """``(cert.pem, key.pem)`` for ``name`` (a host name, or an IP address when ``ip``);
    skips the test when openssl is missing."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is not on PATH (needed to make a test certificate)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    alt = f"subjectAltName={'IP' if ip else 'DNS'}:{name}"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext", alt,
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return str(cert), str(key)
