"""The demo world: determinism, the incident schedule, signatures, logs, traces, ground truth."""

from __future__ import annotations

import itertools
import json
import re
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from knowledge.demo import INCIDENT_TYPES, DemoWorld, Incident, ServiceSpec, SimClock
from knowledge.telemetry import LogRecord

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
PERCENT = (
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "java_heap_usage",
    "java_gc_time",
    "error_rate",
    "db_pool_usage",
)


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return DemoWorld(seed=42, start=START)


def _series(w: DemoWorld, metric: str, host: str, start: datetime, end: datetime) -> list[float]:
    (s,) = w.query_range(metric, start, end, host=host)
    return s.values


def _first(w: DemoWorld, itype: str, service: str | None = None) -> Incident:
    return next(
        i for i in w.incidents() if i.type == itype and (service is None or i.service == service)
    )


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


# ------------------------------------------------------------------------------ clock / API
def test_sim_clock_runs_speed_times_faster_than_the_real_clock() -> None:
    real = [100.0]
    clock = SimClock(START, speed=60.0, real=lambda: real[0])
    assert clock.now() == START
    real[0] = 102.5
    assert clock.now() == START + timedelta(minutes=2, seconds=30)
    assert clock.now().tzinfo is not None and clock.now().utcoffset() == timedelta(0)
    w = DemoWorld(seed=1, clock=clock)
    assert w.start == START and w.now() == START + timedelta(seconds=150)


def test_start_is_floored_to_the_minute_and_defaults_to_now() -> None:
    w = DemoWorld(seed=1, start=START + timedelta(seconds=42, microseconds=5))
    assert w.start == START
    before = datetime.now(UTC) - timedelta(minutes=1)
    w2 = DemoWorld(seed=1)
    assert before <= w2.start <= datetime.now(UTC)
    assert w2.start.second == 0 and w2.start.microsecond == 0


def test_fleet_description(world: DemoWorld) -> None:
    assert all(isinstance(s, ServiceSpec) for s in world.services)
    by_name = {s.name: s for s in world.services}
    assert by_name["payments"].kind == "java" and by_name["payments"].has_db
    assert by_name["batch"].hosts == ("conductor-1", "conductor-2", "conductor-3")
    assert ("checkout", "checkout-3") in world.hosts() and len(world.hosts()) == 12
    assert "spectrum_active_jobs" in by_name["batch"].metrics
    assert "request_rate" not in by_name["batch"].metrics
    assert "db_pool_usage" not in by_name["api-gateway"].metrics
    assert world.unit("latency_p95_ms") == "ms" and world.unit("request_rate") == "req/s"
    assert world.unit("load_average") == "" and world.unit("vemkd_process_count") == "processes"
    assert set(world.metric_names()) >= {"cpu_usage", "java_gc_time", "db_pool_usage"}


def test_query_range_shape_filters_and_steps(world: DemoWorld) -> None:
    end = START - timedelta(minutes=1)
    series = world.query_range("java_heap_usage", end - timedelta(hours=1, seconds=30), end)
    assert sorted(s.host for s in series) == [
        "inventory-1",
        "inventory-2",
        "payments-1",
        "payments-2",
    ]
    s = series[0]
    assert set(s.labels) == {"service", "host"} and s.unit == "%"
    assert s.timestamps[0] == end - timedelta(hours=1) and s.timestamps[-1] == end
    assert len(s.timestamps) == len(s.values) == 61
    coarse = world.query_range(
        "cpu_usage", end - timedelta(hours=1), end, step_s=300, service="checkout"
    )
    assert [c.host for c in coarse] == ["checkout-1", "checkout-2", "checkout-3"]
    assert len(coarse[0].values) == 13
    assert all(t.second == 0 and t.minute % 5 == end.minute % 5 for t in coarse[0].timestamps)
    fine = world.query_range("cpu_usage", end - timedelta(hours=1), end, host="checkout-2")
    assert fine[0].values[::5] == coarse[1].values
    assert world.query_range("no_such_metric", START, START + timedelta(hours=1)) == []
    assert world.query_range("cpu_usage", START, START, host="gw-9") == []


def test_snapshot_matches_query_range(world: DemoWorld) -> None:
    at = START + timedelta(minutes=47, seconds=31)
    snap = world.snapshot(at)
    assert len(snap) == 12
    minute = at.replace(second=0)
    for (service, host), values in snap.items():
        assert ("db_pool_usage" in values) == (service in ("checkout", "payments", "inventory"))
        for s in world.query_range("latency_p95_ms", minute, minute, host=host):
            assert values["latency_p95_ms"] == pytest.approx(s.values[0])
        (cpu,) = world.query_range("cpu_usage", minute, minute, host=host)
        assert values["cpu_usage"] == cpu.values[0]


# ------------------------------------------------------------------------------ determinism
def test_same_seed_and_start_give_identical_data() -> None:
    a, b = DemoWorld(seed=7, start=START), DemoWorld(seed=7, start=START)
    t0, t1 = START, START + timedelta(minutes=90)
    assert a.incidents() == b.incidents()
    for metric in ("cpu_usage", "latency_p95_ms", "db_pool_usage"):
        assert [s.values for s in a.query_range(metric, t0, t1)] == [
            s.values for s in b.query_range(metric, t0, t1)
        ]
    assert a.logs(t0, t0 + timedelta(minutes=20)) == b.logs(t0, t0 + timedelta(minutes=20))
    assert a.traces(t0, t0 + timedelta(minutes=20)) == b.traces(t0, t0 + timedelta(minutes=20))


def test_results_do_not_depend_on_query_order_or_window() -> None:
    w = DemoWorld(seed=3, start=START)
    t0 = START + timedelta(minutes=30)
    whole = w.logs(t0, t0 + timedelta(minutes=10), service="payments")
    w.query_range("cpu_usage", START - timedelta(days=1), START)
    parts = w.logs(t0, t0 + timedelta(minutes=4), service="payments") + w.logs(
        t0 + timedelta(minutes=4), t0 + timedelta(minutes=10), service="payments"
    )
    assert [r.message for r in parts] == [r.message for r in whole]
    long = w.query_range("latency_p95_ms", START, START + timedelta(hours=3), host="gw-1")
    short = w.query_range(
        "latency_p95_ms", START + timedelta(hours=1), START + timedelta(hours=1), host="gw-1"
    )
    assert short[0].values[0] == long[0].values[60]


def test_different_seed_gives_different_world() -> None:
    a, b = DemoWorld(seed=1, start=START), DemoWorld(seed=2, start=START)
    key_a = [(i.type, i.host, i.start) for i in a.incidents()[:10]]
    key_b = [(i.type, i.host, i.start) for i in b.incidents()[:10]]
    assert key_a != key_b
    end = START - timedelta(minutes=1)
    va = a.query_range("cpu_usage", end - timedelta(hours=1), end, host="gw-1")[0].values
    vb = b.query_range("cpu_usage", end - timedelta(hours=1), end, host="gw-1")[0].values
    assert va != vb


# -------------------------------------------------------------------------------- schedule
@pytest.mark.parametrize("seed", range(8))
def test_first_six_incidents_cover_every_type(seed: int) -> None:
    w = DemoWorld(seed=seed, start=START)
    assert sorted(i.type for i in w.incidents()[:6]) == sorted(INCIDENT_TYPES)


def test_schedule_respects_timing_and_eligibility() -> None:
    w = DemoWorld(
        seed=11, start=START, first_incident_after_min=6, incident_gap_min=(12, 30), horizon_days=3
    )
    incs = w.incidents()
    assert incs[0].start == START + timedelta(minutes=6)
    assert [i.id for i in incs[:3]] == ["inc-0001", "inc-0002", "inc-0003"]
    assert incs[-1].start < START + timedelta(days=3)
    specs = {s.name: s for s in w.services}
    for prev, inc in itertools.pairwise(incs):
        assert timedelta(minutes=12) <= inc.start - prev.end <= timedelta(minutes=30)
    for inc in incs:
        spec = specs[inc.service]
        assert inc.host in spec.hosts
        assert timedelta(minutes=10) <= inc.end - inc.start <= timedelta(minutes=30)
        assert inc.start.second == 0 and inc.start.tzinfo is not None
        assert inc.metrics and set(inc.metrics) <= set(spec.metrics)
        assert inc.root_cause.endswith(".") and len(inc.root_cause.split()) > 8
        if inc.type in ("memory_leak", "gc_pressure"):
            assert spec.kind == "java"
        if inc.type == "connection_pool_exhaustion":
            assert spec.has_db
        if inc.type == "network_congestion":
            assert spec.kind in ("web", "java")
    assert {i.service for i in incs if i.type in ("cpu_spike", "disk_full")} >= {"batch"}
    assert len({i.root_cause for i in incs}) > 20


def test_incident_queries_and_json(world: DemoWorld) -> None:
    inc = world.incidents()[2]
    mid = inc.start + (inc.end - inc.start) / 2
    assert world.active_incidents(mid) == [inc]
    assert world.active_incidents(inc.end) == []
    assert world.incidents(inc.start, inc.end) == [inc]
    assert world.incidents(inc.end, inc.end + timedelta(minutes=12)) == []
    assert len(world.incidents(START, START + timedelta(days=1))) < len(world.incidents())
    doc = inc.to_json()
    assert set(doc) == {"id", "type", "service", "host", "start", "end", "root_cause", "metrics"}
    assert datetime.fromisoformat(str(doc["start"])) == inc.start
    assert json.loads(json.dumps(doc))["metrics"] == list(inc.metrics)


# ---------------------------------------------------------------------------- ground truth
def test_ground_truth_is_written_idempotently_and_survives_a_torn_line(tmp_path: Path) -> None:
    real = [0.0]
    w = DemoWorld(seed=5, clock=SimClock(START, 60.0, real=lambda: real[0]))
    path = tmp_path / "nested" / "dir" / "ground_truth.jsonl"
    real[0] = 3 * 3600 / 60  # three simulated hours
    expected = [i.id for i in w.incidents() if i.start <= w.now()]
    assert w.write_ground_truth(path) == len(expected) > 3
    assert w.write_ground_truth(path) == 0
    lines = path.read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == expected
    assert json.loads(lines[0]) == w.incidents()[0].to_json()

    # A crash mid-write leaves half a line: it is dropped and that incident written again.
    data = path.read_bytes()
    path.write_bytes(data[:-25])
    assert w.write_ground_truth(path) == 1
    # A torn fragment of a line that never finished, then more incidents become due.
    with path.open("a") as fh:
        fh.write('{"id": "inc-00')
    later = START + timedelta(hours=6)
    assert w.write_ground_truth(path, until=later) == sum(
        1 for i in w.incidents() if START + timedelta(hours=3) < i.start <= later
    )
    ids = [json.loads(x)["id"] for x in path.read_text().splitlines()]
    assert ids == [i.id for i in w.incidents() if i.start <= later]

    # A whole last line that only lacks its newline is kept, and the next line starts fresh.
    other = tmp_path / "gt2.jsonl"
    other.write_text(json.dumps(w.incidents()[0].to_json()))
    assert w.write_ground_truth(other, until=w.incidents()[1].start) == 1
    assert [json.loads(x)["id"] for x in other.read_text().splitlines()] == ["inc-0001", "inc-0002"]


# -------------------------------------------------------------------------------- metrics
def test_values_stay_physically_plausible(world: DemoWorld) -> None:
    t0, t1 = START - timedelta(days=1), START + timedelta(days=2)
    for metric in world.metric_names():
        for s in world.query_range(metric, t0, t1):
            assert min(s.values) >= 0.0, (metric, s.host)
            if metric in PERCENT:
                assert max(s.values) <= 100.0, (metric, s.host)
            if metric in ("spectrum_active_jobs", "vemkd_process_count"):
                assert all(v == int(v) for v in s.values)


def test_normal_behaviour_is_within_normal_ranges(world: DemoWorld) -> None:
    # Before ``start`` there are no incidents: a quiet day.
    t0, t1 = START - timedelta(days=1), START - timedelta(minutes=1)
    lat = [v for s in world.query_range("latency_p95_ms", t0, t1) for v in s.values]
    assert min(lat) > 40 and max(lat) < 200 and 60 < statistics.median(lat) < 150
    err = [v for s in world.query_range("error_rate", t0, t1) for v in s.values]
    assert max(err) < 1.0 and 0.1 < statistics.median(err) < 0.5
    gc = [v for s in world.query_range("java_gc_time", t0, t1) for v in s.values]
    assert 2.0 < statistics.median(gc) < 5.0 and max(gc) < 8.0
    procs = [v for s in world.query_range("vemkd_process_count", t0, t1) for v in s.values]
    assert min(procs) >= 145 and max(procs) <= 165
    cpu = [v for s in world.query_range("cpu_usage", t0, t1) for v in s.values]
    assert max(cpu) < 80
    # Daily cycle: gateway traffic at 13:00 UTC is well above traffic at 01:00 UTC.
    rr = world.query_range("request_rate", t0, t1, host="gw-1")[0]
    by_hour = {t.hour: v for t, v in zip(rr.timestamps, rr.values, strict=True) if t.minute == 0}
    assert by_hour[13] > 2 * by_hour[1]


_PEAK_CHECK = {  # type -> (metric, predicate(peak, pre_median))
    "cpu_spike": ("cpu_usage", lambda p, m: p >= 90 and m < 75),
    "memory_leak": ("java_heap_usage", lambda p, m: p >= 95 and m < 75),
    "disk_full": ("disk_usage", lambda p, m: p >= 98 and m < 80),
    "network_congestion": ("latency_p95_ms", lambda p, m: p >= 4 * m),
    "connection_pool_exhaustion": ("db_pool_usage", lambda p, m: p >= 99.99 and m < 70),
    "gc_pressure": ("java_gc_time", lambda p, m: p >= 18 and m < 8),
}


@pytest.mark.parametrize("seed", [42, 7])
def test_each_incident_signature_is_visible_on_its_host_only(seed: int) -> None:
    w = DemoWorld(seed=seed, start=START)
    for inc in w.incidents()[:12]:
        metric, check = _PEAK_CHECK[inc.type]
        assert metric in inc.metrics
        pre0 = inc.start - timedelta(minutes=10)
        for s in w.query_range(metric, pre0, inc.end + timedelta(minutes=6)):
            pre = statistics.median(s.values[:10])
            during = s.values[10 : 10 + int((inc.end - inc.start).total_seconds() // 60)]
            after = s.values[-1]
            if s.host == inc.host:
                assert check(max(during), pre), (inc, during)
                # Ramps in, not a step: the first minute is short of the peak.
                assert abs(during[0] - pre) < 0.8 * abs(max(during) - pre), (inc, during)
                slack = 0.25 * (max(during) - pre)
                assert min(s.values[:10]) - slack < after < max(s.values[:10]) + slack, inc
            else:
                assert not check(max(during), pre), (inc, s.host, during)
                if s.service == inc.service:  # siblings feel a little of it
                    host_peak = max(_series(w, metric, inc.host, inc.start, inc.end))
                    bump = max(during) - max(s.values[:10])
                    assert bump < 0.35 * (host_peak - pre), (inc, s.host)


def test_cpu_spike_on_the_batch_cluster_piles_up_jobs() -> None:
    w = DemoWorld(seed=42, start=START)
    inc = _first(w, "cpu_spike", "batch")
    assert "spectrum_active_jobs" in inc.metrics
    pre = _series(
        w,
        "spectrum_active_jobs",
        inc.host,
        inc.start - timedelta(minutes=10),
        inc.start - timedelta(minutes=1),
    )
    during = _series(w, "spectrum_active_jobs", inc.host, inc.start, inc.end)
    assert max(during) > 1.6 * statistics.median(pre)
    load = _series(w, "load_average", inc.host, inc.start, inc.end)
    assert max(load) > 16  # 16 cores, run queue past saturation


def test_network_congestion_moves_latency_errors_and_traffic_together(world: DemoWorld) -> None:
    inc = _first(world, "network_congestion")
    mid0 = inc.start + timedelta(minutes=3)
    mid1 = inc.end - timedelta(minutes=3)
    pre0, pre1 = inc.start - timedelta(minutes=10), inc.start - timedelta(minutes=1)
    err_pre = statistics.median(_series(world, "error_rate", inc.host, pre0, pre1))
    rps_pre = statistics.median(_series(world, "request_rate", inc.host, pre0, pre1))
    assert min(_series(world, "error_rate", inc.host, mid0, mid1)) > err_pre + 3
    assert max(_series(world, "request_rate", inc.host, mid0, mid1)) < 0.9 * rps_pre


# ------------------------------------------------------------------------------------- logs
_NGINX = re.compile(
    r"^\d+\.\d+\.\d+\.\d+ - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} "
    r'\+0000\] "(GET|POST) \S+ HTTP/1\.1" \d{3} \d+ "-" "[^"]+" rt=\d+\.\d{3} '
    r'urt="[\d.]+" req_id=[0-9a-f]{8}( trace_id=[0-9a-f]{32})?$'
)
_NGINX_ERR = re.compile(
    r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[(notice|warn|error|crit|alert)\] "
    r"24#24: \*\d+ "
)
_LOGBACK = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} (DEBUG|INFO |WARN |ERROR) "
    r"\[(payments|inventory),req=([0-9a-f]{8}|-)\] [\w.$]+ - \S"
)
_SYSLOG = re.compile(
    r"^[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} conductor-\d "
    r"(vemkd|egosc|lim|pem)\[\d+\]: \S"
)


def _check_format(r: LogRecord) -> None:
    if r.service == "api-gateway":
        assert _NGINX.match(r.message) or _NGINX_ERR.match(r.message), r.message
    elif r.service == "checkout":
        doc = json.loads(r.message)
        assert {"ts", "level", "logger", "msg", "request_id"} <= set(doc)
        assert doc["ts"] == r.ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"
        assert doc["request_id"] == r.request_id
    elif r.service == "batch":
        assert _SYSLOG.match(r.message), r.message
        assert r.message.startswith(
            r.ts.strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1)
            if r.ts.day < 10
            else r.ts.strftime("%b %d %H:%M:%S")
        )
    else:
        assert _LOGBACK.match(r.message), r.message
        assert r.message[:23] == r.ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
        if r.level == "ERROR" and "Exception" in r.message:
            assert "\n\tat " in r.message


def test_logs_are_sorted_bounded_and_in_each_services_format(world: DemoWorld) -> None:
    t0 = START + timedelta(minutes=2, seconds=30)
    t1 = t0 + timedelta(minutes=40)
    logs = world.logs(t0, t1)
    assert logs and all(t0 <= r.ts < t1 for r in logs)
    assert [r.ts for r in logs] == sorted(r.ts for r in logs)
    assert {r.service for r in logs} == {s.name for s in world.services}
    for r in logs:
        _check_format(r)
    per_host_minute: dict[tuple[str, datetime], int] = {}
    for r in logs:
        k = (r.host, r.ts.replace(second=0, microsecond=0))
        per_host_minute[k] = per_host_minute.get(k, 0) + 1
    counts = sorted(per_host_minute.values())
    assert 3 <= statistics.median(counts) <= 12 and counts[-1] < 40
    only = world.logs(t0, t1, host="payments-2")
    assert only and {(r.service, r.host) for r in only} == {("payments", "payments-2")}
    assert [r for r in logs if r.host == "payments-2"] == only


def test_logs_link_to_traces(world: DemoWorld) -> None:
    t0, t1 = START, START + timedelta(minutes=10)
    spans = world.traces(t0, t1)
    roots = {sp.trace_id: sp for sp in spans if sp.parent_id is None}
    linked = [r for r in world.logs(t0, t1) if r.trace_id]
    assert linked and all(r.trace_id in roots for r in linked)
    gw = [r for r in linked if r.service == "api-gateway"]
    assert gw and all(r.request_id == roots[str(r.trace_id)].tags["request_id"] for r in gw)


@pytest.mark.parametrize(
    ("service", "needle"),
    [
        ("checkout", "QueuePool limit of size 20 overflow 10 reached, connection timed out"),
        ("payments", "HikariPool-1 - Connection is not available, request timed out after 30000ms"),
        (
            "inventory",
            "HikariPool-1 - Connection is not available, request timed out after 30000ms",
        ),
    ],
)
def test_pool_exhaustion_logs_name_the_pool(world: DemoWorld, service: str, needle: str) -> None:
    inc = _first(world, "connection_pool_exhaustion", service)
    during = world.logs(
        inc.start + timedelta(minutes=3), inc.end - timedelta(minutes=3), service=service
    )
    hits = [r for r in during if needle in r.message]
    assert hits and all(r.level == "ERROR" for r in hits)
    assert {r.host for r in hits} >= {inc.host}
    if service != "checkout":
        assert any(
            "java.sql.SQLTransientConnectionException" in r.message
            and "\n\tat com.zaxxer.hikari" in r.message
            for r in hits
        )
    before = world.logs(inc.start - timedelta(minutes=10), inc.start, service=service)
    assert not any(needle in r.message for r in before)
    errs = [
        sp
        for sp in world.traces(
            inc.start + timedelta(minutes=3), inc.end - timedelta(minutes=3), service=service
        )
        if sp.operation == "db.query" and sp.status == "error"
    ]
    assert errs and all(sp.host == inc.host or sp.service == service for sp in errs)


def test_incident_log_signatures(world: DemoWorld) -> None:
    leak = _first(world, "memory_leak")
    tail = world.logs(leak.end - timedelta(minutes=5), leak.end, host=leak.host)
    assert any("java.lang.OutOfMemoryError: Java heap space\n\tat " in r.message for r in tail)
    gc = _first(world, "gc_pressure")
    mid = world.logs(gc.start + timedelta(minutes=5), gc.end - timedelta(minutes=3), host=gc.host)
    assert any("Full GC (Allocation Failure)" in r.message for r in mid)
    disk = _first(world, "disk_full")
    late = world.logs(disk.end - timedelta(minutes=8), disk.end, host=disk.host)
    assert any("No space left on device" in r.message for r in late)
    net = _first(world, "network_congestion")
    window = (net.start + timedelta(minutes=3), net.end - timedelta(minutes=3))
    edge = world.logs(*window, service="api-gateway")
    assert any("upstream timed out (110: Connection timed out)" in r.message for r in edge)
    assert any("Read timed out" in r.message for r in world.logs(*window, host=net.host))
    quiet = world.logs(net.start - timedelta(minutes=10), net.start, service="api-gateway")
    assert not any("upstream timed out" in r.message for r in quiet)


def test_logs_carry_personal_data_and_secrets_for_redaction(world: DemoWorld) -> None:
    logs = world.logs(START, START + timedelta(hours=12), service="payments") + world.logs(
        START, START + timedelta(hours=3)
    )
    text = "\n".join(r.message for r in logs)
    assert re.search(r"[a-z]+\.[a-z]+\d*@example\.(com|org)", text)
    assert re.search(r"AKIA[A-Z0-9]{16}", text)
    assert re.search(r"xoxb-\d+-\d+-[A-Za-z0-9]+", text)
    assert re.search(r"Bearer eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+", text)
    assert re.search(r"api_key=[0-9a-f]{32}", text)
    cards = re.findall(r"pan=(\d{16})", text)
    assert cards and all(_luhn(c) for c in cards)
    assert not re.search(r"@(?!example\.)[a-z]+\.(com|org|net)\b", text)


# ----------------------------------------------------------------------------------- traces
def test_traces_are_well_formed_trees(world: DemoWorld) -> None:
    t0, t1 = START + timedelta(minutes=1, seconds=20), START + timedelta(minutes=31)
    spans = world.traces(t0, t1)
    by_trace: dict[str, list] = {}
    for sp in spans:
        by_trace.setdefault(sp.trace_id, []).append(sp)
    assert 4 * 29 <= len(by_trace) <= 8 * 31
    for trace_id, trace in by_trace.items():
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
        root = trace[0]
        assert root.parent_id is None and root.service == "api-gateway"
        assert t0 <= root.start < t1
        assert root.operation in (
            "GET /api/checkout",
            "GET /api/products",
            "POST /api/payments",
            "GET /api/cart",
        )
        ids = {sp.span_id: sp for sp in trace}
        assert len(ids) == len(trace)
        for sp in trace[1:]:
            parent = ids[sp.parent_id or ""]
            assert parent.start <= sp.start
            end = sp.start + timedelta(milliseconds=sp.duration_ms)
            assert end <= parent.start + timedelta(milliseconds=parent.duration_ms + 0.01)
            if sp.operation == "db.query":
                assert sp.service in ("checkout", "payments", "inventory")
                assert sp.host == parent.host and "db.statement" in sp.tags
    checkout = [sp for t in by_trace.values() for sp in t if sp.operation == "GET /checkout"]
    assert checkout
    touching = world.traces(t0, t1, service="payments")
    assert touching and len(touching) < len(spans)
    assert {sp.trace_id for sp in touching} == {
        tid for tid, tr in by_trace.items() if any(sp.service == "payments" for sp in tr)
    }


def test_trace_durations_follow_the_latency_metric(world: DemoWorld) -> None:
    inc = _first(world, "network_congestion", "inventory")
    window = (inc.start + timedelta(minutes=3), inc.end - timedelta(minutes=3))
    before = (inc.start - timedelta(minutes=60), inc.start)

    def durations(start: datetime, end: datetime, host: str) -> list[float]:
        return [
            sp.duration_ms
            for sp in world.traces(start, end, service="inventory")
            if sp.host == host and sp.operation != "db.query"
        ]

    slow = durations(*window, inc.host)
    normal = durations(*before, inc.host)
    assert slow and normal
    assert statistics.median(slow) > 3 * statistics.median(normal)
    p95 = statistics.median(_series(world, "latency_p95_ms", inc.host, *before))
    assert 0.2 * p95 < statistics.median(normal) < p95
