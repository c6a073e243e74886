"""Log lines as each service writes them: nginx access/error logs on the gateway, JSON lines from
the Python checkout service, logback lines (with stack traces) from the Java services, and
syslog lines from the Spectrum Conductor (EGO / vemkd) cluster.

Lines about traced requests carry that trace's request and trace ids. Fake personal data and
secret-shaped strings are sprinkled in on purpose, so that a redaction layer has work to do.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import timedelta

from knowledge.demo.topology import HOST_IP, ServiceSpec, client_ip, customer_email, key
from knowledge.demo.traces import POOL_MSG_JAVA, POOL_MSG_PY, FleetMinute, Trouble
from knowledge.telemetry import Level, LogRecord, Span

_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PY_LEVEL = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "CRITICAL",
}
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "kube-probe/1.30",
)
_PATHS = (
    "/api/products?page=2",
    "/api/products/sku-10423",
    "/api/cart",
    "/static/app.js",
    "/api/search?q=running+shoes",
    "/api/login",
    "/healthz",
    "/api/products?category=outdoor",
)
_JAVA = {
    "payments": ("PaymentService", "authorize", "PaymentRepository", "save", "FraudClient"),
    "inventory": ("InventoryService", "reserve", "StockRepository", "reserve", "WarehouseClient"),
}
_JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


# ------------------------------------------------------------------------------ fake secrets
def _jwt(rng: random.Random, sub: str, iat: int) -> str:
    body = json.dumps({"sub": sub, "iat": iat, "scope": "checkout"}, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{_JWT_HEADER}.{payload}.{''.join(rng.choices(_B64, k=43))}"


def _card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # Luhn: double every second digit from the right
        d2 = d * 2 if i % 2 == 0 else d
        total += d2 - 9 if d2 > 9 else d2
    digits.append((10 - total % 10) % 10)
    return "".join(map(str, digits))


def _aws_key(rng: random.Random) -> str:
    return "AKIA" + "".join(rng.choices(_ALNUM, k=16))


def _slack_token(rng: random.Random) -> str:
    return f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**12, 10**13)}-" + "".join(
        rng.choices(_B64[:62], k=24)
    )


# ------------------------------------------------------------------------------ stack traces
def _leak_frame(root_cause: str) -> str:
    """The allocation site a heap dump would blame, consistent with the root cause."""
    cause = root_cause.lower()
    if "listener" in cause:
        return "metrics.ListenerRegistry.register(ListenerRegistry.java:77)"
    if "threadlocal" in cause:
        return "codec.BufferHolder.acquire(BufferHolder.java:33)"
    if "retry queue" in cause:
        return "fraud.RetryQueue.offer(RetryQueue.java:64)"
    return "session.SessionCache.put(SessionCache.java:58)"


def _java_trace(
    exc: str, svc: str, kind: str, leak: str = "session.SessionCache.put(SessionCache.java:58)"
) -> str:
    cls, op, repo, rop, client = _JAVA.get(svc, _JAVA["payments"])
    pkg = f"com.acme.{svc}"
    frames: tuple[str, ...]
    if kind == "pool":
        frames = (
            "com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
            "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
            "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:146)",
            "com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:100)",
            "org.springframework.jdbc.datasource.DataSourceUtils.fetchConnection"
            "(DataSourceUtils.java:160)",
            "org.springframework.jdbc.core.JdbcTemplate.execute(JdbcTemplate.java:653)",
            f"{pkg}.repo.{repo}.{rop}({repo}.java:88)",
        )
    elif kind == "oom":
        frames = (
            "java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
            "java.base/java.util.ArrayList.grow(ArrayList.java:237)",
            "java.base/java.util.ArrayList.add(ArrayList.java:455)",
            f"{pkg}.{leak}",
            f"{pkg}.web.SessionFilter.doFilterInternal(SessionFilter.java:41)",
            "org.springframework.web.filter.OncePerRequestFilter.doFilter"
            "(OncePerRequestFilter.java:116)",
        )
    elif kind == "disk":
        frames = (
            "java.base/java.io.FileOutputStream.writeBytes(Native Method)",
            "java.base/java.io.FileOutputStream.write(FileOutputStream.java:367)",
            "java.base/java.io.BufferedOutputStream.flush(BufferedOutputStream.java:203)",
            f"{pkg}.audit.AuditWriter.append(AuditWriter.java:73)",
        )
    elif kind == "http":
        frames = (
            "org.springframework.web.client.DefaultResponseErrorHandler.handleError"
            "(DefaultResponseErrorHandler.java:168)",
            "org.springframework.web.client.RestTemplate.handleResponse(RestTemplate.java:915)",
            f"{pkg}.client.{client}.call({client}.java:52)",
        )
    else:
        frames = (
            "java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:278)",
            "java.base/sun.nio.ch.NioSocketImpl.read(NioSocketImpl.java:346)",
            "java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)",
            "org.apache.hc.client5.http.impl.classic.InternalHttpClient.doExecute"
            "(InternalHttpClient.java:170)",
            "org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:880)",
            f"{pkg}.client.{client}.call({client}.java:52)",
        )
    frames += (
        f"{pkg}.{cls}.{op}({cls}.java:142)",
        "org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)",
        "java.base/java.lang.Thread.run(Thread.java:1583)",
    )
    return exc + "".join(f"\n\tat {f}" for f in frames)


_SITE = "/usr/local/lib/python3.11/site-packages"
_PY_TRACES = {
    "pool": (
        f'  File "/app/checkout/db.py", line 88, in session_scope\n    conn = engine.connect()'
        f'\n  File "{_SITE}/sqlalchemy/pool/impl.py", line 157, in _do_get\n'
        "    raise exc.TimeoutError(\nsqlalchemy.exc.TimeoutError: "
        + POOL_MSG_PY
        + " (Background on this error at: https://sqlalche.me/e/20/3o7r)"
    ),
    "net": (
        '  File "/app/checkout/clients/payments.py", line 41, in authorize\n'
        "    resp = self._session.post(url, json=payload, timeout=5)\n"
        f'  File "{_SITE}/requests/adapters.py", line 713, in send\n'
        "    raise ReadTimeout(e, request=request)\nrequests.exceptions.ReadTimeout: "
        "HTTPConnectionPool(host='payments.svc.cluster.local', port=8080): Read timed out. "
        "(read timeout=5)"
    ),
    "disk": (
        '  File "/app/checkout/receipts.py", line 57, in write_receipt\n'
        "    fh.write(pdf_bytes)\nOSError: [Errno 28] No space left on device"
    ),
}


class _Out:
    """Formats and collects one host's lines for one minute."""

    def __init__(
        self, svc: ServiceSpec, host: str, fm: FleetMinute, rng: random.Random, seed: int
    ) -> None:
        self.svc, self.host, self.fm, self.rng, self.seed = svc, host, fm, rng, seed
        self.records: list[LogRecord] = []
        at = fm.at
        self.java = f"{at.year:04d}-{at.month:02d}-{at.day:02d} {at.hour:02d}:{at.minute:02d}"
        self.iso = self.java.replace(" ", "T")
        self.nginx = f"{at.day:02d}/{_MON[at.month - 1]}/{at.year}:{at.hour:02d}:{at.minute:02d}"
        self.ngerr = self.java.replace("-", "/")
        self.syslog = f"{_MON[at.month - 1]} {at.day:2d} {at.hour:02d}:{at.minute:02d}"
        self.pid = 1000 + key(seed, host, "pid") % 30000

    def ms(self) -> int:
        return self.rng.randrange(60_000)

    def add(
        self, ms: int, level: Level, text: str, req: str | None = None, trace: str | None = None
    ) -> None:
        ms = _clamp_ms(ms)
        ts = self.fm.at + timedelta(milliseconds=ms)
        self.records.append(LogRecord(ts, self.svc.name, self.host, level, text, req, trace))

    def logback(
        self,
        ms: int,
        level: Level,
        logger: str,
        msg: str,
        req: str | None = None,
        trace: str | None = None,
    ) -> None:
        s, m = _sec_ms(ms)
        text = (
            f"{self.java}:{s:02d}.{m:03d} {level:<5} [{self.svc.name},req={req or '-'}] "
            f"{logger} - {msg}"
        )
        self.add(ms, level, text, req, trace)

    def json(
        self,
        ms: int,
        level: Level,
        logger: str,
        msg: str,
        req: str | None = None,
        trace: str | None = None,
        **extra: object,
    ) -> None:
        s, m = _sec_ms(ms)
        doc: dict[str, object] = {
            "ts": f"{self.iso}:{s:02d}.{m:03d}Z",
            "level": _PY_LEVEL[level],
            "logger": logger,
            "msg": msg,
            "request_id": req,
        }
        if trace:
            doc["trace_id"] = trace
        doc.update(extra)
        self.add(ms, level, json.dumps(doc, separators=(",", ":")), req, trace)

    def access(
        self,
        ms: int,
        ip: str,
        method: str,
        path: str,
        status: int,
        rt: float,
        req: str,
        trace: str | None = None,
    ) -> None:
        s = _sec_ms(ms)[0]
        size = 0 if status == 304 else self.rng.randrange(180, 24_000)
        agent = self.rng.choice(_AGENTS[:-1])
        if path == "/healthz":
            agent, size = _AGENTS[-1], 2
        text = (
            f'{ip} - - [{self.nginx}:{s:02d} +0000] "{method} {path} HTTP/1.1" {status} '
            f'{size} "-" "{agent}" rt={rt:.3f} urt="{max(rt - 0.001, 0.0):.3f}" req_id={req}'
        )
        if trace:
            text += f" trace_id={trace}"
        level: Level = "ERROR" if status >= 500 else "WARN" if status >= 400 else "INFO"
        self.add(ms, level, text, req, trace)

    def ngerror(self, ms: int, sev: str, msg: str) -> None:
        s = _sec_ms(ms)[0]
        level: Level = "ERROR" if sev in ("error", "crit", "alert") else "WARN"
        conn = self.rng.randrange(10_000, 999_999)
        self.add(ms, level, f"{self.ngerr}:{s:02d} [{sev}] 24#24: *{conn} {msg}")

    def sys(self, ms: int, level: Level, proc: str, msg: str) -> None:
        s = _sec_ms(ms)[0]
        pid = self.pid + ("vemkd", "egosc", "lim", "pem").index(proc) * 7
        self.add(ms, level, f"{self.syslog}:{s:02d} {self.host} {proc}[{pid}]: {msg}")


def _clamp_ms(ms: int) -> int:
    """A millisecond offset kept inside its minute."""
    return min(max(ms, 0), 59_999)


def _sec_ms(ms: int) -> tuple[int, int]:
    """``(seconds, milliseconds)`` of an offset inside its minute."""
    return divmod(_clamp_ms(ms), 1000)


def host_minute_logs(
    seed: int, svc: ServiceSpec, host: str, fm: FleetMinute, spans: list[Span]
) -> list[LogRecord]:
    """The lines ``host`` writes during minute ``fm.minute`` (unsorted). ``spans`` are this
    host's service spans from traces rooted in that minute."""
    rng = random.Random(key(seed, fm.minute, host, "logs"))
    out = _Out(svc, host, fm, rng, seed)
    writer = {
        "web": _gateway if svc.name == "api-gateway" else _checkout,
        "java": _java,
        "batch": _batch,
    }[svc.kind]
    writer(out, spans)
    return out.records


def _req(rng: random.Random) -> str:
    return f"{rng.getrandbits(32):08x}"


def _span_ms(out: _Out, span: Span) -> int:
    return int((span.start - out.fm.at).total_seconds() * 1000 + span.duration_ms)


def _deploying(out: _Out) -> str | None:
    for t in out.fm.active_deploys:
        if t.incident.service == out.svc.name and t.detail.release:
            return t.detail.release
    return None


def _count(out: _Out, rate: float) -> int:
    """How many incident lines to write: ~``rate`` at full strength, weighted by ``e``."""
    t = out.fm.trouble.get(out.host)
    if t is None:
        return 0
    x = t.e * rate
    return int(x) + (1 if out.rng.random() < x - int(x) else 0)


def _trouble(out: _Out) -> Trouble | None:
    return out.fm.trouble.get(out.host)


# ---------------------------------------------------------------------------------- gateway
_UPSTREAM = {
    "checkout": ("GET /api/checkout", "/checkout"),
    "payments": ("POST /api/payments", "/payments/authorize"),
    "inventory": ("GET /api/products", "/inventory/items"),
}


def _gateway(out: _Out, spans: list[Span]) -> None:
    rng, fm, seed = out.rng, out.fm, out.seed
    for sp in spans:
        method, path = sp.operation.split(" ", 1)
        ip = sp.tags.get("client.ip", client_ip(seed, rng.randrange(400)))
        code = int(sp.tags.get("http.status_code", "200"))
        out.access(
            _span_ms(out, sp),
            ip,
            method,
            path,
            code,
            sp.duration_ms / 1000.0,
            sp.tags.get("request_id", _req(rng)),
            sp.trace_id,
        )
    for _ in range(rng.randint(2, 3 + round(6 * fm.traffic))):
        path = rng.choice(_PATHS)
        if rng.random() < 0.03:
            path = f"/api/partner/orders?api_key={rng.getrandbits(128):032x}"
        elif rng.random() < 0.04:
            email = customer_email(seed, rng.randrange(250)).replace("@", "%40")
            path = f"/api/newsletter/subscribe?email={email}"
        status = rng.choices((200, 304, 404, 401), (90, 5, 4, 1))[0] if path != "/healthz" else 200
        method = "POST" if path.startswith("/api/login") else "GET"
        ip = (
            f"10.0.0.{rng.randrange(2, 6)}"
            if path == "/healthz"
            else client_ip(seed, rng.randrange(400))
        )
        out.access(
            out.ms(),
            ip,
            method,
            path,
            status,
            fm.value(out.host, "latency_p95_ms", 100.0) / 2000.0 * rng.uniform(0.3, 1.6),
            _req(rng),
        )
    if rng.random() < 0.02:
        out.ngerror(
            out.ms(),
            "warn",
            "an upstream response is buffered to a temporary file "
            "/var/cache/nginx/proxy_temp/4/12/0000001124 while reading upstream",
        )
    if _deploying(out):
        out.ngerror(out.ms(), "notice", "signal process started (reload after config deploy)")
    for a in fm.active:  # downstream congestion shows up as upstream timeouts at the edge
        if a.incident.type != "network_congestion" or a.e < 0.2:
            continue
        for _ in range(int(a.e * 3 + rng.random())):
            ip = client_ip(seed, rng.randrange(400))
            request, route = _UPSTREAM.get(a.incident.service, ("GET /api/cart", "/cart"))
            out.ngerror(
                out.ms(),
                "error",
                "upstream timed out (110: Connection timed out) while "
                f"reading response header from upstream, client: {ip}, server: "
                f'api.example.com, request: "{request} HTTP/1.1", upstream: '
                f'"http://{HOST_IP[a.incident.host]}:8080{route}", host: '
                '"api.example.com"',
            )
    t = _trouble(out)
    if t is None:
        return
    kind = t.incident.type
    for _ in range(_count(out, 4)):
        ms = out.ms()
        if kind == "cpu_spike":
            out.ngerror(ms, "alert", "1024 worker_connections are not enough")
        elif kind == "disk_full" and t.e > 0.8:
            spool = rng.randrange(10000, 99999)
            out.ngerror(
                ms,
                "crit",
                f'pwrite() "/var/cache/nginx/client_temp/00000{spool}" '
                "failed (28: No space left on device)",
            )


# --------------------------------------------------------------------------------- checkout
def _checkout(out: _Out, spans: list[Span]) -> None:
    rng, fm, seed = out.rng, out.fm, out.seed
    for sp in spans:
        req = sp.tags.get("request_id")
        ms = _span_ms(out, sp)
        code = sp.tags.get("http.status_code", "200")
        out.json(
            ms,
            "INFO",
            "checkout.http",
            f"{sp.operation} {code}",
            req,
            sp.trace_id,
            duration_ms=round(sp.duration_ms, 1),
        )
        if sp.status == "error":
            err = sp.tags.get("error.message", "")
            kind = (
                "pool"
                if "QueuePool" in err
                else "net"
                if "timed out" in err
                else "disk"
                if "space" in err
                else None
            )
            trace = _PY_TRACES.get(kind or "", "") if kind else None
            out.json(
                ms - 1,
                "ERROR",
                "checkout.orders",
                "checkout request failed",
                req,
                sp.trace_id,
                exc_info=("Traceback (most recent call last):\n" + trace) if trace else err,
            )
    for _ in range(rng.randint(2, 3 + round(5 * fm.traffic))):
        req, email = _req(rng), customer_email(seed, rng.randrange(250))
        r = rng.random()
        if r < 0.35:
            out.json(
                out.ms(),
                "INFO",
                "checkout.orders",
                "order created",
                req,
                order_id=f"ord-{rng.randrange(10**7):07d}",
                customer_email=email,
                amount=round(rng.uniform(5, 400), 2),
                currency="EUR",
            )
        elif r < 0.6:
            out.json(
                out.ms(),
                "INFO",
                "checkout.cart",
                "cart updated",
                req,
                cart_id=f"cart-{rng.getrandbits(40):010x}",
                items=rng.randint(1, 7),
            )
        elif r < 0.75:
            out.json(
                out.ms(),
                "DEBUG",
                "checkout.cache",
                "cart cache stats",
                None,
                hit_ratio=round(rng.uniform(0.82, 0.97), 3),
            )
        elif r < 0.9:
            out.json(out.ms(), "INFO", "checkout.email", "order confirmation queued", req, to=email)
        else:
            out.json(
                out.ms(),
                "WARN",
                "checkout.clients.payments",
                "payments call slow, retrying",
                req,
                attempt=2,
                elapsed_ms=rng.randrange(800, 2500),
            )
    if rng.random() < 0.03:
        token = _jwt(rng, customer_email(seed, rng.randrange(250)), fm.minute * 60)
        out.json(
            out.ms(),
            "DEBUG",
            "checkout.clients.payments",
            "outgoing request",
            _req(rng),
            url="http://payments.svc.cluster.local:8080/payments/authorize",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    release = _deploying(out)
    if release:
        out.json(
            out.ms(),
            "INFO",
            "checkout.app",
            f"checkout {release} started",
            None,
            version=release,
            workers=16,
        )
    t = _trouble(out)
    if t is None:
        return
    kind = t.incident.type
    for _ in range(_count(out, 5)):
        req, ms = _req(rng), out.ms()
        if kind == "connection_pool_exhaustion":
            out.json(
                ms,
                "ERROR",
                "checkout.db",
                "database error",
                req,
                exc_info=("Traceback (most recent call last):\n" + _PY_TRACES["pool"]),
            )
        elif kind == "network_congestion":
            out.json(
                ms,
                "ERROR",
                "checkout.clients.payments",
                "payments call failed",
                req,
                exc_info="Traceback (most recent call last):\n" + _PY_TRACES["net"],
            )
        elif kind == "disk_full" and t.e > 0.8:
            out.json(
                ms,
                "ERROR",
                "checkout.receipts",
                "failed to write receipt",
                req,
                exc_info=("Traceback (most recent call last):\n" + _PY_TRACES["disk"]),
            )
        elif kind == "cpu_spike":
            busy = rng.randrange(20, 60)
            msg = (
                f"worker pool saturated: 16/16 workers busy, {busy} requests queued"
                if rng.random() < 0.5
                else f"slow request GET /checkout took {rng.uniform(1.2, 4.0):.2f}s"
            )
            out.json(ms, "WARN", "gunicorn.error", msg, req)


# ------------------------------------------------------------------------------------- java
def _java(out: _Out, spans: list[Span]) -> None:
    rng, fm, seed, name = out.rng, out.fm, out.seed, out.svc.name
    cls = _JAVA[name][0]
    svc_logger = f"c.a.{name}.{cls}"
    for sp in spans:
        req, ms = sp.tags.get("request_id"), _span_ms(out, sp)
        code = sp.tags.get("http.status_code", "200")
        out.logback(
            ms,
            "INFO",
            f"c.a.{name}.web.RequestLog",
            f"{sp.operation} -> {code} in {sp.duration_ms:.0f} ms",
            req,
            sp.trace_id,
        )
        if sp.status == "error":
            err = sp.tags.get("error.message", "Internal Server Error")
            kind = (
                "pool"
                if "Hikari" in err
                else "oom"
                if "OutOfMemory" in err
                else "disk"
                if "space" in err
                else "net"
                if "Read timed out" in err
                else "http"
            )
            if kind == "http":
                err = "org.springframework.web.server.ResponseStatusException: " + err
            trouble = _trouble(out)
            leak = _leak_frame(trouble.incident.root_cause if trouble else "")
            out.logback(
                ms - 1,
                "ERROR",
                svc_logger,
                f"Request {sp.operation} failed\n" + _java_trace(err, name, kind, leak),
                req,
                sp.trace_id,
            )
    heap = fm.value(out.host, "java_heap_usage", 50.0)
    for _ in range(rng.randint(2, 3 + round(5 * fm.traffic))):
        req, r = _req(rng), rng.random()
        if r < 0.4 and name == "payments":
            pay = rng.getrandbits(48)
            out.logback(
                out.ms(),
                "INFO",
                svc_logger,
                f"Authorised payment pay_{pay:012x} "
                f"amount={rng.uniform(5, 400):.2f} EUR customer="
                f"{customer_email(seed, rng.randrange(250))}",
                req,
            )
        elif r < 0.4:
            out.logback(
                out.ms(),
                "INFO",
                svc_logger,
                f"Reserved {rng.randint(1, 4)} x SKU-"
                f"{rng.randrange(10000, 99999)} for order ord-{rng.randrange(10**7):07d}",
                req,
            )
        elif r < 0.6:
            pool = fm.value(out.host, "db_pool_usage", 30.0)
            active = min(20, round(pool / 5))
            waiting = rng.randrange(20, 120) if pool > 99.0 else 0
            out.logback(
                out.ms(),
                "DEBUG",
                "c.z.h.pool.HikariPool",
                f"HikariPool-1 - Pool stats "
                f"(total=20, active={active}, idle={20 - active}, waiting={waiting})",
            )
        elif r < 0.8:
            out.logback(
                out.ms(),
                "INFO",
                "c.a.common.GcMonitor",
                f"GC (G1 Evacuation Pause) pause {rng.randrange(4, 25)} ms, heap {heap:.0f}% after",
            )
        else:
            out.logback(
                out.ms(),
                "WARN",
                f"c.a.{name}.client.{_JAVA[name][4]}",
                f"Retrying call after {rng.randrange(200, 900)} ms (attempt 2 of 3)",
                req,
            )
    if rng.random() < 0.015 and name == "payments":
        out.logback(
            out.ms(),
            "WARN",
            f"c.a.{name}.web.PayloadValidator",
            "Rejected malformed "
            f"payload {{pan={_card(rng)}, exp={rng.randint(1, 12):02d}/"
            f"{rng.randint(27, 31)}, holder={customer_email(seed, rng.randrange(250))}}}",
            _req(rng),
        )
    if rng.random() < 0.012 and name == "inventory":
        out.logback(
            out.ms(),
            "DEBUG",
            "c.a.common.notify.SlackNotifier",
            f"Posting stock alert with token={_slack_token(rng)} to #inventory-alerts",
        )
    release = _deploying(out)
    if release:
        out.logback(
            out.ms(),
            "INFO",
            f"c.a.{name}.{cls.replace('Service', 'Application')}",
            f"Started {cls.replace('Service', 'Application')} v{release} in "
            f"{rng.uniform(9, 18):.1f} seconds",
        )
    _java_incident(out, svc_logger, heap)


def _java_incident(out: _Out, svc_logger: str, heap: float) -> None:
    t = _trouble(out)
    if t is None:
        return
    rng, name, kind = out.rng, out.svc.name, t.incident.type
    gc = out.fm.value(out.host, "java_gc_time", 3.0)
    n = _count(out, 5)
    for i in range(n):
        req, ms = _req(rng), out.ms()
        if kind == "connection_pool_exhaustion":
            if i == 0:
                out.logback(
                    ms,
                    "WARN",
                    "c.z.h.pool.HikariPool",
                    "HikariPool-1 - Pool stats "
                    f"(total=20, active=20, idle=0, waiting={rng.randrange(30, 120)})",
                )
            exc = "java.sql.SQLTransientConnectionException: " + POOL_MSG_JAVA
            out.logback(
                ms,
                "ERROR",
                f"c.a.{name}.repo.{_JAVA[name][2]}",
                "Could not open JDBC Connection for transaction\n" + _java_trace(exc, name, "pool"),
                req,
            )
        elif kind == "memory_leak":
            out.logback(
                ms,
                "WARN",
                "c.a.common.GcMonitor",
                f"GC overhead {gc:.0f}% over the "
                f"last 60 s; old gen {heap:.0f}% occupied after Full GC",
            )
        elif kind == "gc_pressure":
            pause = rng.randrange(900, 4200)
            msg = (
                f"Full GC (Allocation Failure) {rng.randrange(3700, 3950)}M->"
                f"{rng.randrange(3400, 3700)}M(4096M), {pause / 1000:.3f} secs"
                if i % 2 == 0
                else f"Long GC pause: {pause} ms (threshold 500 ms)"
            )
            out.logback(ms, "WARN", "c.a.common.GcMonitor", msg)
        elif kind == "network_congestion":
            out.logback(
                ms,
                "ERROR",
                f"c.a.{name}.client.{_JAVA[name][4]}",
                "Downstream call "
                "failed\n"
                + _java_trace("java.net.SocketTimeoutException: Read timed out", name, "net"),
                req,
            )
        elif kind == "disk_full":
            if t.e > 0.8:
                out.logback(
                    ms,
                    "ERROR",
                    f"c.a.{name}.audit.AuditWriter",
                    "Failed to write audit "
                    "record\n"
                    + _java_trace("java.io.IOException: No space left on device", name, "disk"),
                    req,
                )
            else:
                out.logback(
                    ms,
                    "WARN",
                    "o.s.b.a.system.DiskSpaceHealthIndicator",
                    "Free disk "
                    f"space below threshold. Available: {rng.randrange(10**8, 10**9)} "
                    "bytes (threshold: 10485760B)",
                )
        elif kind == "cpu_spike":
            msg = (
                f"Thread pool 'http-nio-8080-exec' saturated: 200/200 threads busy, "
                f"{rng.randrange(40, 300)} tasks queued"
                if i % 2 == 0
                else f"Slow request POST /{name}/{_JAVA[name][1]} took "
                f"{rng.randrange(900, 4000)} ms"
            )
            out.logback(
                ms,
                "WARN",
                "o.a.t.util.threads.ThreadPoolExecutor"
                if i % 2 == 0
                else f"c.a.{name}.web.SlowRequestFilter",
                msg,
                req,
            )
    if kind == "memory_leak" and t.on_host and t.e > 0.9:
        exc = "java.lang.OutOfMemoryError: Java heap space"
        out.logback(
            out.ms(),
            "ERROR",
            svc_logger,
            "Unhandled exception in request processing\n"
            + _java_trace(exc, name, "oom", _leak_frame(t.incident.root_cause)),
            _req(rng),
        )


# ------------------------------------------------------------------------------------ batch
_CONSUMERS = (
    "/SparkApps/nightly-etl",
    "/SparkApps/fraud-features",
    "/ClusterServices/reports",
    "/SparkApps/recommendations",
)


def _batch(out: _Out, spans: list[Span]) -> None:
    rng, fm, host = out.rng, out.fm, out.host
    jobs = fm.value(host, "spectrum_active_jobs", 40.0)
    for _ in range(rng.randint(3, 4 + round(jobs / 15))):
        r, job = rng.random(), rng.randrange(10000, 99999)
        consumer = rng.choice(_CONSUMERS)
        if r < 0.3:
            out.sys(
                out.ms(),
                "INFO",
                "vemkd",
                f"Job {job} submitted by user etl_svc to consumer {consumer}",
            )
        elif r < 0.55:
            out.sys(
                out.ms(),
                "INFO",
                "vemkd",
                f"Allocated {rng.choice((2, 4, 8))} slots on host "
                f"{host} to consumer {consumer} (resource group ComputeHosts)",
            )
        elif r < 0.75:
            out.sys(
                out.ms(),
                "INFO",
                "pem",
                f"Activity {rng.randrange(1000, 9999)} of job {job} finished with exit code 0",
            )
        elif r < 0.9:
            used = min(96, round(jobs * 0.9))
            out.sys(
                out.ms(), "INFO", "vemkd", f"Resource group ComputeHosts: {used} of 96 slots in use"
            )
        else:
            out.sys(
                out.ms(),
                "INFO",
                "lim",
                f"Host {host} status ok, load index r1m={fm.value(host, 'load_average', 4.0):.1f}",
            )
    if rng.random() < 0.01:
        out.sys(
            out.ms(),
            "WARN",
            "pem",
            "Activity staging failed: aws s3 cp "
            f"s3://acme-etl-staging/input/ failed with AccessDenied for key {_aws_key(rng)}",
        )
    t = _trouble(out)
    if t is None:
        return
    kind = t.incident.type
    for i in range(_count(out, 4)):
        ms = out.ms()
        if kind == "cpu_spike":
            if i % 2 == 0:
                out.sys(
                    ms,
                    "WARN",
                    "lim",
                    f"Host {host} load index r15s="
                    f"{rng.uniform(24, 40):.1f} exceeds loadSched threshold 16.0; host "
                    "closed for new allocations",
                )
            else:
                out.sys(
                    ms,
                    "WARN",
                    "vemkd",
                    f"Job {rng.randrange(10000, 99999)} pending: no "
                    "free slots in resource group ComputeHosts (requested 8, available 0)",
                )
        elif kind == "disk_full" and t.e > 0.8:
            out.sys(
                ms,
                "ERROR",
                "vemkd",
                "Failed to write event record to /opt/ibm/"
                "spectrumcomputing/kernel/work/events/ego.stream: No space left on device",
            )
        elif kind == "disk_full":
            out.sys(ms, "WARN", "pem", f"Free space on /scratch below 5% on {host}")
