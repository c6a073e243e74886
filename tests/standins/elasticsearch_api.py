"""A loopback stand-in in front of an Elasticsearch(-compatible) server that records every
request it receives.

By default it forwards each request to ``upstream`` (a real server, noida-db in the tests) and
relays the answer. ``rules`` override that: a request whose method and path match a rule gets
the rule's status and body instead, with the headers the real server sends
(``X-Elastic-Product: Elasticsearch``, which the official client checks). That is how the tests
get a 401 with Elasticsearch's error body, a server without point in time (404 on
``/_pit``), or a malformed search answer, while the real client talks to it unmodified.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.standins import loopback
from tests.standins.loopback import QuietHandler

HOP_HEADERS = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class EsRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON (or NDJSON text), None when there was none


@dataclass
class Rule:
    """Answer requests of ``method`` (``*``: any) whose path matches ``path`` (a regular
    expression, searched) with ``status`` and ``body`` (JSON, or bytes as they are), once
    ``after`` such requests have been forwarded as usual."""

    method: str
    path: str
    status: int
    body: Any
    after: int = 0
    matched: int = 0


@dataclass
class EsStandIn:
    upstream: str = ""
    rules: list[Rule] = field(default_factory=list)
    delay_s: float = 0.0
    """Wait this long before answering each request (a slow cluster)."""
    requests: list[EsRequest] = field(default_factory=list)
    url: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def answer(self, method: str, path: str, status: int, body: Any, after: int = 0) -> None:
        self.rules.append(Rule(method, path, status, body, after))

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]


def error_body(status: int, kind: str, reason: str) -> dict[str, Any]:
    """Elasticsearch's error body."""
    cause = {"type": kind, "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


UNAUTHORIZED = error_body(
    401,
    "security_exception",
    "unable to authenticate user [vigil] for REST request [/]",
)
NO_HANDLER = error_body(404, "not_found", "no handler found for uri [/_pit] and method [POST]")


def _handler(stand_in: EsStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _record(self) -> tuple[EsRequest, bytes]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = EsRequest(self.command, self.path, headers, body)
            stand_in.requests.append(request)
            return request, raw

        def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _rule(self, request: EsRequest) -> Rule | None:
            for rule in stand_in.rules:
                if rule.method in ("*", request.method) and re.search(rule.path, request.path):
                    rule.matched += 1
                    return rule if rule.matched > rule.after else None
            return None

        def _forward(self, request: EsRequest, raw: bytes) -> None:
            target = urlsplit(stand_in.upstream)
            connection = http.client.HTTPConnection(target.netloc, timeout=30)
            headers = {k: v for k, v in request.headers.items() if k not in HOP_HEADERS}
            try:
                connection.request(request.method, request.path, body=raw or None, headers=headers)
                response = connection.getresponse()
                data = response.read()
                relay = {k: v for k, v in response.getheaders() if k.lower() not in HOP_HEADERS}
            finally:
                connection.close()
            self._send(response.status, data, relay)

        def _serve(self) -> None:
            request, raw = self._record()
            if stand_in.delay_s and stand_in.stopping.wait(stand_in.delay_s):
                self.close_connection = True
                return
            rule = self._rule(request)
            if rule is None:
                self._forward(request, raw)
                return
            data = rule.body if isinstance(rule.body, bytes) else json.dumps(rule.body).encode()
            headers = {
                "Content-Type": "application/json; charset=UTF-8",
                "X-Elastic-Product": "Elasticsearch",
            }
            if rule.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="security", charset="UTF-8"'
            self._send(rule.status, data, headers)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


@contextmanager
def serve(upstream: str = "", rules: list[Rule] | None = None) -> Iterator[EsStandIn]:
    """Run a stand-in on an ephemeral loopback port, forwarding to ``upstream``."""
    stand_in = EsStandIn(upstream=upstream.rstrip("/"), rules=list(rules or []))
    with loopback.run(stand_in, _handler(stand_in), ""):
        yield stand_in
