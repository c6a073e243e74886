"""The Prometheus source against the real Prometheus server (backfilled with known history, scraping
the demo world's exporter), and against a loopback stand-in for auth, TLS and malformed answers."""

from __future__ import annotations

import base64
import json
import statistics
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from knowledge.config import AnalysisConfig, Baseline
from knowledge.demo import DemoWorld, SimClock
from knowledge.documents import Document
from knowledge.redaction import Redactor
from knowledge.sources.base import SourceContext, safe_fetch
from knowledge.sources.exporter import serve
from knowledge.sources.prometheus import PrometheusConfig, PrometheusSource, PromQuery
from knowledge.sources.registry import with_env
from tests.servers.prometheus import PrometheusServer, free_port
from tests.standins.prometheus_api import PrometheusStandIn, prometheus_api
from tests.standins.tls import self_signed

ANALYSIS = AnalysisConfig(
    baselines=(
        Baseline(metric="latency_p95_ms", max=200),
        Baseline(metric="error_rate", max=1),
    )
)
SHOP = (
    PromQuery(name="latency_p95_ms", promql="latency_p95_ms", unit="ms", host_label="host",
              service_label="service"),
    PromQuery(name="cpu_usage", promql='cpu_usage{service="shop"}', unit="%", host_label="host",
              service_label="service"),
)  # fmt: skip


def make_source(tmp_path: Path, **config: Any) -> PrometheusSource:
    context = SourceContext(
        name="prometheus", state_dir=tmp_path, redact=Redactor().redact, analysis=ANALYSIS
    )
    return PrometheusSource(PrometheusConfig(**config), context)


@pytest.fixture
def source(prometheus_server: PrometheusServer, tmp_path: Path) -> Iterator[PrometheusSource]:
    src = make_source(tmp_path, url=prometheus_server.url)
    yield src
    src.close()


def by_title(docs: list[Document], title: str) -> dict[datetime, Document]:
    return {d.ts: d for d in docs if d.title == title}


# ----------------------------------------------------------------------------- real Prometheus


def test_health_names_the_server_version(source: PrometheusSource) -> None:
    ok, reason = source.health()
    assert ok, reason
    assert "Prometheus 2." in reason and source.url in reason


def test_health_of_a_closed_port_says_what_to_check(tmp_path: Path) -> None:
    src = make_source(tmp_path, url=f"http://127.0.0.1:{free_port()}")
    began = time.monotonic()
    ok, reason = src.health()
    assert not ok
    assert "connection refused" in reason and "PROMETHEUS_URL" in reason
    assert "\n" not in reason and time.monotonic() - began < 5
    fetched = src.fetch(datetime.now(UTC) - timedelta(minutes=20), datetime.now(UTC))
    assert fetched.status == "error" and "connection refused" in fetched.reason
    assert fetched.watermark is None


def test_fetch_of_the_backfilled_range_reports_the_spike(
    prometheus_server: PrometheusServer, source: PrometheusSource
) -> None:
    history = prometheus_server.history
    assert history is not None
    start = history.spike_start - timedelta(minutes=15)
    end = history.spike_end + timedelta(minutes=15)
    fetched = source.fetch(start, end)
    assert fetched.status == "ok", fetched.reason
    assert fetched.watermark == end
    assert fetched.items > 0
    windows = [start + timedelta(minutes=5 * i) for i in range(9)]
    services = by_title(fetched.documents, "metrics shop")
    assert sorted(services) == windows  # one summary per window
    spikes = by_title(fetched.documents, "metrics shop-1")
    spike_windows = [w for w in windows if history.spike_start <= w < history.spike_end]
    assert sorted(spikes) == spike_windows  # shop-1 is notable only while it spikes
    assert not by_title(fetched.documents, "metrics shop-2")
    for w0, doc in spikes.items():
        latency = doc.payload["metrics"]["latency_p95_ms"]
        assert latency["value"] == history.SPIKE_MS == latency["max"] == latency["p50"]
        # the baseline is the median of the hour before the window, from the values written
        past = [
            v
            for s in history.series
            if s.metric == "latency_p95_ms" and s.host == "shop-1"
            for t, v in zip(s.timestamps, s.values, strict=True)
            if w0 - timedelta(hours=1) <= t < w0
        ]
        assert latency["baseline"] == pytest.approx(statistics.median(past))
        assert latency["z"] > 20 and latency["breached"]
        assert doc.severity == "critical" and doc.host == "shop-1" and doc.service == "shop"
        assert "latency_p95_ms 900 ms" in doc.text and "z-score over +20" in doc.text
        assert "team limit" in doc.text and "Past the team's baseline" in doc.text
    calm = services[windows[0]]
    assert calm.severity == "info" and "all 2 hosts within baselines" in calm.text
    assert "shop-1" in services[spike_windows[0]].text


def test_a_refetch_gives_the_same_ids(
    source: PrometheusSource, prometheus_server: PrometheusServer
) -> None:
    assert prometheus_server.history is not None
    start = prometheus_server.history.spike_start
    first = source.fetch(start, start + timedelta(minutes=20))
    again = source.fetch(start, start + timedelta(minutes=20))
    windows_of = [{d.id: d.text for d in f.documents if d.kind == "metric_window"}
                  for f in (first, again)]  # fmt: skip
    assert windows_of[0] == windows_of[1] and len(windows_of[0]) == 4 + 3  # services + spikes
    assert len({d.id for d in first.documents}) == len(first.documents)


def test_an_unaligned_range_stops_at_the_last_whole_window(
    source: PrometheusSource, prometheus_server: PrometheusServer
) -> None:
    assert prometheus_server.history is not None
    start = prometheus_server.history.spike_start + timedelta(minutes=1, seconds=30)
    fetched = source.fetch(start, start + timedelta(minutes=12))
    assert fetched.watermark == prometheus_server.history.spike_start + timedelta(minutes=10)
    short = source.fetch(start, start + timedelta(minutes=2))
    assert short.status == "no_data" and short.watermark is None


def test_alerts_and_rule_states(
    source: PrometheusSource, prometheus_server: PrometheusServer
) -> None:
    prometheus_server.wait_until(
        lambda: prometheus_server.api("/api/v1/alerts")["alerts"], what="the always-firing alert"
    )
    docs = source.alert_documents(datetime.now(UTC))
    alerts = [d for d in docs if d.title == "alert VigilTestAlwaysFiring"]
    assert len(alerts) == 1 and alerts[0].kind == "alert"
    assert alerts[0].severity == "critical" and alerts[0].service == "shop"
    assert "firing" in alerts[0].text and "A test alert that always fires." in alerts[0].text
    assert alerts[0].payload["value"] == 1.0
    rules = {d.title: d for d in docs if d.title.startswith("alert rule")}
    assert set(rules) == {"alert rule VigilTestAlwaysFiring", "alert rule ShopLatencyHigh"}
    assert rules["alert rule VigilTestAlwaysFiring"].payload["state"] == "firing"
    assert rules["alert rule ShopLatencyHigh"].payload["state"] == "inactive"
    assert "for 60s" in rules["alert rule ShopLatencyHigh"].text
    # a fetch carries them too, with the same ids each time
    assert prometheus_server.history is not None
    start = prometheus_server.history.spike_start
    ids = [{d.id for d in source.fetch(start, start + timedelta(minutes=5)).documents
            if d.kind == "alert"} for _ in range(2)]  # fmt: skip
    assert ids[0] == ids[1] and len(ids[0]) == 3


def test_query_range_and_frame(
    source: PrometheusSource, prometheus_server: PrometheusServer
) -> None:
    history = prometheus_server.history
    assert history is not None
    t0, t1 = history.spike_start, history.spike_start + timedelta(minutes=9)
    series = source.query_range("latency_p95_ms", t0, t1, host="shop-1")
    assert len(series) == 1 and series[0].service == "shop" and series[0].unit == "ms"
    assert series[0].values == [history.SPIKE_MS] * 10
    assert series[0].timestamps[0] == t0 and series[0].timestamps[-1] == t1
    assert source.query_range("no_such_metric", t0, t1) == []
    frame = source.frame(t0 - timedelta(minutes=2), t0 + timedelta(minutes=2))
    shop = frame[frame["service"] == "shop"]
    assert len(shop) == 10  # 5 timestamps x 2 hosts
    row = shop[(shop["host"] == "shop-2") & (shop["ts"] == t0)].iloc[0]
    assert row["latency_p95_ms"] == history.value("latency_p95_ms", "shop-2", t0)
    assert row["cpu_usage"] == history.value("cpu_usage", "shop-2", t0)
    before = shop[(shop["host"] == "shop-1") & (shop["ts"] < t0)]["latency_p95_ms"]
    assert (before < 200).all()
    assert source.metric_names()[0] == "cpu_usage" and source.unit("error_rate") == "%"


def test_the_demo_exporter_is_scraped(
    source: PrometheusSource, prometheus_server: PrometheusServer
) -> None:
    prometheus_server.wait_scraped("latency_p95_ms")
    hosts = source.hosts()
    assert {("checkout", "checkout-1"), ("batch", "conductor-3")} <= set(hosts)
    now = datetime.now(UTC) + timedelta(seconds=2)  # query times are rounded to the second
    series = source.query_range("cpu_usage", now - timedelta(seconds=30), now, step_s=1,
                                service="checkout")  # fmt: skip
    assert {s.host for s in series} == {"checkout-1", "checkout-2", "checkout-3"}
    assert all(0 <= v <= 100 for s in series for v in s.values)


def test_a_rejected_query_is_an_error_that_names_it(
    prometheus_server: PrometheusServer, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path, url=prometheus_server.url, queries=[{"name": "broken", "promql": "rate("}]
    )
    fetched = safe_fetch(src, datetime.now(UTC) - timedelta(minutes=10), datetime.now(UTC))
    assert fetched.status == "error" and fetched.watermark is None
    assert "'broken'" in fetched.reason and "sources.prometheus.queries" in fetched.reason


def test_no_series_is_no_data_with_progress(
    prometheus_server: PrometheusServer, tmp_path: Path
) -> None:
    src = make_source(tmp_path, url=prometheus_server.url, queries=SHOP, alerts=False)
    assert prometheus_server.history is not None
    end = prometheus_server.history.start - timedelta(hours=2)
    fetched = src.fetch(end - timedelta(minutes=30), end)
    assert fetched.status == "no_data" and fetched.watermark == end and not fetched.documents


# ----------------------------------------------------------------------------- the exporter


def test_exporter_serves_the_demo_world() -> None:
    start = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    world = DemoWorld(seed=3, start=start, clock=SimClock(start, speed=0))
    with serve(world) as exporter, urllib.request.urlopen(exporter.url, timeout=5) as response:
        text = response.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == set(world.metric_names())
    snapshot = world.snapshot(start)
    for sample in families["latency_p95_ms"].samples:
        key = (sample.labels["service"], sample.labels["host"])
        assert sample.value == pytest.approx(snapshot[key]["latency_p95_ms"])
    assert len(families["cpu_usage"].samples) == len(world.hosts())
    with pytest.raises(OSError):  # stopped: the port is closed
        urllib.request.urlopen(exporter.url, timeout=2)


# ----------------------------------------------------------------------------- the stand-in


def matrix(values: list[Any], host: str = "web-1") -> list[dict[str, Any]]:
    return [{"metric": {"__name__": "latency_p95_ms", "host": host, "service": "web"},
             "values": values}]  # fmt: skip


def test_basic_auth_is_sent(tmp_path: Path) -> None:
    expected = "Basic " + base64.b64encode(b"vigil:s3cret-pass").decode()
    with prometheus_api(PrometheusStandIn(require_auth=expected)) as api:
        src = make_source(tmp_path, url=api.url, username="vigil", password="s3cret-pass",
                          queries=SHOP[:1])  # fmt: skip
        assert src.health()[0]
        end = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
        assert src.fetch(end - timedelta(minutes=5), end).status == "no_data"
    paths = {r.path for r in api.requests}
    assert {"/api/v1/status/buildinfo", "/api/v1/query_range", "/api/v1/alerts"} <= paths
    assert all(r.headers.get("authorization") == expected for r in api.requests)


def test_bearer_token_is_sent_and_a_refusal_is_explained(tmp_path: Path) -> None:
    with prometheus_api(PrometheusStandIn(require_auth="Bearer tok-123")) as api:
        good = make_source(tmp_path, url=api.url, bearer_token="tok-123", queries=SHOP[:1])
        assert good.health()[0]
        assert api.requests[-1].headers["authorization"] == "Bearer tok-123"
        bad = make_source(tmp_path, url=api.url, bearer_token="wrong", queries=SHOP[:1])
        ok, reason = bad.health()
        assert not ok and "HTTP 401" in reason and "PROMETHEUS_BEARER_TOKEN" in reason
        fetched = bad.fetch(datetime.now(UTC) - timedelta(minutes=10), datetime.now(UTC))
        assert fetched.status == "error" and "401" in fetched.reason


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html>login</html>", "malformed"),
        (json.dumps({"status": "success", "data": {"result": "nope"}}).encode(), "not a list"),
        (json.dumps({"status": "success", "data": {"result": [{"x": 1}]}}).encode(), "malformed"),
        (json.dumps({"status": "success"}).encode(), "malformed"),
    ],
)
def test_malformed_answers_are_errors(tmp_path: Path, body: bytes, words: str) -> None:
    with prometheus_api(PrometheusStandIn(raw_body=body)) as api:
        src = make_source(tmp_path, url=api.url, queries=SHOP[:1])
        end = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
        fetched = safe_fetch(src, end - timedelta(minutes=10), end)
    assert fetched.status == "error" and words in fetched.reason
    assert "latency_p95_ms" in fetched.reason and "\n" not in fetched.reason


def test_nan_and_inf_points_are_skipped(tmp_path: Path) -> None:
    end = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    t = [int((end - timedelta(minutes=5 - i)).timestamp()) for i in range(5)]
    values: list[Any] = [
        [t[0], "100"],
        [t[1], "NaN"],
        [t[2], "+Inf"],
        [t[3], "120"],
        [t[4], "oops"],
        [7],
    ]
    with prometheus_api(PrometheusStandIn(matrix=matrix(values))) as api:
        src = make_source(tmp_path, url=api.url, queries=SHOP[:1], day_before=False)
        fetched = src.fetch(end - timedelta(minutes=5), end)
        series = src.query_range("latency_p95_ms", end - timedelta(minutes=5), end)
    assert fetched.status == "ok", fetched.reason
    (doc,) = [d for d in fetched.documents if d.title == "metrics web"]
    stats = doc.payload["metrics"]["latency_p95_ms"]
    assert stats["series"] == 1 and stats["median"] == 120 and stats["max"] == 120
    assert series[0].values == [100.0, 120.0]
    ranges = [r for r in api.requests if r.path == "/api/v1/query_range"]
    assert ranges[0].params["step"] == "60s"
    assert int(ranges[0].params["start"]) == int((end - timedelta(minutes=65)).timestamp())


def test_an_http_error_status_is_reported(tmp_path: Path) -> None:
    with prometheus_api(PrometheusStandIn(status=422)) as api:
        src = make_source(tmp_path, url=api.url, queries=SHOP[:1])
        ok, reason = src.health()
        fetched = src.fetch(datetime.now(UTC) - timedelta(minutes=10), datetime.now(UTC))
    assert not ok and "HTTP 422" in reason
    assert fetched.status == "error" and "422" in fetched.reason


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return self_signed(tmp_path_factory.mktemp("tls"), "127.0.0.1", ip=True)


def test_tls_with_a_ca_file(tmp_path: Path, certificate: tuple[str, str]) -> None:
    cert, key = certificate
    with prometheus_api(certfile=cert, keyfile=key) as api:
        assert api.url.startswith("https://")
        ok, reason = make_source(tmp_path, url=api.url, tls={"ca_file": cert}).health()
        assert ok, reason
        ok, reason = make_source(tmp_path, url=api.url).health()
        assert not ok and "tls.ca_file" in reason
        ok, reason = make_source(tmp_path, url=api.url, tls={"verify": False}).health()
        assert ok, reason


# ----------------------------------------------------------------------------- config


def test_config_from_the_environment_and_its_checks() -> None:
    config = with_env(
        "prometheus",
        PrometheusConfig(),
        {"PROMETHEUS_URL": "http://prom:9090/", "PROMETHEUS_BEARER_TOKEN": "tok-9f8e7d"},
    )
    assert isinstance(config, PrometheusConfig)
    assert config.url == "http://prom:9090" and config.bearer_token is not None
    assert "tok-9f8e7d" not in repr(config)
    names = {q.name for q in config.queries}
    assert {"latency_p95_ms", "error_rate", "cpu_usage", "java_heap_usage"} <= names
    with pytest.raises(ValidationError, match="not both"):
        PrometheusConfig.model_validate({"username": "u", "password": "p", "bearer_token": "t"})
    with pytest.raises(ValidationError, match="divisor of 5 minutes"):
        PrometheusConfig.model_validate({"step": "7s"})
    with pytest.raises(ValidationError, match="http"):
        PrometheusConfig(url="prom:9090")
    assert not PrometheusSource(PrometheusConfig(), _context()).configured()


def _context() -> SourceContext:
    return SourceContext(name="prometheus", state_dir=Path("."), redact=lambda s: s)
