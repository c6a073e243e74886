"""A loopback stand-in of the Prometheus HTTP API that records every request it receives.

Answers ``/api/v1/status/buildinfo``, ``/api/v1/query_range`` (one matrix, or exactly the bytes
in ``raw_body``), ``/api/v1/query``, ``/api/v1/alerts`` and ``/api/v1/rules`` the way Prometheus
does, so the real ``PrometheusConnect`` talks to it unmodified. Optional TLS (``certfile`` and
``keyfile``) and a required ``Authorization`` header, to test what the client sends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.standins.loopback import QuietHandler, run


@dataclass
class PromRequest:
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # names lower-cased


@dataclass
class PrometheusStandIn:
    """What the stand-in answers; change the fields between calls to change its behaviour."""

    matrix: list[dict[str, Any]] = field(default_factory=list)
    """The ``result`` of every ``query_range``."""
    raw_body: bytes | None = None
    """Answer ``query_range`` with HTTP 200 and exactly these bytes."""
    require_auth: str | None = None
    """Answer 401 unless the ``Authorization`` header is exactly this."""
    status: int = 200
    requests: list[PromRequest] = field(default_factory=list)
    url: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def answer(self, path: str) -> tuple[int, bytes]:
        if self.status != 200:
            return self.status, json.dumps({"status": "error", "error": "stand-in"}).encode()
        if path == "/api/v1/query_range" and self.raw_body is not None:
            return 200, self.raw_body
        data: Any
        if path == "/api/v1/status/buildinfo":
            data = {"version": "2.99.0-standin", "revision": "x"}
        elif path == "/api/v1/query_range":
            data = {"resultType": "matrix", "result": self.matrix}
        elif path == "/api/v1/query":
            data = {"resultType": "vector", "result": []}
        elif path == "/api/v1/alerts":
            data = {"alerts": []}
        elif path == "/api/v1/rules":
            data = {"groups": []}
        else:
            return 404, b"404 page not found\n"
        return 200, json.dumps({"status": "success", "data": data}).encode()


def _handler(stand_in: PrometheusStandIn) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            stand_in.requests.append(PromRequest(parsed.path, params, headers))
            if stand_in.require_auth is not None and (
                headers.get("authorization") != stand_in.require_auth
            ):
                status, body = 401, b"Unauthorized\n"
            else:
                status, body = stand_in.answer(parsed.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def prometheus_api(
    stand_in: PrometheusStandIn | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> Iterator[PrometheusStandIn]:
    """Serve the stand-in on an ephemeral 127.0.0.1 port (HTTPS with ``certfile``)."""
    stand_in = stand_in or PrometheusStandIn()
    tls = (certfile, keyfile) if certfile and keyfile else None
    with run(stand_in, _handler(stand_in), tls=tls):
        yield stand_in
