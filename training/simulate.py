"""A simulated fleet's metrics with labelled anomaly episodes: the data the anomaly model trains on.

Every simulated host is a Red Hat node of an IBM Spectrum Conductor cluster running a Java service,
so it exports the origin's eight seed metrics. Normal behaviour has a daily and a weekly cycle,
host-specific levels, smooth and white noise, and the couplings an engineer expects: running jobs
drive CPU, CPU (and jobs) drive the load average, GC time follows the heap, vemkd processes follow
the jobs, disk grows through the week until a weekly clean-up.

Anomalies are *episodes*: contiguous runs of rows on one host, a few minutes to a few hours long,
each with the correlated signature of its type (see ``ANOMALY_TYPES``) scaled by a magnitude in
[0, 1]; the top of the magnitude range is ``critical``, the rest ``warning``. The share of anomaly
rows is ``round(n_samples * anomaly_ratio)`` exactly, split over the types in ``TYPE_MIX``.

The frame is a pure function of the arguments: one ``numpy`` generator seeded with ``seed``, and
whole-array arithmetic (the only Python loop is over episodes, a few hundred at most).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from knowledge.demo.topology import METRICS

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SEED_METRICS: tuple[str, ...] = (
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "load_average",
    "java_heap_usage",
    "java_gc_time",
    "spectrum_active_jobs",
    "vemkd_process_count",
)
METRIC_UNITS: dict[str, str] = {m: METRICS[m].unit for m in SEED_METRICS}
COUNT_METRICS: tuple[str, ...] = ("spectrum_active_jobs", "vemkd_process_count")
COLUMNS: tuple[str, ...] = (
    "ts",
    "host",
    "service",
    *SEED_METRICS,
    "status",
    "anomaly_type",
    "severity",
    "incident_id",
)
STATUSES: tuple[str, ...] = ("normal", "anomaly")
SEVERITIES: tuple[str, ...] = ("none", "warning", "critical")

ANOMALY_TYPES: dict[str, str] = {
    "cpu_spike": "CPU usage jumps to 80-100 % within a minute or two and the load average follows; "
    "usually a runaway process, a hot loop or a sudden burst of work.",
    "memory_leak": "Memory usage and the java heap climb together for an hour or more and GC time "
    "rises late as the heap fills; usually objects a cache or listener never releases.",
    "disk_full": "Disk usage ramps towards 95-100 %; usually logs, heap dumps or temporary files "
    "that are not rotated or cleaned up.",
    "network_congestion": "The load average rises while CPU usage falls and running jobs stop "
    "completing (their count freezes and creeps up), with a few extra vemkd processes: tasks "
    "are stuck waiting on network I/O, usually a saturated link, slow shared storage or a "
    "failing switch.",
    "gc_pressure": "Java GC time is high while the heap saws just under its maximum after every "
    "collection, and CPU rises with the GC threads; usually a heap too small for the live data "
    "or an allocation burst.",
    "job_backlog": "Running Spectrum jobs pile up far above their usual level and the load average "
    "rises with them; usually more work submitted than the cluster can finish, or a slow "
    "downstream dependency.",
    "process_crash": "The vemkd process count drops sharply and running jobs and CPU fall with it; "
    "usually the EGO daemon or its workers crashed or were killed (OOM killer, failed restart).",
    "thread_starvation": "CPU usage and GC time fall and the heap stops moving while jobs wait: "
    "the work is blocked, not running; usually a deadlock or an exhausted thread or connection "
    "pool.",
}

# Share of anomaly rows per type: the origin's four first (in its proportions), then the others.
TYPE_MIX: dict[str, float] = {
    "cpu_spike": 0.22,
    "memory_leak": 0.20,
    "disk_full": 0.14,
    "network_congestion": 0.13,
    "gc_pressure": 0.09,
    "job_backlog": 0.09,
    "process_crash": 0.07,
    "thread_starvation": 0.06,
}
# Episode length in minutes (log-uniform between the two).
DURATION_MIN: dict[str, tuple[float, float]] = {
    "cpu_spike": (5, 60),
    "memory_leak": (60, 300),
    "disk_full": (30, 240),
    "network_congestion": (10, 120),
    "gc_pressure": (10, 90),
    "job_backlog": (20, 180),
    "process_crash": (5, 60),
    "thread_starvation": (10, 90),
}
CRITICAL_FROM = 0.7  # magnitude from which an episode is critical
ROWS_PER_HOST = 2160  # default fleet size: about 1.5 days of 1-minute rows per host
DEFAULT_START = datetime(2025, 7, 14, tzinfo=UTC)  # a Monday
MIN_EPISODE_ROWS = 3
MAX_RATIO = 0.8

# (service, range of the share of its work that is the nightly batch rather than daytime traffic)
_SERVICES: tuple[tuple[str, tuple[float, float]], ...] = (
    ("conductor", (0.75, 1.0)),
    ("payments", (0.0, 0.3)),
    ("risk-engine", (0.3, 0.7)),
    ("inventory", (0.0, 0.3)),
    ("ledger", (0.4, 0.8)),
)


@dataclass(frozen=True)
class _Episode:
    host: int
    start: int  # row within the host
    length: int
    kind: str
    magnitude: float


# --------------------------------------------------------------------------------- public API
def simulate_fleet(
    n_samples: int = 20000,
    anomaly_ratio: float = 0.2,
    *,
    hosts: int | None = None,
    step_s: int = 60,
    seed: int = 0,
    start: datetime | None = None,
) -> pd.DataFrame:
    """``n_samples`` rows of a simulated fleet, sorted by host then time, with columns
    ``COLUMNS``: ``ts`` (UTC), ``host``, ``service``, the eight ``SEED_METRICS`` (2 decimals, the
    counts whole), ``status``, ``anomaly_type`` (None when normal), ``severity`` and
    ``incident_id`` (one per episode, None when normal).

    ``hosts`` defaults to about ``ROWS_PER_HOST`` rows per host. Host ``i`` starts ``i % 7`` days
    after ``start`` so that the fleet covers every weekday; its rows are ``step_s`` apart.
    """
    n_hosts = hosts if hosts is not None else max(1, round(n_samples / ROWS_PER_HOST))
    _check_args(n_samples, anomaly_ratio, n_hosts, step_s)
    rng = np.random.default_rng(seed)
    t0 = _utc(start or DEFAULT_START)
    sizes = np.full(n_hosts, n_samples // n_hosts, dtype=np.int64)
    sizes[: n_samples % n_hosts] += 1
    names, services = _host_names(n_hosts)
    host = np.repeat(np.arange(n_hosts), sizes)
    first = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    row = np.arange(n_samples) - first[host]
    host_t0 = int(t0.timestamp()) + (np.arange(n_hosts) % 7) * 86400
    secs = host_t0[host] + row * step_s

    params = _host_params(rng, services)
    values = _normal(rng, params, host, row, secs, step_s)
    load_add = np.zeros(n_samples)
    episodes = _plan(rng, sizes, anomaly_ratio, step_s)
    status = np.full(n_samples, "normal", dtype=object)
    kind = np.full(n_samples, None, dtype=object)
    severity = np.full(n_samples, "none", dtype=object)
    incident = np.full(n_samples, None, dtype=object)
    for ep in episodes:
        g = int(first[ep.host]) + ep.start
        sl = slice(g, g + ep.length)
        _SIGNATURES[ep.kind](_Ctx(values, load_add, sl, ep, float(params["cores"][ep.host]), rng))
        began = datetime.fromtimestamp(int(secs[g]), UTC)
        status[sl] = "anomaly"
        kind[sl] = ep.kind
        severity[sl] = "critical" if ep.magnitude >= CRITICAL_FROM else "warning"
        incident[sl] = f"{names[ep.host]}_{ep.kind}_{began:%Y%m%d%H%M%S}"
    _finish(values, load_add, params, host, rng)

    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(secs, unit="s", utc=True).astype("datetime64[ns, UTC]"),
            "host": pd.array(np.asarray(names, dtype=object)[host], dtype="str"),
            "service": pd.array(np.asarray(services, dtype=object)[host], dtype="str"),
            **{m: np.round(values[m], 2) for m in SEED_METRICS},
            "status": pd.array(status, dtype="str"),
            "anomaly_type": pd.Series(kind, dtype=object),
            "severity": pd.array(severity, dtype="str"),
            "incident_id": pd.Series(incident, dtype=object),
        }
    )
    return frame


# ------------------------------------------------------------------------------- the fleet
def _check_args(n_samples: int, ratio: float, hosts: int, step_s: int) -> None:
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    if not 0.0 <= ratio <= MAX_RATIO:
        raise ValueError(f"anomaly_ratio must be between 0 and {MAX_RATIO}, got {ratio}")
    if not 1 <= hosts <= n_samples:
        raise ValueError(f"hosts must be between 1 and n_samples ({n_samples}), got {hosts}")
    if step_s < 1:
        raise ValueError(f"step_s must be a positive number of seconds, got {step_s}")


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _host_names(n_hosts: int) -> tuple[list[str], list[str]]:
    """Host and service names, sorted by host name (host ``i`` of the frame is ``names[i]``)."""
    width = len(str(n_hosts // len(_SERVICES) + 1))
    pairs = sorted(
        (f"{_SERVICES[i % len(_SERVICES)][0]}-{i // len(_SERVICES) + 1:0{width}d}", i)
        for i in range(n_hosts)
    )
    return [p[0] for p in pairs], [_SERVICES[p[1] % len(_SERVICES)][0] for p in pairs]


def _host_params(rng: np.random.Generator, services: list[str]) -> dict[str, FloatArray]:
    """Per-host levels and shapes, one array entry per host."""
    n = len(services)
    batch_range = dict(_SERVICES)
    lo = np.array([batch_range[s][0] for s in services])
    hi = np.array([batch_range[s][1] for s in services])

    def u(a: float, b: float) -> FloatArray:
        return rng.uniform(a, b, n)

    return {
        "batch": lo + (hi - lo) * rng.uniform(0.0, 1.0, n),
        "cores": rng.choice(np.array([4.0, 8.0, 16.0]), n),
        "jobs0": u(3, 20),
        "jobs_amp": u(15, 70),
        "cpu0": u(6, 15),
        "cpu_per_job": u(0.35, 0.6),
        "mem0": u(38, 60),
        "disk0": u(30, 62),
        "disk_week": u(4, 10),
        "disk_rot": u(0, 604800),
        "heap0": u(25, 35),
        "heap_amp": u(28, 38),
        "gc_period": u(6, 11),
        "gc_phase": u(0, 1),
        "gc0": u(1.0, 2.0),
        "vemkd0": u(145, 152),
    }


def _cycles(secs: IntArray) -> tuple[FloatArray, FloatArray]:
    """Daytime traffic (peak 13:00 UTC, weekends 75 %) and the nightly batch (peak 02:00 UTC)."""
    tod = (secs % 86400) / 3600.0
    dow = (secs // 86400 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    traffic = (0.3 + 0.35 * (1.0 + np.cos(2.0 * np.pi * (tod - 13.0) / 24.0))) * np.where(
        dow >= 5, 0.75, 1.0
    )
    batch = (0.5 + 0.5 * np.cos(2.0 * np.pi * (tod - 2.0) / 24.0)) * np.where(dow == 6, 0.85, 1.0)
    return traffic, batch


def _smooth(
    rng: np.random.Generator, host: IntArray, row: IntArray, n_hosts: int, every: int, ch: int
) -> FloatArray:
    """``ch`` channels of smooth unit noise per row: normal knots every ``every`` rows of a host,
    smoothstep-interpolated."""
    knot = row // every
    knots = rng.standard_normal((n_hosts, int(knot.max()) + 2, ch))
    f = (row - knot * every) / every
    s = (f * f * (3.0 - 2.0 * f))[:, None]
    a = knots[host, knot]
    return np.asarray(a + (knots[host, knot + 1] - a) * s, dtype=np.float64)


def _normal(
    rng: np.random.Generator,
    p: dict[str, FloatArray],
    host: IntArray,
    row: IntArray,
    secs: IntArray,
    step_s: int,
) -> dict[str, FloatArray]:
    """The incident-free metrics (all but the load average, which follows the final CPU)."""
    n_hosts = len(p["cores"])
    sn = _smooth(rng, host, row, n_hosts, max(1, round(900 / step_s)), 6)
    wn = rng.standard_normal((len(row), 6))
    traffic, batch = _cycles(secs)
    share = p["batch"][host]
    work = share * batch + (1.0 - share) * traffic
    raw_jobs = p["jobs0"][host] + p["jobs_amp"][host] * work + 4.0 * sn[:, 0] + 1.5 * wn[:, 0]
    jobs = np.asarray(np.round(np.maximum(raw_jobs, 0.0)), dtype=np.float64)
    cpu = (
        p["cpu0"][host]
        + p["cpu_per_job"][host] * jobs
        + 18.0 * traffic * (1.0 - share)
        + 2.5 * sn[:, 1]
        + 1.2 * wn[:, 1]
    )
    mem = p["mem0"][host] + 6.0 * work + 0.08 * jobs + 1.5 * sn[:, 2] + 0.4 * wn[:, 2]
    week = ((secs + p["disk_rot"][host]) % 604800) / 604800.0
    disk = p["disk0"][host] + p["disk_week"][host] * week + 0.05 * wn[:, 3]
    minutes = row * (step_s / 60.0)
    saw = np.mod(minutes / p["gc_period"][host] + p["gc_phase"][host], 1.0)
    heap = p["heap0"][host] + p["heap_amp"][host] * saw * (0.8 + 0.3 * work) + 1.5 * wn[:, 4]
    gc = (
        p["gc0"][host]
        + 2.0 * work
        + 0.06 * np.maximum(heap - 55.0, 0.0)
        + 0.4 * sn[:, 3]
        + 0.2 * wn[:, 5]
    )
    vemkd = np.round(p["vemkd0"][host] + 0.08 * jobs + 0.6 * sn[:, 4])
    return {
        "cpu_usage": cpu,
        "memory_usage": mem,
        "disk_usage": disk,
        "java_heap_usage": heap,
        "java_gc_time": gc,
        "spectrum_active_jobs": jobs,
        "vemkd_process_count": vemkd,
        "load_noise": sn[:, 5],
    }


def _finish(
    v: dict[str, FloatArray],
    load_add: FloatArray,
    p: dict[str, FloatArray],
    host: IntArray,
    rng: np.random.Generator,
) -> None:
    """Clamp to physical bounds, make counts whole, and derive the load average from the CPU:
    cores busy, a run queue past 85 %, a little per running job, plus any anomaly's extra."""
    for m in SEED_METRICS:
        if m != "load_average":
            v[m] = np.clip(v[m], METRICS[m].lo, METRICS[m].hi)
    for m in COUNT_METRICS:
        v[m] = np.round(v[m])
    cores = p["cores"][host]
    cpu = v["cpu_usage"]
    queue = 1.0 + 0.6 * np.clip((cpu - 85.0) / 15.0, 0.0, 1.0)
    load = cores * cpu / 100.0 * 1.05 * queue + 0.01 * v["spectrum_active_jobs"]
    load += 0.03 * cores * v.pop("load_noise") + load_add
    v["load_average"] = np.maximum(load, 0.05)


# ----------------------------------------------------------------------------- the episodes
def _plan(rng: np.random.Generator, sizes: IntArray, ratio: float, step_s: int) -> list[_Episode]:
    """Episodes whose lengths add up to ``round(n * ratio)`` rows, split over the types by
    ``TYPE_MIX``, packed onto hosts in proportion to their rows, with normal gaps between."""
    n = int(sizes.sum())
    total = round(n * ratio)
    if total == 0:
        return []
    cap = max(MIN_EPISODE_ROWS, int(sizes.min()) // 3)
    lengths = _draw_lengths(rng, total, step_s, cap)
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i][1])
    budget = total * sizes / n
    used = np.zeros(len(sizes), dtype=np.int64)
    count = np.zeros(len(sizes), dtype=np.int64)
    per_host: list[list[tuple[str, int]]] = [[] for _ in sizes]
    for i in order:
        kind, d = lengths[i]
        fits = used + count + d + 1 <= sizes
        if not fits.any():
            raise ValueError(
                f"cannot fit {total} anomaly rows into {len(sizes)} hosts of {int(sizes.min())} "
                "rows; lower anomaly_ratio or use fewer hosts"
            )
        h = int(np.argmax(np.where(fits, budget - used, -np.inf)))
        per_host[h].append((kind, d))
        used[h] += d
        count[h] += 1
    episodes: list[_Episode] = []
    warmup = max(1, round(3600 / step_s))
    for h, eps in enumerate(per_host):
        episodes.extend(_place(rng, h, int(sizes[h]), eps, warmup))
    return episodes


def _draw_lengths(
    rng: np.random.Generator, total: int, step_s: int, cap: int
) -> list[tuple[str, int]]:
    """(type, rows) per episode, in type order; the rows add up to ``total`` exactly."""
    kinds = list(TYPE_MIX)
    raw = np.array([TYPE_MIX[k] for k in kinds]) * total
    budget = np.floor(raw).astype(np.int64)
    budget[np.argsort(-(raw - budget), kind="stable")[: total - int(budget.sum())]] += 1
    out: list[tuple[str, int]] = []
    leftover = 0
    for kind, rows in zip(kinds, budget.tolist(), strict=True):
        lo, hi = DURATION_MIN[kind]
        while rows >= MIN_EPISODE_ROWS:
            minutes = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            d = min(cap, max(MIN_EPISODE_ROWS, round(minutes * 60 / step_s)))
            if rows - d < MIN_EPISODE_ROWS:
                d = rows
            out.append((kind, d))
            rows -= d
        leftover += rows
    if not out:
        return [(kinds[0], total)]
    for j in rng.integers(0, len(out), leftover).tolist():
        out[j] = (out[j][0], out[j][1] + 1)
    return out


def _place(
    rng: np.random.Generator, h: int, size: int, eps: list[tuple[str, int]], warmup: int
) -> list[_Episode]:
    """Lay one host's episodes out in a random order with random normal gaps: a warm-up before
    the first when there is room, at least one normal row between two."""
    k = len(eps)
    if k == 0:
        return []
    eps = [eps[i] for i in rng.permutation(k)]
    slack = size - sum(d for _, d in eps)
    between = max(1, min(10, slack // (k + 1)))
    lead = max(0, min(warmup, (slack - (k - 1) * between) // 2))
    rest = slack - lead - (k - 1) * between
    split = rng.multinomial(rest, np.full(k + 1, 1.0 / (k + 1)))
    out = []
    at = lead + int(split[0])
    for j, (kind, d) in enumerate(eps):
        out.append(_Episode(h, at, d, kind, float(rng.uniform(0.0, 1.0))))
        at += d + between + int(split[j + 1])
    return out


@dataclass(frozen=True)
class _Ctx:
    """What a signature needs: the metric arrays, the episode's slice and its shape."""

    v: dict[str, FloatArray]
    load_add: FloatArray
    sl: slice
    ep: _Episode
    cores: float
    rng: np.random.Generator

    @property
    def p(self) -> FloatArray:
        """Progress through the episode, 0 to 1."""
        d = self.ep.length
        return np.linspace(0.0, 1.0, d) if d > 1 else np.ones(1)

    def env(self, ramp: int) -> FloatArray:
        """1 inside the episode, ramping in and out over ``ramp`` rows."""
        d = self.ep.length
        i = np.arange(d)
        return np.minimum(1.0, np.minimum(i + 1, d - i) / max(1, min(ramp, d // 3)))

    def noise(self, scale: float) -> FloatArray:
        return scale * self.rng.standard_normal(self.ep.length)

    def get(self, metric: str) -> FloatArray:
        return self.v[metric][self.sl]

    def put(self, metric: str, values: FloatArray) -> None:
        self.v[metric][self.sl] = values


def _cpu_spike(c: _Ctx) -> None:
    m, env, cpu = c.ep.magnitude, c.env(2), c.get("cpu_usage")
    c.put("cpu_usage", cpu + (82.0 + 16.0 * m + c.noise(1.5) - cpu) * env)
    c.load_add[c.sl] += c.cores * (0.05 + 0.2 * m) * env


def _memory_leak(c: _Ctx) -> None:
    m, p = c.ep.magnitude, c.p
    mem, heap = c.get("memory_usage"), c.get("java_heap_usage")
    target = min(99.0, max(mem[0] + 20.0, 80.0 + 17.0 * m))
    c.put("memory_usage", mem + (target - mem[0]) * p)
    c.put("java_heap_usage", heap + (88.0 + 10.0 * m - heap) * p**0.8 + c.noise(0.5) * p)
    late = np.clip((p - 0.5) / 0.5, 0.0, 1.0) ** 2
    c.put("java_gc_time", c.get("java_gc_time") + (6.0 + 20.0 * m) * late)
    c.put("cpu_usage", c.get("cpu_usage") + (4.0 + 8.0 * m) * late)


def _disk_full(c: _Ctx) -> None:
    m, p, disk = c.ep.magnitude, c.p, c.get("disk_usage")
    c.put("disk_usage", disk[0] + (91.0 + 8.5 * m - disk[0]) * p**1.5 + c.noise(0.05))
    c.load_add[c.sl] += c.cores * 0.05 * m * p


def _network_congestion(c: _Ctx) -> None:
    m, p, env = c.ep.magnitude, c.p, c.env(3)
    c.put("cpu_usage", c.get("cpu_usage") * (1.0 - (0.25 + 0.3 * m) * env))
    jobs = c.get("spectrum_active_jobs")
    c.put("spectrum_active_jobs", jobs + (jobs[0] + (3.0 + 12.0 * m) * p - jobs) * env)
    c.put("vemkd_process_count", c.get("vemkd_process_count") + (3.0 + 6.0 * m) * env)
    c.load_add[c.sl] += c.cores * (0.3 + 0.9 * m) * env


def _gc_pressure(c: _Ctx) -> None:
    m, env = c.ep.magnitude, c.env(3)
    saw = np.mod(np.arange(c.ep.length) / 2.5, 1.0)
    heap = c.get("java_heap_usage")
    c.put("java_heap_usage", heap + (95.0 + 4.0 * m - 8.0 * saw - heap) * env)
    gc = c.get("java_gc_time")
    c.put("java_gc_time", gc + (12.0 + 28.0 * m + c.noise(1.5) - gc) * env)
    c.put("cpu_usage", c.get("cpu_usage") + (8.0 + 14.0 * m) * env)


def _job_backlog(c: _Ctx) -> None:
    m, p = c.ep.magnitude, c.p
    added = (45.0 + 155.0 * m) * p**1.2
    c.put("spectrum_active_jobs", c.get("spectrum_active_jobs") + added)
    c.put("vemkd_process_count", c.get("vemkd_process_count") + 0.1 * added)
    c.put("cpu_usage", c.get("cpu_usage") + 0.15 * added)
    c.load_add[c.sl] += c.cores * (0.15 + 0.6 * m) * p + 0.02 * added


def _process_crash(c: _Ctx) -> None:
    m = c.ep.magnitude
    c.put("vemkd_process_count", c.get("vemkd_process_count") * (0.1 + 0.4 * (1.0 - m)))
    c.put("spectrum_active_jobs", c.get("spectrum_active_jobs") * (0.05 + 0.3 * (1.0 - m)))
    c.put("cpu_usage", c.get("cpu_usage") * (0.35 + 0.35 * (1.0 - m)))


def _thread_starvation(c: _Ctx) -> None:
    m, p, env = c.ep.magnitude, c.p, c.env(3)
    c.put("cpu_usage", c.get("cpu_usage") * (1.0 - (0.45 + 0.35 * m) * env))
    heap = c.get("java_heap_usage")
    c.put("java_heap_usage", heap + (heap[0] + c.noise(0.3) - heap) * env)
    c.put("java_gc_time", c.get("java_gc_time") * (1.0 - (0.75 + 0.2 * m) * env))
    c.put("spectrum_active_jobs", c.get("spectrum_active_jobs") + (4.0 + 20.0 * m) * p * env)


_SIGNATURES: dict[str, Callable[[_Ctx], None]] = {
    "cpu_spike": _cpu_spike,
    "memory_leak": _memory_leak,
    "disk_full": _disk_full,
    "network_congestion": _network_congestion,
    "gc_pressure": _gc_pressure,
    "job_backlog": _job_backlog,
    "process_crash": _process_crash,
    "thread_starvation": _thread_starvation,
}
assert set(_SIGNATURES) == set(ANOMALY_TYPES) == set(TYPE_MIX) == set(DURATION_MIN)
