"""The demo fleet: services, hosts, metric specs, and the normal (incident-free) behaviour.

Everything here is a pure function of ``(seed, absolute minute)``. Noise comes from a
counter-based hash (splitmix64) evaluated with numpy over whole arrays of minutes, so a value
never depends on which other minutes were asked for, or in what order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_U64_GOLDEN = np.uint64(_GOLDEN)
_U64_M1 = np.uint64(0xBF58476D1CE4E5B9)
_U64_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name, unit, physical bounds and what a normal value looks like."""

    name: str
    unit: str
    lo: float
    hi: float
    normal: tuple[float, float]
    help: str


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the fleet: its hosts, its kind (``web``, ``java`` or ``batch``), whether
    it owns a database connection pool, and the metrics its hosts export."""

    name: str
    hosts: tuple[str, ...]
    kind: str
    has_db: bool
    metrics: tuple[str, ...]


_INF = float("inf")
METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec("cpu_usage", "%", 0.0, 100.0, (10.0, 60.0), "CPU busy, all cores"),
        MetricSpec("memory_usage", "%", 0.0, 100.0, (40.0, 75.0), "resident memory"),
        MetricSpec("disk_usage", "%", 0.0, 100.0, (30.0, 75.0), "root volume used"),
        MetricSpec("load_average", "", 0.0, _INF, (0.5, 6.0), "1-minute load average"),
        MetricSpec("java_heap_usage", "%", 0.0, 100.0, (25.0, 75.0), "JVM heap used"),
        MetricSpec("java_gc_time", "%", 0.0, 100.0, (1.5, 5.5), "share of wall time in GC"),
        MetricSpec("spectrum_active_jobs", "jobs", 0.0, _INF, (15.0, 95.0), "running jobs"),
        MetricSpec("vemkd_process_count", "processes", 0.0, _INF, (148.0, 162.0), "EGO procs"),
        MetricSpec("request_rate", "req/s", 0.0, _INF, (5.0, 220.0), "requests served"),
        MetricSpec("latency_p95_ms", "ms", 0.0, _INF, (50.0, 160.0), "95th pct latency"),
        MetricSpec("error_rate", "%", 0.0, 100.0, (0.05, 0.6), "share of 5xx responses"),
        MetricSpec("db_pool_usage", "%", 0.0, 100.0, (10.0, 60.0), "DB pool in use"),
    )
}

_BASE = ("cpu_usage", "memory_usage", "disk_usage", "load_average")
_JAVA = ("java_heap_usage", "java_gc_time")
_BATCH = ("spectrum_active_jobs", "vemkd_process_count")
_REQ = ("request_rate", "latency_p95_ms", "error_rate")


def _service(name: str, hosts: tuple[str, ...], kind: str, has_db: bool) -> ServiceSpec:
    metrics: tuple[str, ...] = _BASE
    if kind == "java":
        metrics += _JAVA
    if kind == "batch":
        metrics += _BATCH
    else:
        metrics += _REQ
    if has_db:
        metrics += ("db_pool_usage",)
    return ServiceSpec(name, hosts, kind, has_db, metrics)


SERVICES: tuple[ServiceSpec, ...] = (
    _service("api-gateway", ("gw-1", "gw-2"), "web", False),
    _service("checkout", ("checkout-1", "checkout-2", "checkout-3"), "web", True),
    _service("payments", ("payments-1", "payments-2"), "java", True),
    _service("inventory", ("inventory-1", "inventory-2"), "java", True),
    _service("batch", ("conductor-1", "conductor-2", "conductor-3"), "batch", False),
)
SERVICE_BY_NAME: dict[str, ServiceSpec] = {s.name: s for s in SERVICES}
HOSTS: tuple[tuple[str, str], ...] = tuple((s.name, h) for s in SERVICES for h in s.hosts)
HOST_INDEX: dict[str, int] = {h: i for i, (_, h) in enumerate(HOSTS)}
HOST_IP: dict[str, str] = {
    h: f"10.0.{1 + si}.{11 + hi}" for si, s in enumerate(SERVICES) for hi, h in enumerate(s.hosts)
}
METRIC_INDEX: dict[str, int] = {m: i for i, m in enumerate(METRICS)}
CORES = {"web": 8, "java": 8, "batch": 16}

# Per-service shape of normal traffic-driven behaviour.
_RPS = {"api-gateway": 160.0, "checkout": 42.0, "payments": 21.0, "inventory": 55.0}
_CPU0 = {"api-gateway": 12.0, "checkout": 18.0, "payments": 22.0, "inventory": 15.0}
_LAT0 = {"api-gateway": 118.0, "checkout": 104.0, "payments": 78.0, "inventory": 72.0}
_MEM0 = {"web": 46.0, "java": 64.0, "batch": 50.0}


# ---------------------------------------------------------------------------- hashing / noise
def key(*parts: int | str) -> int:
    """A 64-bit key from ints and strings (stable across processes, unlike ``hash``)."""
    h = 0x243F6A8885A308D3
    for p in parts:
        v = zlib.crc32(p.encode()) if isinstance(p, str) else p & _MASK
        h = _splitmix((h ^ v) + _GOLDEN)
    return h


def _splitmix(x: int) -> int:
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _hash(k: int, counter: IntArray) -> NDArray[np.uint64]:
    x = counter.astype(np.uint64) * _U64_GOLDEN + np.uint64(k)
    x = (x ^ (x >> _S30)) * _U64_M1
    x = (x ^ (x >> _S27)) * _U64_M2
    return x ^ (x >> _S31)


def uniform(k: int, counter: IntArray) -> FloatArray:
    """Uniform (0, 1] values, one per counter, from key ``k``."""
    return ((_hash(k, counter) >> _S11).astype(np.float64) + 1.0) * (2.0**-53)


def normal(k: int, counter: IntArray) -> FloatArray:
    """Standard normal values (Box-Muller), one per counter, from key ``k``."""
    u1 = uniform(k, counter)
    u2 = uniform(k ^ 0x5DEECE66D, counter)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def smooth(k: int, minutes: IntArray, period: int) -> FloatArray:
    """Smooth noise of unit-ish scale: normal values at knots every ``period`` minutes,
    smoothstep-interpolated in between."""
    knot = minutes // period
    f = (minutes - knot * period) / period
    n0 = normal(k, knot)
    n1 = normal(k, knot + 1)
    s = f * f * (3.0 - 2.0 * f)
    return n0 + (n1 - n0) * s


def host_param(seed: int, host: str, name: str, lo: float, hi: float) -> float:
    """A fixed per-host parameter in [lo, hi), drawn from the seed."""
    return lo + (hi - lo) * (key(seed, host, name) >> 11) * (2.0**-53)


# --------------------------------------------------------------------------- normal behaviour
def traffic(minutes: IntArray) -> FloatArray:
    """Relative traffic in (0, 1]: daily cycle peaking 13:00 UTC, weekends at 75%."""
    tod = (minutes % 1440) / 60.0
    daily = 0.5 + 0.5 * np.cos(2.0 * np.pi * (tod - 13.0) / 24.0)
    dow = (minutes // 1440 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekend = np.where(dow >= 5, 0.75, 1.0)
    return np.asarray((0.3 + 0.7 * daily) * weekend, dtype=np.float64)


def batch_load(minutes: IntArray) -> FloatArray:
    """Relative batch workload in [0, 1]: ETL window peaking 02:00 UTC."""
    tod = (minutes % 1440) / 60.0
    return np.asarray(0.5 + 0.5 * np.cos(2.0 * np.pi * (tod - 2.0) / 24.0), dtype=np.float64)


def baseline(seed: int, svc: ServiceSpec, host: str, metric: str, minutes: IntArray) -> FloatArray:
    """The incident-free value of ``metric`` on ``host`` at each absolute minute.

    ``load_average`` is not computed here: it follows the final CPU (see ``load_from_cpu``).
    """
    k = key(seed, host, metric)
    t = traffic(minutes)
    sn = smooth(k, minutes, 15)
    wn = normal(k ^ 0xA5A5, minutes)
    share = host_param(seed, host, "share", 0.9, 1.1)
    name = svc.name
    if metric == "cpu_usage":
        if svc.kind == "batch":
            jobs = baseline(seed, svc, host, "spectrum_active_jobs", minutes)
            return 14.0 + 0.5 * jobs + 2.0 * sn + 1.0 * wn
        cpu0 = _CPU0[name] + host_param(seed, host, "cpu0", -3.0, 3.0)
        return cpu0 + 28.0 * t * share + 3.0 * sn + 1.5 * wn
    if metric == "memory_usage":
        mem0 = _MEM0[svc.kind] + host_param(seed, host, "mem0", -5.0, 5.0)
        return mem0 + 4.0 * t + 1.5 * sn + 0.4 * wn
    if metric == "disk_usage":
        # Logs and artefacts grow through the week; a weekly cleanup cuts them back.
        disk0 = host_param(seed, host, "disk0", 32.0, 60.0)
        offset = int(host_param(seed, host, "rot", 0.0, 10080.0))
        week = ((minutes + offset) % 10080) / 10080.0
        return disk0 + 9.0 * week + 0.05 * wn
    if metric == "java_heap_usage":
        period = host_param(seed, host, "gc_period", 6.0, 11.0)
        phase = host_param(seed, host, "gc_phase", 0.0, 1.0)
        saw: FloatArray = np.mod(minutes / period + phase, 1.0)
        return 30.0 + 34.0 * saw * (0.8 + 0.3 * t) + 1.5 * wn
    if metric == "java_gc_time":
        return 2.0 + 2.2 * t + 0.5 * sn + 0.25 * wn
    if metric == "spectrum_active_jobs":
        jobs = 22.0 + 58.0 * batch_load(minutes) * share + 5.0 * sn + 2.0 * wn
        return np.asarray(np.round(np.maximum(jobs, 0.0)), dtype=np.float64)
    if metric == "vemkd_process_count":
        jobs_k = key(seed, host, "spectrum_active_jobs")
        jobs_sn = smooth(jobs_k, minutes, 15)
        count = 151.0 + 7.0 * batch_load(minutes) + 0.8 * jobs_sn + 0.5 * wn
        return np.asarray(np.round(count), dtype=np.float64)
    if metric == "request_rate":
        return _RPS[name] * share * t * (1.0 + 0.05 * sn) + 0.03 * _RPS[name] * wn
    if metric == "latency_p95_ms":
        lat0 = _LAT0[name] * host_param(seed, host, "lat0", 0.93, 1.07)
        return lat0 * (0.78 + 0.32 * t) * (1.0 + 0.06 * sn) + 0.04 * lat0 * wn
    if metric == "error_rate":
        return 0.12 + 0.22 * t + 0.05 * sn + 0.04 * np.abs(wn)
    if metric == "db_pool_usage":
        return 14.0 + 32.0 * t * share + 4.0 * sn + 2.0 * wn
    raise KeyError(metric)


def load_from_cpu(
    seed: int, svc: ServiceSpec, host: str, cpu: FloatArray, minutes: IntArray
) -> FloatArray:
    """The 1-minute load average that a CPU utilisation implies (run queue grows past 85%)."""
    cores = CORES[svc.kind]
    queue = 1.0 + 0.6 * np.clip((cpu - 85.0) / 15.0, 0.0, 1.0)
    noise = 0.25 * smooth(key(seed, host, "load"), minutes, 5)
    return np.maximum(cores * cpu / 100.0 * 1.05 * queue + noise, 0.05)


def clip(metric: str, values: FloatArray) -> FloatArray:
    """Clamp values to the metric's physical bounds."""
    spec = METRICS[metric]
    return np.asarray(np.clip(values, spec.lo, spec.hi), dtype=np.float64)


# ---------------------------------------------------------------------------- people & clients
_FIRST = (
    "jane",
    "john",
    "maria",
    "wei",
    "aisha",
    "lukas",
    "sofia",
    "omar",
    "emma",
    "raj",
    "yuki",
    "carlos",
    "olga",
    "noah",
    "fatima",
    "liam",
    "chloe",
    "mateo",
    "ines",
    "arjun",
)
_LAST = (
    "doe",
    "smith",
    "garcia",
    "chen",
    "khan",
    "muller",
    "rossi",
    "haddad",
    "johnson",
    "patel",
    "tanaka",
    "lopez",
    "ivanova",
    "brown",
    "silva",
    "nguyen",
    "martin",
    "kowalski",
)
_PUBLIC_FIRST_OCTETS = (
    23,
    31,
    37,
    45,
    51,
    62,
    66,
    73,
    81,
    89,
    94,
    104,
    109,
    121,
    138,
    151,
    176,
    185,
    188,
    195,
    203,
    212,
    217,
)


def customer_email(seed: int, n: int) -> str:
    """The ``n``-th fake customer's e-mail address (reserved example domains only)."""
    k = key(seed, "customer", n)
    first, last = _FIRST[k % len(_FIRST)], _LAST[(k >> 8) % len(_LAST)]
    domain = "example.com" if (k >> 16) % 3 else "example.org"
    return f"{first}.{last}{(k >> 20) % 97}@{domain}"


def client_ip(seed: int, n: int) -> str:
    """The ``n``-th client's IPv4 address: documentation ranges or public-looking addresses."""
    k = key(seed, "client", n)
    if k % 4 == 0:
        prefix = ("192.0.2", "198.51.100", "203.0.113")[(k >> 4) % 3]
        return f"{prefix}.{1 + (k >> 8) % 254}"
    a = _PUBLIC_FIRST_OCTETS[(k >> 4) % len(_PUBLIC_FIRST_OCTETS)]
    return f"{a}.{(k >> 12) % 256}.{(k >> 20) % 256}.{1 + (k >> 28) % 254}"
