"""Scripted incidents: the schedule, each type's root causes, and how each type moves metrics.

An incident ramps in and out (a smoothstep envelope, never a step); its host takes the full
effect and the service's other hosts a tenth of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from knowledge.demo.topology import (
    SERVICES,
    FloatArray,
    IntArray,
    ServiceSpec,
    key,
    normal,
)

INCIDENT_TYPES: tuple[str, ...] = (
    "cpu_spike",
    "memory_leak",
    "disk_full",
    "network_congestion",
    "connection_pool_exhaustion",
    "gc_pressure",
)
SIBLING_WEIGHT = 0.1


@dataclass(frozen=True)
class Incident:
    """One scripted incident: ground truth for the demo, evaluations and benchmarks."""

    id: str
    type: str
    service: str
    host: str
    start: datetime
    end: datetime
    root_cause: str
    metrics: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        """All fields as JSON-ready values (times as ISO-8601 strings, metrics as a list)."""
        return {
            "id": self.id,
            "type": self.type,
            "service": self.service,
            "host": self.host,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "root_cause": self.root_cause,
            "metrics": list(self.metrics),
        }


@dataclass(frozen=True)
class IncidentDetail:
    """What the world needs beyond the public ``Incident``: minute bounds, effect sizes, and
    the release whose rolling deploy (if any) precedes the incident."""

    start_min: int
    end_min: int
    params: dict[str, float] = field(default_factory=dict)
    release: str | None = None
    deploy_min: int | None = None


_SIGNATURES: dict[str, tuple[str, ...]] = {
    "cpu_spike": ("cpu_usage", "load_average", "latency_p95_ms", "spectrum_active_jobs"),
    "memory_leak": ("memory_usage", "java_heap_usage", "java_gc_time", "latency_p95_ms"),
    "disk_full": ("disk_usage", "error_rate"),
    "network_congestion": ("latency_p95_ms", "error_rate", "request_rate"),
    "connection_pool_exhaustion": ("db_pool_usage", "latency_p95_ms", "error_rate"),
    "gc_pressure": ("java_gc_time", "java_heap_usage", "cpu_usage", "latency_p95_ms"),
}

_TABLES = {"checkout": "orders", "payments": "payment_attempts", "inventory": "stock_levels"}
_QUERIES = {
    "checkout": "SELECT ... FROM orders JOIN order_items ON order_items.order_id = orders.id "
    "WHERE orders.customer_id = $1 (no index on order_items.order_id)",
    "payments": "SELECT ... FROM payment_attempts WHERE status = 'PENDING' ORDER BY created_at "
    "(a full scan of 40M rows)",
    "inventory": "UPDATE stock_levels SET reserved = reserved + $1 WHERE sku = $2 "
    "(row locks held across a remote call)",
}

ROOT_CAUSES: dict[str, tuple[str, ...]] = {
    "cpu_spike": (
        "A regex added to {service} in release {rel} backtracks catastrophically on long "
        "User-Agent headers, pinning every worker thread on {host}.",
        "An infinite retry loop introduced in {service} release {rel} spins on a failed "
        "feature-flag lookup, saturating the CPU on {host}.",
        "A config push to {host} disabled TLS session resumption, so every request does a full "
        "handshake and the CPU saturates.",
        "A misplaced cron entry on {host} started the weekly search reindex during business hours, "
        "competing with {service} for every core.",
    ),
    "cpu_spike/batch": (
        "Spark job {job} (nightly-etl) on {host} requested 64 executors instead of 8 after a "
        "template change, saturating every core and queueing the rest of the workload.",
        "A runaway Python UDF in job {job} (fraud-features) loops on malformed rows, pinning the "
        "CPUs of {host} while new jobs pile up in the ComputeHosts resource group.",
        "The EGO slot limit on {host} was raised from 16 to 48 by a resource-plan change, so the "
        "host is oversubscribed and its jobs queue behind each other.",
    ),
    "memory_leak": (
        "A session cache in {service} grows without eviction since release {rel}; the heap fills "
        "and GC thrashes.",
        "Release {rel} of {service} registers a metrics listener per request and never removes "
        "it, so the listener list grows until the heap is exhausted.",
        "A ThreadLocal buffer in {service} release {rel} is never cleared on pooled threads, "
        "leaking heap on {host} until the JVM runs out of memory.",
        "An unbounded in-memory retry queue in {service} ({rel}) accumulates failed fraud-check "
        "callbacks while the fraud API is slow, exhausting the heap.",
    ),
    "disk_full": (
        "Log rotation on {host} stopped after release {rel} changed the log path, so "
        "/var/log/{service} filled the root volume.",
        "A debug flag left on in {service} release {rel} writes full request payloads to "
        "/var/log/{service}/debug.log, filling the disk on {host}.",
        "The {service} process on {host} crash-looped and each crash wrote a 4 GB core file to "
        "/var/crash, filling the disk.",
    ),
    "disk_full/batch": (
        "The Spark shuffle spill directory /scratch/spark on {host} filled up when job {job} "
        "(nightly-etl) hit a skewed partition.",
        "EGO event logs under /opt/ibm/spectrumcomputing/kernel/log on {host} stopped rotating "
        "after a vemkd upgrade and filled the disk.",
    ),
    "network_congestion": (
        "A flapping uplink on top-of-rack switch {switch} drops packets for the rack hosting "
        "{host}, so calls into {service} time out and retry.",
        "A QoS policy pushed to switch {switch} by mistake throttles east-west traffic to {host} "
        "to 100 Mbit/s.",
        "A backup job started early and saturates the 10 GbE link that {host} shares on switch "
        "{switch}.",
        "An MTU mismatch (9000 vs 1500) after maintenance on switch {switch} fragments traffic to "
        "{host}, causing retransmits and read timeouts.",
    ),
    "connection_pool_exhaustion": (
        "A slow query shipped in {service} release {rel} ({query}) holds connections for seconds "
        "and exhausts the connection pool.",
        "A connection leak in {service} release {rel}: the refund path never returns its "
        "connection on exception, so the pool drains.",
        "A long-running migration locked the {table} table, so every {service} query waits on the "
        "lock and the connection pool is pinned at its maximum.",
        "A config push ({rel}) cut the {service} connection pool from 50 to 10 connections while "
        "traffic stayed the same.",
    ),
    "gc_pressure": (
        "Release {rel} of {service} loads the whole price list into memory per request, so the "
        "allocation rate triples and the old generation needs back-to-back Full GCs.",
        "The deployment manifest for {service} release {rel} set -Xmx2g instead of -Xmx8g, so the "
        "JVM on {host} spends most of its time in GC.",
        "A CSV export endpoint in {service} builds huge strings after release {rel}, causing "
        "humongous allocations and Full GC storms.",
    ),
}


def eligible(incident_type: str) -> list[ServiceSpec]:
    """The services an incident type can hit."""
    if incident_type in ("memory_leak", "gc_pressure"):
        return [s for s in SERVICES if s.kind == "java"]
    if incident_type == "connection_pool_exhaustion":
        return [s for s in SERVICES if s.has_db]
    if incident_type == "network_congestion":
        return [s for s in SERVICES if s.kind in ("web", "java")]
    return list(SERVICES)


def signature(incident_type: str, svc: ServiceSpec) -> tuple[str, ...]:
    """The metrics an incident of this type moves on a host of ``svc``."""
    return tuple(m for m in _SIGNATURES[incident_type] if m in svc.metrics)


def _params(incident_type: str, rng: np.random.Generator) -> dict[str, float]:
    u = rng.uniform
    if incident_type == "cpu_spike":
        return {"cpu": u(92.0, 97.5), "lat": u(0.6, 1.5), "jobs": u(1.0, 2.0)}
    if incident_type == "memory_leak":
        return {"gc": u(14.0, 24.0), "lat": u(2.0, 4.0), "err": u(2.0, 5.0)}
    if incident_type == "disk_full":
        return {"disk": u(98.6, 99.9), "err": u(3.0, 9.0)}
    if incident_type == "network_congestion":
        return {"lat": u(5.0, 20.0), "err": u(4.0, 12.0), "rps": u(0.25, 0.45)}
    if incident_type == "connection_pool_exhaustion":
        return {"lat": u(5.0, 10.0), "err": u(3.0, 9.0)}
    return {"gc": u(22.0, 36.0), "cpu": u(25.0, 40.0), "lat": u(1.5, 3.0), "err": u(0.8, 2.0)}


def schedule(
    seed: int, start: datetime, first_after_min: int, gap_min: tuple[int, int], horizon_days: int
) -> tuple[list[Incident], dict[str, IncidentDetail]]:
    """Every incident in ``[start, start + horizon_days)``, in order, with their details.

    The first six cycle through all types in a seed-shuffled order; later ones are random.
    Incidents never overlap: each gap is counted from the previous incident's end.
    """
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFF, 0x1C1DE])
    base_min = int(start.timestamp()) // 60
    horizon = base_min + horizon_days * 1440
    order = [INCIDENT_TYPES[i] for i in rng.permutation(len(INCIDENT_TYPES))]
    lo, hi = min(gap_min), max(gap_min)
    incidents: list[Incident] = []
    details: dict[str, IncidentDetail] = {}
    t = base_min + first_after_min
    n = 0
    while t < horizon:
        itype = order[n] if n < len(order) else INCIDENT_TYPES[int(rng.integers(6))]
        services = eligible(itype)
        svc = services[int(rng.integers(len(services)))]
        host = svc.hosts[int(rng.integers(len(svc.hosts)))]
        duration = int(rng.integers(10, 31))
        pool = ROOT_CAUSES.get(f"{itype}/{svc.kind}", ROOT_CAUSES[itype])
        template = pool[int(rng.integers(len(pool)))]
        rel = f"{int(rng.integers(2, 7))}.{int(rng.integers(0, 12))}.{int(rng.integers(0, 9))}"
        fields = {
            "service": svc.name,
            "host": host,
            "rel": rel,
            "switch": f"tor-{'abcd'[int(rng.integers(4))]}{int(rng.integers(1, 24)):02d}",
            "job": str(int(rng.integers(10000, 99999))),
            "table": _TABLES.get(svc.name, "jobs"),
            "query": _QUERIES.get(svc.name, ""),
        }
        params = _params(itype, rng)
        deploy_lead = int(rng.integers(2, 6))
        named = "{rel}" in template
        inc = Incident(
            id=f"inc-{n + 1:04d}",
            type=itype,
            service=svc.name,
            host=host,
            start=_dt(t),
            end=_dt(t + duration),
            root_cause=template.format(**fields),
            metrics=signature(itype, svc),
        )
        incidents.append(inc)
        details[inc.id] = IncidentDetail(
            start_min=t,
            end_min=t + duration,
            params=params,
            release=rel if named else None,
            deploy_min=t - deploy_lead if named else None,
        )
        t += duration + int(rng.integers(lo, hi + 1))
        n += 1
    return incidents, details


def _dt(minute: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)


def _ramp(x: FloatArray) -> FloatArray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


_RAMPS = {  # (ramp-in, ramp-out) in minutes; a value < 1 is a fraction of the duration
    "cpu_spike": (3.0, 3.0),
    "memory_leak": (0.85, 2.0),
    "disk_full": (0.5, 3.0),
    "network_congestion": (2.0, 2.0),
    "connection_pool_exhaustion": (2.0, 3.0),
    "gc_pressure": (4.0, 3.0),
}


def intensity(itype: str, detail: IncidentDetail, minutes: IntArray) -> FloatArray:
    """The incident's envelope in [0, 1] at each absolute minute (0 outside it)."""
    dur = detail.end_min - detail.start_min
    r_in, r_out = _RAMPS[itype]
    r_in = r_in * dur if r_in < 1 else r_in
    x = (minutes - detail.start_min).astype(np.float64) + 1.0
    # A leak grows steadily (linear), then the JVM is restarted; the rest ease in.
    up = np.clip(x / r_in, 0.0, 1.0) if itype == "memory_leak" else _ramp(x / r_in)
    down = _ramp((dur - x + 1.0) / r_out)
    env = np.minimum(up, down)
    inside = (minutes >= detail.start_min) & (minutes < detail.end_min)
    return np.where(inside, env, 0.0)


def apply(
    itype: str,
    detail: IncidentDetail,
    svc: ServiceSpec,
    host: str,
    metric: str,
    values: FloatArray,
    minutes: IntArray,
    e: FloatArray,
    seed: int,
) -> FloatArray:
    """``values`` with the incident's effect on ``metric`` at envelope ``e`` (already weighted
    for sibling hosts). Additive effects scale with ``e``; multiplicative ones are applied as
    ``factor ** e``, so a sibling host (``e`` <= 0.1) feels a tenth of the effect in log terms.
    Metrics the type does not touch come back unchanged."""
    p = detail.params
    jitter = normal(key(seed, host, metric, "inc"), minutes)

    def toward(target: FloatArray | float, w: FloatArray) -> FloatArray:
        return values + (target - values) * w

    if itype == "cpu_spike":
        if metric == "cpu_usage":
            return toward(p["cpu"] + 1.0 * jitter, e)
        if metric == "latency_p95_ms":
            return values * (1.0 + p["lat"]) ** e
        if metric == "spectrum_active_jobs":
            return np.round(values * (1.0 + p["jobs"]) ** e)
        if metric == "error_rate":
            return values + 0.6 * e
    elif itype == "memory_leak":
        if metric == "memory_usage":
            return toward(96.5 + 0.6 * jitter, e)
        if metric == "java_heap_usage":
            return toward(98.0 + 0.5 * jitter, e)
        if metric == "java_gc_time":
            return values + p["gc"] * e**2
        if metric == "cpu_usage":
            return values + 18.0 * e**2
        if metric == "latency_p95_ms":
            return values * (1.0 + p["lat"]) ** (e**4)
        if metric == "error_rate":
            return values + p["err"] * e**8
    elif itype == "disk_full":
        if metric == "disk_usage":
            return toward(p["disk"] + 0.1 * jitter, e)
        if metric == "error_rate":
            return values + p["err"] * np.clip((e - 0.85) / 0.15, 0.0, 1.0)
    elif itype == "network_congestion":
        if metric == "latency_p95_ms":
            return values * p["lat"] ** e
        if metric == "error_rate":
            return values + p["err"] * e
        if metric == "request_rate":
            return values * (1.0 - p["rps"]) ** e
    elif itype == "connection_pool_exhaustion":
        if metric == "db_pool_usage":
            return toward(100.0, e)
        if metric == "latency_p95_ms":
            return values * p["lat"] ** e
        if metric == "error_rate":
            return values + p["err"] * e
        if metric == "request_rate":
            return values * 0.85**e
    elif itype == "gc_pressure":
        if metric == "java_gc_time":
            return toward(p["gc"] + 2.0 * jitter, e)
        if metric == "java_heap_usage":
            return toward(80.0 + 17.0 * np.abs(np.sin(minutes * 1.3)), e)
        if metric == "cpu_usage":
            return values + p["cpu"] * e
        if metric == "latency_p95_ms":
            return values * (1.0 + p["lat"]) ** e
        if metric == "error_rate":
            return values + p["err"] * e
    return values


def weight(inc: Incident, host: str) -> float:
    """How much of an incident a host of the incident's service feels."""
    return 1.0 if host == inc.host else SIBLING_WEIGHT
