"""``DemoWorld``: the simulated fleet, read as if it were Prometheus + Elasticsearch + Jaeger.

The world is a pure function of ``(seed, start, time)``: metrics, logs, traces and incidents at
a given minute are the same whenever, and in whatever order, they are asked for. ``SimClock``
only decides what "now" is.
"""

from __future__ import annotations

import bisect
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from knowledge.demo.incidents import (
    Incident,
    IncidentDetail,
    apply,
    intensity,
    schedule,
    weight,
)
from knowledge.demo.logs import host_minute_logs
from knowledge.demo.topology import (
    HOSTS,
    METRICS,
    SERVICE_BY_NAME,
    SERVICES,
    FloatArray,
    IntArray,
    ServiceSpec,
    baseline,
    clip,
    load_from_cpu,
    traffic,
)
from knowledge.demo.traces import FleetMinute, Trouble, minute_traces
from knowledge.telemetry import LogRecord, MetricSeries, Span

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Metrics that logs and traces read at each minute.
_STATE_METRICS = (
    "latency_p95_ms",
    "error_rate",
    "db_pool_usage",
    "java_heap_usage",
    "java_gc_time",
    "spectrum_active_jobs",
    "load_average",
)


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _floor_min(dt: datetime) -> int:
    return int(_utc(dt).timestamp() // 60)


def _ceil_min(dt: datetime) -> int:
    return -int(-_utc(dt).timestamp() // 60)


def _dt(minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=minute)


class SimClock:
    """Simulated time: ``start + (real() - real_t0) * speed``.

    ``speed=60`` runs one simulated minute per real second. ``real`` is the real clock
    (``time.monotonic`` by default; tests pass a fake).
    """

    def __init__(
        self, start: datetime, speed: float = 60.0, real: Callable[[], float] = time.monotonic
    ) -> None:
        self.start = _utc(start)
        self.speed = float(speed)
        self._real = real
        self._t0 = real()

    def now(self) -> datetime:
        """The current simulated time (tz-aware UTC)."""
        return self.start + timedelta(seconds=(self._real() - self._t0) * self.speed)


class DemoWorld:
    """A deterministic simulated fleet with scripted incidents.

    Args:
        seed: chooses incidents, per-host parameters and every random draw.
        start: where simulated time begins (floored to the minute); default: now, floored.
        speed: simulated seconds per real second, for the default clock.
        clock: a clock to use instead of ``SimClock(start, speed)``.
        first_incident_after_min: minutes from ``start`` to the first incident.
        incident_gap_min: (min, max) quiet minutes between one incident's end and the next start.
        horizon_days: how far ahead incidents are scheduled.
    """

    def __init__(
        self,
        seed: int = 42,
        start: datetime | None = None,
        speed: float = 60.0,
        clock: SimClock | None = None,
        first_incident_after_min: int = 6,
        incident_gap_min: tuple[int, int] = (12, 30),
        horizon_days: int = 14,
    ) -> None:
        if start is None:
            start = clock.start if clock is not None else datetime.now(UTC)
        self.seed = seed
        self.start = _dt(_floor_min(start))
        self.clock = clock if clock is not None else SimClock(self.start, speed)
        self.services: tuple[ServiceSpec, ...] = SERVICES
        self._incidents, self._details = schedule(
            seed, self.start, first_incident_after_min, incident_gap_min, horizon_days
        )
        self._ends = [self._details[i.id].end_min for i in self._incidents]

    # ------------------------------------------------------------------ fleet description
    def now(self) -> datetime:
        """The current simulated time."""
        return self.clock.now()

    def hosts(self) -> list[tuple[str, str]]:
        """Every ``(service, host)`` pair of the fleet."""
        return list(HOSTS)

    def metric_names(self) -> list[str]:
        """Every metric name any host exports."""
        return list(METRICS)

    def unit(self, metric: str) -> str:
        """The unit of ``metric`` (``""`` for dimensionless or unknown metrics)."""
        spec = METRICS.get(metric)
        return spec.unit if spec else ""

    # -------------------------------------------------------------------------- metrics
    def _overlapping(self, m0: int, m1: int) -> list[tuple[Incident, IncidentDetail]]:
        """Incidents overlapping minutes ``[m0, m1)``."""
        out = []
        for i in range(bisect.bisect_right(self._ends, m0), len(self._incidents)):
            inc = self._incidents[i]
            det = self._details[inc.id]
            if det.start_min >= m1:
                break
            out.append((inc, det))
        return out

    def _values(
        self,
        svc: ServiceSpec,
        host: str,
        metric: str,
        minutes: IntArray,
        incs: list[tuple[Incident, IncidentDetail]],
    ) -> FloatArray:
        if metric == "load_average":
            cpu = self._values(svc, host, "cpu_usage", minutes, incs)
            return load_from_cpu(self.seed, svc, host, cpu, minutes)
        values = baseline(self.seed, svc, host, metric, minutes)
        for inc, det in incs:
            if inc.service == svc.name:
                e = intensity(inc.type, det, minutes) * weight(inc, host)
                values = apply(inc.type, det, svc, host, metric, values, minutes, e, self.seed)
        return clip(metric, values)

    def _targets(self, service: str | None, host: str | None) -> list[tuple[ServiceSpec, str]]:
        return [
            (SERVICE_BY_NAME[s], h)
            for s, h in HOSTS
            if (service is None or s == service) and (host is None or h == host)
        ]

    def query_range(
        self,
        metric: str,
        start: datetime,
        end: datetime,
        step_s: int = 60,
        service: str | None = None,
        host: str | None = None,
    ) -> list[MetricSeries]:
        """One ``MetricSeries`` per (service, host) exporting ``metric``, labelled
        ``{"service", "host"}``, sampled at minute-aligned times in ``[start, end]`` every
        ``step_s`` seconds (rounded up to a whole minute). Unknown metric -> ``[]``."""
        if metric not in METRICS:
            return []
        step = max(1, -(-int(step_s) // 60))
        minutes = np.arange(_ceil_min(start), _floor_min(end) + 1, step, dtype=np.int64)
        if minutes.size == 0:
            return []
        stamps = [_dt(m) for m in minutes.tolist()]
        incs = self._overlapping(int(minutes[0]), int(minutes[-1]) + 1)
        unit = METRICS[metric].unit
        out = []
        for svc, h in self._targets(service, host):
            if metric in svc.metrics:
                values = self._values(svc, h, metric, minutes, incs)
                out.append(
                    MetricSeries(
                        metric,
                        {"service": svc.name, "host": h},
                        list(stamps),
                        values.tolist(),
                        unit,
                    )
                )
        return out

    def snapshot(self, at: datetime | None = None) -> dict[tuple[str, str], dict[str, float]]:
        """``(service, host) -> {metric: value}`` at the minute at or before ``at``
        (default: now)."""
        m = _floor_min(at if at is not None else self.now())
        minutes = np.array([m], dtype=np.int64)
        incs = self._overlapping(m, m + 1)
        return {
            (svc.name, h): {
                metric: float(self._values(svc, h, metric, minutes, incs)[0])
                for metric in svc.metrics
            }
            for svc, h in self._targets(None, None)
        }

    # ------------------------------------------------------------------- logs and traces
    def _fleet_minutes(self, m0: int, m1: int) -> list[FleetMinute]:
        minutes = np.arange(m0, m1, dtype=np.int64)
        incs = self._overlapping(m0, m1)
        per_host: dict[str, dict[str, list[float]]] = {}
        for svc, h in self._targets(None, None):
            per_host[h] = {
                metric: self._values(svc, h, metric, minutes, incs).tolist()
                for metric in _STATE_METRICS
                if metric in svc.metrics
            }
        load = traffic(minutes).tolist()
        fms = [
            FleetMinute(
                m,
                _dt(m),
                load[i],
                {h: {k: v[i] for k, v in vals.items()} for h, vals in per_host.items()},
            )
            for i, m in enumerate(range(m0, m1))
        ]
        for inc, det in incs:
            env = intensity(inc.type, det, minutes)
            hosts = SERVICE_BY_NAME[inc.service].hosts
            for i in np.nonzero(env > 0)[0].tolist():
                e = float(env[i])
                fms[i].active.append(Trouble(inc, det, e, True))
                for h in hosts:
                    fms[i].trouble[h] = Trouble(inc, det, e * weight(inc, h), h == inc.host)
        for inc in self.incidents(_dt(m0), _dt(m1 + 10)):
            det = self._details[inc.id]
            if det.deploy_min is not None and m0 <= det.deploy_min < m1:
                fms[det.deploy_min - m0].active_deploys.append(Trouble(inc, det, 0.0, False))
        return fms

    def logs(
        self, start: datetime, end: datetime, service: str | None = None, host: str | None = None
    ) -> list[LogRecord]:
        """Log records in ``[start, end)``, sorted by time, optionally for one service/host."""
        start, end = _utc(start), _utc(end)
        targets = self._targets(service, host)
        out: list[LogRecord] = []
        for fm in self._fleet_minutes(_floor_min(start), _ceil_min(end)):
            by_host: dict[str, list[Span]] = {}
            for trace in minute_traces(self.seed, fm):
                for sp in trace:
                    if sp.operation != "db.query":
                        by_host.setdefault(sp.host, []).append(sp)
            for svc, h in targets:
                out.extend(host_minute_logs(self.seed, svc, h, fm, by_host.get(h, [])))
        out = [r for r in out if start <= r.ts < end]
        out.sort(key=lambda r: r.ts)
        return out

    def traces(self, start: datetime, end: datetime, service: str | None = None) -> list[Span]:
        """Spans of the traces whose root starts in ``[start, end)``; with ``service``, only
        traces that touch that service. Spans of one trace are contiguous, root first."""
        start, end = _utc(start), _utc(end)
        out: list[Span] = []
        for fm in self._fleet_minutes(_floor_min(start), _ceil_min(end)):
            for trace in minute_traces(self.seed, fm):
                if not start <= trace[0].start < end:
                    continue
                if service is None or any(sp.service == service for sp in trace):
                    out.extend(trace)
        return out

    # ------------------------------------------------------------------------ incidents
    def incidents(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[Incident]:
        """Ground truth: incidents overlapping ``[start, end)`` (all in the horizon if both
        are ``None``)."""
        lo = _utc(start) if start is not None else None
        hi = _utc(end) if end is not None else None
        return [
            i
            for i in self._incidents
            if (hi is None or i.start < hi) and (lo is None or i.end > lo)
        ]

    def active_incidents(self, at: datetime | None = None) -> list[Incident]:
        """Incidents in progress at ``at`` (default: now)."""
        t = _utc(at) if at is not None else self.now()
        return [i for i in self.incidents(t, t + timedelta(microseconds=1)) if i.start <= t]

    def write_ground_truth(self, path: Path, until: datetime | None = None) -> int:
        """Append to the JSON Lines file ``path`` every incident that started at or before
        ``until`` (default: now) and is not in the file yet. A torn last line (a crash mid-write)
        is dropped first. Returns the number of lines written."""
        path = Path(path)
        limit = _utc(until) if until is not None else self.now()
        path.parent.mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        needs_newline = False
        if path.exists():
            data = path.read_bytes()
            pos = 0
            while pos < len(data):
                nl = data.find(b"\n", pos)
                line = data[pos:] if nl < 0 else data[pos:nl]
                try:
                    doc = json.loads(line)
                    if isinstance(doc, dict) and "id" in doc:
                        seen.add(str(doc["id"]))
                except ValueError:
                    if nl < 0:
                        break  # torn last line: truncate it away below
                if nl < 0:
                    pos = len(data)
                    break
                pos = nl + 1
            keep = pos
            if keep < len(data):
                with path.open("r+b") as fh:
                    fh.truncate(keep)
            needs_newline = keep > 0 and data[keep - 1 : keep] != b"\n"
        new = [i for i in self._incidents if i.start <= limit and i.id not in seen]
        if new:
            with path.open("a", encoding="utf-8") as fh:
                if needs_newline:  # the last line is whole but lacks its newline
                    fh.write("\n")
                for inc in new:
                    fh.write(json.dumps(inc.to_json(), ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        return len(new)
