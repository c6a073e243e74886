"""A loopback stand-in of Jaeger's query HTTP API (the JSON API its UI uses) that records every
request it receives.

Serves ``GET /api/services``, ``/api/services/{service}/operations``, ``/api/operations``,
``/api/traces`` (``service``, ``operation``, ``start`` / ``end`` in microseconds, ``limit``,
``minDuration`` / ``maxDuration`` as Go durations) and ``/api/traces/{traceID}`` from an
in-memory list of traces in Jaeger's JSON shape, answering ``{"data", "total", "limit",
"offset", "errors"}`` like the real query service. Traces are built with ``span(...)`` and
``JaegerStandIn.add``. It can be told to fail: an HTTP status, a malformed body, a hang.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.standins import loopback
from tests.standins.loopback import QuietHandler

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)


# ----------------------------------------------------------------------------- building traces


@dataclass
class SpanSpec:
    """One span to build: it starts ``at_ms`` after its parent starts."""

    service: str
    operation: str
    ms: float
    children: tuple[SpanSpec, ...] = ()
    at_ms: float = 0.0
    error: bool | str = False
    """``True``: the ``error=true`` tag; a string: also an ``event=error`` log with it."""
    tags: dict[str, Any] = field(default_factory=dict)
    host: str = ""


def span(
    service: str,
    operation: str,
    ms: float,
    *children: SpanSpec,
    at: float = 0.0,
    error: bool | str = False,
    tags: dict[str, Any] | None = None,
    host: str = "",
) -> SpanSpec:
    return SpanSpec(service, operation, ms, children, at, error, dict(tags or {}), host)


def us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _tag(key: str, value: Any) -> dict[str, Any]:
    kind = (
        "bool"
        if isinstance(value, bool)
        else "int64"
        if isinstance(value, int)
        else "float64"
        if isinstance(value, float)
        else "string"
    )
    return {"key": key, "type": kind, "value": value}


def build_trace(root: SpanSpec, start: datetime, trace_id: str | None = None) -> dict[str, Any]:
    """A trace in Jaeger's JSON shape (``traceID``, ``spans``, ``processes``)."""
    trace_id = trace_id or f"{next(_ids):032x}"
    processes: dict[tuple[str, str], str] = {}
    spans: list[dict[str, Any]] = []

    def walk(spec: SpanSpec, begin: datetime, parent: str | None) -> None:
        host = spec.host or f"{spec.service}-1"
        pid = processes.setdefault((spec.service, host), f"p{len(processes) + 1}")
        span_id = f"{next(_ids):016x}"
        tags = [_tag(k, v) for k, v in spec.tags.items()]
        logs = []
        if spec.error:
            tags.append(_tag("error", True))
        if isinstance(spec.error, str):
            logs.append(
                {
                    "timestamp": us(begin),
                    "fields": [_tag("event", "error"), _tag("message", spec.error)],
                }
            )
        refs = [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent}] if parent else []
        spans.append(
            {
                "traceID": trace_id,
                "spanID": span_id,
                "flags": 1,
                "operationName": spec.operation,
                "references": refs,
                "startTime": us(begin),
                "duration": int(spec.ms * 1000),
                "tags": tags,
                "logs": logs,
                "processID": pid,
                "warnings": None,
            }
        )
        for child in spec.children:
            walk(child, begin + timedelta(milliseconds=child.at_ms), span_id)

    walk(root, start, None)
    return {
        "traceID": trace_id,
        "spans": spans,
        "processes": {
            pid: {
                "serviceName": service,
                "tags": [_tag("hostname", host), _tag("jaeger.version", "Go-2.30.0")],
            }
            for (service, host), pid in processes.items()
        },
        "warnings": None,
    }


_GO_UNITS = {"ns": 1e-3, "us": 1.0, "µs": 1.0, "μs": 1.0, "ms": 1e3, "s": 1e6, "m": 6e7, "h": 3.6e9}
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")


def go_duration_us(text: str) -> float:
    """A Go duration (``1.5s``, ``250ms``, ``1500us``) in microseconds; ``ValueError`` if not."""
    parts = _GO_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'time: invalid duration "{text}"')
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


# ----------------------------------------------------------------------------- the server


@dataclass
class JaegerRequest:
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased


@dataclass
class JaegerStandIn:
    """What the stand-in serves; change the fields between calls to change its behaviour."""

    traces: list[dict[str, Any]] = field(default_factory=list)
    own_services: tuple[str, ...] = ("jaeger-query",)
    """Listed by /api/services besides the traced ones (Jaeger traces itself)."""
    token: str | None = None
    """When set, requests without ``Authorization: Bearer <token>`` get 401."""
    fail_status: int | None = None
    """Answer every request with this status and a Jaeger-shaped error body."""
    fail_service: str | None = None
    """Answer 500 to trace searches for this service only."""
    junk: list[Any] = field(default_factory=list)
    """Appended, as they are, to every trace search's answer (malformed traces)."""
    raw_body: bytes | None = None
    """Answer every request with HTTP 200 and exactly these bytes."""
    delay_s: float = 0.0
    """Wait this long before answering (a hang, for timeouts)."""
    requests: list[JaegerRequest] = field(default_factory=list)
    url: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def add(self, root: SpanSpec, start: datetime, trace_id: str | None = None) -> dict[str, Any]:
        trace = build_trace(root, start, trace_id)
        self.traces.append(trace)
        return trace

    def searches(self, service: str | None = None) -> list[JaegerRequest]:
        return [
            r
            for r in self.requests
            if r.path == "/api/traces" and (service is None or r.query.get("service") == service)
        ]

    # ---- answers

    def services(self) -> list[str]:
        found = {_service(t, s) for t in self.traces for s in _spans(t)}
        return sorted((found - {""}) | set(self.own_services))

    def operations(self, service: str) -> list[str]:
        return sorted(
            {
                s["operationName"]
                for t in self.traces
                for s in _spans(t)
                if _service(t, s) == service and isinstance(s.get("operationName"), str)
            }
        )

    def search(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """Traces with a span of ``service`` (and ``operation``) that starts within
        ``[start, end]`` and lasts within ``[minDuration, maxDuration]``; newest first."""
        service, operation = query["service"], query.get("operation")
        start = int(query["start"]) if "start" in query else 0
        end = int(query["end"]) if "end" in query else 2**62
        low = go_duration_us(query["minDuration"]) if query.get("minDuration") else 0.0
        high = go_duration_us(query["maxDuration"]) if query.get("maxDuration") else float("inf")
        limit = int(query.get("limit") or 100)

        def matches(trace: dict[str, Any]) -> bool:
            return any(
                _service(trace, s) == service
                and (not operation or s.get("operationName") == operation)
                and start <= _int(s.get("startTime"), -1) <= end
                and low <= _int(s.get("duration"), -1) <= high
                for s in _spans(trace)
            )

        found = [t for t in self.traces if matches(t)]
        found.sort(key=lambda t: -min(_int(s.get("startTime"), 0) for s in _spans(t)))
        return found[:limit]


# Malformed traces (for the source's tests) are served as they are, never crash the stand-in.
def _spans(trace: Any) -> list[dict[str, Any]]:
    spans = trace.get("spans") if isinstance(trace, dict) else None
    return [s for s in spans if isinstance(s, dict)] if isinstance(spans, list) else [{}]


def _int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int | float) else default


def _service(trace: Any, span: dict[str, Any]) -> str:
    try:
        return str(trace["processes"][span["processID"]]["serviceName"])
    except (KeyError, TypeError):
        return ""


def _envelope(data: Any, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    total = len(data) if isinstance(data, list) else 0
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def _handler(stand_in: JaegerStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        # headers and body go out in two writes: without this, Nagle's algorithm and delayed
        # ACKs hold every answer back by 40 ms
        disable_nagle_algorithm = True

        def _send(self, status: int, payload: Any) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, _envelope(None, [{"code": status, "msg": message}]))

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            stand_in.requests.append(JaegerRequest(parts.path, query, headers))
            if stand_in.delay_s > 0 and stand_in.stopping.wait(stand_in.delay_s):
                self.close_connection = True
                return
            if stand_in.token is not None and headers.get("authorization") != (
                f"Bearer {stand_in.token}"
            ):
                self._send(401, b"Unauthorized\n")
            elif stand_in.fail_status is not None:
                self._error(stand_in.fail_status, "stand-in failure")
            elif stand_in.raw_body is not None:
                self._send(200, stand_in.raw_body)
            else:
                self._route(parts.path, query)

        def _route(self, path: str, query: dict[str, str]) -> None:
            ops = re.fullmatch(r"/api/services/([^/]+)/operations", path)
            one = re.fullmatch(r"/api/traces/([0-9a-fA-F]+)", path)
            if path == "/api/services":
                self._send(200, _envelope(stand_in.services()))
            elif ops:
                self._send(200, _envelope(stand_in.operations(unquote(ops.group(1)))))
            elif path == "/api/operations":
                names = stand_in.operations(query.get("service", ""))
                self._send(200, _envelope([{"name": n, "spanKind": "server"} for n in names]))
            elif path == "/api/traces":
                self._traces(query)
            elif one:
                found = [
                    t
                    for t in stand_in.traces
                    if isinstance(t, dict) and t.get("traceID") == one.group(1)
                ]
                if found:
                    self._send(200, _envelope(found))
                else:
                    self._error(404, "trace not found")
            else:
                self._send(404, b"404 page not found\n")

        def _traces(self, query: dict[str, str]) -> None:
            if not query.get("service"):
                self._error(400, "parameter 'service' is required")
                return
            if query["service"] == stand_in.fail_service:
                self._error(500, f"storage error reading {query['service']}")
                return
            try:
                found = stand_in.search(query)
            except ValueError as exc:
                self._error(400, str(exc))
                return
            self._send(200, _envelope(found + stand_in.junk))

    return Handler


@contextmanager
def serve(**settings: Any) -> Iterator[JaegerStandIn]:
    """Run a stand-in on an ephemeral loopback port; ``settings`` set its fields."""
    stand_in = JaegerStandIn(**settings)
    with loopback.run(stand_in, _handler(stand_in), ""):
        yield stand_in
