"""Distributed traces: a few requests per simulated minute through gateway -> checkout ->
payments / inventory, with ``db.query`` spans, timed from the latency metrics of that minute."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from knowledge.demo.incidents import Incident, IncidentDetail
from knowledge.demo.topology import SERVICE_BY_NAME, client_ip, customer_email, key
from knowledge.telemetry import Span, SpanStatus


@dataclass(frozen=True)
class Trouble:
    """An incident as one host feels it at one minute (``e`` already weighted)."""

    incident: Incident
    detail: IncidentDetail
    e: float
    on_host: bool


@dataclass
class FleetMinute:
    """The state of the fleet at one simulated minute, as logs and traces need it."""

    minute: int
    at: datetime
    traffic: float
    values: dict[str, dict[str, float]]  # host -> metric -> value
    trouble: dict[str, Trouble] = field(default_factory=dict)  # host -> incident it feels
    active: list[Trouble] = field(default_factory=list)  # incidents in progress (full strength)
    active_deploys: list[Trouble] = field(default_factory=list)  # rolling deploys this minute

    def value(self, host: str, metric: str, default: float = 0.0) -> float:
        """A metric value on a host at this minute."""
        return self.values.get(host, {}).get(metric, default)


# (service, operation, db statement or None, children)
Node = tuple[str, str, str | None, tuple["Node", ...]]

_RESERVE: Node = (
    "inventory",
    "POST /inventory/reserve",
    "UPDATE stock_levels SET reserved = reserved + $1 WHERE sku = $2",
    (),
)
_AUTHORIZE: Node = (
    "payments",
    "POST /payments/authorize",
    "INSERT INTO payment_attempts (order_id, amount, currency, status) VALUES ($1, $2, $3, $4)",
    (),
)
_ENDPOINTS: tuple[tuple[float, Node], ...] = (
    (
        0.35,
        (
            "api-gateway",
            "GET /api/checkout",
            None,
            (
                (
                    "checkout",
                    "GET /checkout",
                    "SELECT id, items, total FROM carts WHERE session_id = $1",
                    (_RESERVE, _AUTHORIZE),
                ),
            ),
        ),
    ),
    (
        0.35,
        (
            "api-gateway",
            "GET /api/products",
            None,
            (
                (
                    "inventory",
                    "GET /inventory/items",
                    "SELECT sku, name, price, available FROM stock_levels "
                    "WHERE category = $1 LIMIT 50",
                    (),
                ),
            ),
        ),
    ),
    (0.15, ("api-gateway", "POST /api/payments", None, (_AUTHORIZE,))),
    (
        0.15,
        (
            "api-gateway",
            "GET /api/cart",
            None,
            (
                (
                    "checkout",
                    "GET /cart",
                    "SELECT id, items, total FROM carts WHERE session_id = $1",
                    (),
                ),
            ),
        ),
    ),
)
_WEIGHTS = [w for w, _ in _ENDPOINTS]

POOL_MSG_JAVA = "HikariPool-1 - Connection is not available, request timed out after 30000ms."
POOL_MSG_PY = "QueuePool limit of size 20 overflow 10 reached, connection timed out, timeout 30.00"


def error_message(service: str, itype: str | None) -> tuple[str, str]:
    """(HTTP status, error message) a span of ``service`` fails with under ``itype``."""
    java = SERVICE_BY_NAME[service].kind == "java"
    if itype == "network_congestion":
        if service == "api-gateway":
            return "504", "upstream timed out (110: Connection timed out)"
        return "504", (
            "java.net.SocketTimeoutException: Read timed out"
            if java
            else "requests.exceptions.ReadTimeout: Read timed out. (read timeout=5)"
        )
    if itype == "connection_pool_exhaustion":
        return "503", (
            "java.sql.SQLTransientConnectionException: " + POOL_MSG_JAVA
            if java
            else "sqlalchemy.exc.TimeoutError: " + POOL_MSG_PY
        )
    if itype == "disk_full":
        return "500", (
            "java.io.IOException: No space left on device"
            if java
            else "OSError: [Errno 28] No space left on device"
        )
    if itype == "memory_leak":
        return "500", "java.lang.OutOfMemoryError: Java heap space"
    if itype in ("cpu_spike", "gc_pressure"):
        return "503", "request timed out in queue"
    return "500", "Internal Server Error"


class _Builder:
    def __init__(
        self, fm: FleetMinute, rng: random.Random, trace_id: str, request_id: str, seed: int
    ) -> None:
        self.fm, self.rng, self.trace_id, self.request_id = fm, rng, trace_id, request_id
        self.seed = seed
        self.spans: list[Span] = []

    def _id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def _at(self, ms: float) -> datetime:
        return self.fm.at + timedelta(milliseconds=ms)

    def build(self, node: Node, start_ms: float, parent: str | None) -> tuple[float, str | None]:
        """Append the spans of ``node`` (and its subtree); return (duration, error code)."""
        svc_name, op, stmt, children = node
        rng, fm = self.rng, self.fm
        host = rng.choice(SERVICE_BY_NAME[svc_name].hosts)
        span_id = self._id()
        index = len(self.spans)
        self.spans.append(
            Span(self.trace_id, span_id, parent, svc_name, host, op, self._at(start_ms), 0.0)
        )
        lat = fm.value(host, "latency_p95_ms", 100.0)
        trouble = fm.trouble.get(host)
        itype = trouble.incident.type if trouble and trouble.e > 0.15 else None
        own = lat * 0.5 * math.exp(rng.gauss(0.0, 0.42))
        cursor = start_ms + own * 0.06
        p_err = min(0.9, fm.value(host, "error_rate", 0.3) / 100.0 * 1.5)
        own_fail = rng.random() < p_err
        if stmt is not None:
            db_ms, db_failed = self._db(host, svc_name, stmt, cursor, span_id, lat, trouble)
            cursor += db_ms + 0.3
            own_fail = own_fail or db_failed
        child_code: str | None = None
        for child in children:
            dur, failed_code = self.build(child, cursor, span_id)
            cursor += dur + rng.uniform(0.2, 1.5)
            child_code = child_code or failed_code
        duration = max(own, cursor - start_ms + own * 0.05)
        tags = {
            "request_id": self.request_id,
            "http.method": op.split()[0],
            "http.route": op.split()[1],
            "http.status_code": "200",
            "span.kind": "server",
        }
        if svc_name == "api-gateway":
            tags["client.ip"] = client_ip(self.seed, rng.randrange(400))
        elif svc_name == "checkout" and rng.random() < 0.5:
            tags["enduser.id"] = customer_email(self.seed, rng.randrange(250))
        status: SpanStatus = "ok"
        code: str | None = None
        if own_fail or (child_code is not None and rng.random() < 0.85):
            status = "error"
            if own_fail or child_code is None:
                code, msg = error_message(svc_name, itype)
            elif child_code == "504":  # a downstream timeout surfaces as a timeout here
                code, msg = error_message(svc_name, "network_congestion")
            elif svc_name == "api-gateway":
                code, msg = "502", "upstream prematurely closed connection"
            else:
                code, msg = "502", f"downstream call failed with HTTP {child_code}"
            tags["http.status_code"] = code
            tags["error.message"] = msg
        self.spans[index] = Span(
            self.trace_id,
            span_id,
            parent,
            svc_name,
            host,
            op,
            self._at(start_ms),
            round(duration, 3),
            status,
            tags,
        )
        return duration, code

    def _db(
        self,
        host: str,
        svc: str,
        stmt: str,
        start_ms: float,
        parent: str,
        lat: float,
        trouble: Trouble | None,
    ) -> tuple[float, bool]:
        rng = self.rng
        duration = 3.0 * math.exp(rng.gauss(0.0, 0.6))
        status: SpanStatus = "ok"
        tags = {
            "db.system": "postgresql",
            "db.name": svc.replace("-", "_"),
            "db.statement": stmt,
            "request_id": self.request_id,
            "span.kind": "client",
        }
        if trouble and trouble.incident.type == "connection_pool_exhaustion":
            duration += trouble.e * lat * 0.6 * math.exp(rng.gauss(0.0, 0.3))
            if rng.random() < 0.7 * trouble.e:
                status = "error"
                tags["error.message"] = error_message(svc, "connection_pool_exhaustion")[1]
        self.spans.append(
            Span(
                self.trace_id,
                self._id(),
                parent,
                svc,
                host,
                "db.query",
                self._at(start_ms),
                round(duration, 3),
                status,
                tags,
            )
        )
        return duration, status == "error"


def minute_traces(seed: int, fm: FleetMinute) -> list[list[Span]]:
    """The traces whose root starts in minute ``fm.minute``, each a list of spans (root first)."""
    rng = random.Random(key(seed, fm.minute, "traces"))
    count = 4 + round(4 * fm.traffic * rng.uniform(0.75, 1.0))
    starts = sorted(rng.uniform(0.0, 59_999.0) for _ in range(count))
    out: list[list[Span]] = []
    for start_ms in starts:
        trace_id = f"{rng.getrandbits(128):032x}"
        request_id = f"{rng.getrandbits(32):08x}"
        node = rng.choices([n for _, n in _ENDPOINTS], _WEIGHTS)[0]
        builder = _Builder(fm, rng, trace_id, request_id, seed)
        builder.build(node, start_ms, None)
        out.append(builder.spans)
    return out
