"""The Jaeger source against a loopback stand-in of Jaeger's query HTTP API."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from knowledge.documents import Document
from knowledge.redaction import Redactor
from knowledge.sources.base import Fetch, SourceContext, safe_fetch
from knowledge.sources.jaeger import JaegerConfig, JaegerSource, parse_trace
from knowledge.sources.registry import SourcesConfig, with_env
from tests.standins import jaeger_api
from tests.standins.jaeger_api import JaegerStandIn, span, us

W0 = datetime(2024, 5, 14, 10, 0, tzinfo=UTC)
W1 = W0 + timedelta(minutes=5)
W2 = W0 + timedelta(minutes=10)
TOKEN = "jaeger-test-token-1234567890"
SECRET_EMAIL = "jane.doe@example.com"
SECRET_TOKEN = "sk_live_abcdefghijklmnop1234"
URL_TOKEN = "abcd1234efgh5678"

NORMAL_MS = [100 + i for i in range(60)]
SLOW_MS = [900, 950]
FAILING = 5


def nearest_rank(values: Sequence[float], q: float) -> float:
    """Independent of the source: the value at rank ceil(q * n)."""
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


def pay(root_ms: float, at: datetime, jaeger: JaegerStandIn) -> None:
    """api-gateway GET /pay -> payments POST /charge -> payments SELECT accounts."""
    statement = f"SELECT * FROM accounts WHERE email = '{SECRET_EMAIL}'"
    jaeger.add(
        span(
            "api-gateway",
            "GET /pay",
            root_ms,
            span(
                "payments",
                "POST /charge",
                root_ms - 50,
                span(
                    "payments",
                    "SELECT accounts",
                    root_ms - 100,
                    at=5,
                    tags={"db.statement": statement, "db.system": "postgresql"},
                    host="pay-db-1",
                ),
                at=20,
                host="pay-1",
            ),
            host="gw-1",
        ),
        at,
    )


def failing(at: datetime, jaeger: JaegerStandIn) -> None:
    url = f"https://cards.example.com/charge?token={URL_TOKEN}"
    jaeger.add(
        span(
            "api-gateway",
            "GET /pay",
            80,
            span(
                "payments",
                "POST /charge",
                30,
                at=10,
                error=f"card processor timeout (key {SECRET_TOKEN})",
                tags={"http.url": url},
                host="pay-2",
            ),
            tags={"http.status_code": 502},
            host="gw-1",
        ),
        at,
    )


def orders(at: datetime, jaeger: JaegerStandIn) -> None:
    jaeger.add(
        span("orders", "GET /orders", 50, span("inventory", "GET /stock", 20, at=10)),
        at,
    )


def world(jaeger: JaegerStandIn, slow_at_s: float = 200) -> None:
    """Window 1: 60 normal, 2 slow and 5 failing payments; window 2: 10 orders."""
    for i, ms in enumerate(NORMAL_MS):
        pay(ms, W0 + timedelta(seconds=2 + i * 4), jaeger)
    for i, ms in enumerate(SLOW_MS):
        pay(ms, W0 + timedelta(seconds=slow_at_s + i), jaeger)
    for i in range(FAILING):
        failing(W0 + timedelta(seconds=30 + i * 7), jaeger)
    for i in range(10):
        orders(W1 + timedelta(seconds=10 + i * 20), jaeger)


@pytest.fixture
def jaeger() -> Iterator[JaegerStandIn]:
    with jaeger_api.serve(token=TOKEN) as stand_in:
        world(stand_in)
        yield stand_in


Make = Callable[..., JaegerSource]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Make]:
    """Build sources (``make(url, **config)``); all are closed after the test."""
    built: list[JaegerSource] = []

    def build(url: str, **settings: Any) -> JaegerSource:
        config = JaegerConfig.model_validate({"url": url, "bearer_token": TOKEN, **settings})
        context = SourceContext(name="jaeger", state_dir=tmp_path, redact=Redactor().redact)
        built.append(JaegerSource(config, context))
        return built[-1]

    yield build
    for source in built:
        source.close()


@pytest.fixture
def source(jaeger: JaegerStandIn, make: Make) -> JaegerSource:
    return make(jaeger.url)


def docs_of(fetch: Fetch, label: str) -> list[Document]:
    return [d for d in fetch.documents if d.title.startswith(f"traces {label} ")]


def one(docs: list[Document], **fields: Any) -> Document:
    found = [d for d in docs if all(d.payload.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, [d.title for d in docs]
    return found[0]


# ----------------------------------------------------------------------------- documents


def test_slow_traces_name_the_culprit_span_and_the_p95(source: JaegerSource) -> None:
    fetch = safe_fetch(source, W0, W2)
    assert fetch.status == "ok", fetch.reason
    assert fetch.watermark == W2
    roots = NORMAL_MS + SLOW_MS + [80] * FAILING
    p95 = nearest_rank(roots, 0.95)

    slow = docs_of(fetch, "slow")
    assert len(slow) == 1
    doc = slow[0]
    assert (doc.service, doc.payload["operation"]) == ("payments", "SELECT accounts")
    assert doc.ts == W0 and doc.host == "pay-db-1" and doc.kind == "trace_path"
    assert doc.payload["slow"] == len(SLOW_MS)
    assert doc.payload["root_operations"]["api-gateway GET /pay"] == {
        "p95_ms": p95,
        "traces": len(roots),
        "slow": len(SLOW_MS),
    }
    assert f"p95 {p95:.0f}ms over {len(roots)} traces" in doc.text
    assert f"{max(SLOW_MS)}ms at worst" in doc.text
    assert "10:00–10:05 UTC on 2024-05-14" in doc.text


def test_the_critical_path_of_the_slowest_trace(source: JaegerSource) -> None:
    fetch = safe_fetch(source, W0, W2)
    (doc,) = docs_of(fetch, "critical-path")
    worst = max(SLOW_MS)
    assert (
        f"api-gateway GET /pay {worst}ms → payments POST /charge {worst - 50}ms → "
        f"payments SELECT accounts {worst - 100}ms"
    ) in doc.text
    assert [hop["service"] for hop in doc.payload["path"]] == [
        "api-gateway",
        "payments",
        "payments",
    ]
    assert doc.payload["duration_ms"] == worst


def test_error_spans_grouped_with_their_message_and_origin(source: JaegerSource) -> None:
    fetch = safe_fetch(source, W0, W2)
    errors = docs_of(fetch, "errors")
    charge = one(errors, service="payments", operation="POST /charge")
    assert charge.payload["errors"] == FAILING
    assert charge.payload["calls"] == len(NORMAL_MS) + len(SLOW_MS) + FAILING
    assert "card processor timeout" in charge.text
    assert f"({FAILING}x)" in charge.text and "start here" in charge.text
    gateway = one(errors, service="api-gateway", operation="GET /pay")
    assert gateway.payload["caused_by"] == {"payments POST /charge": FAILING}
    assert "Propagated from failing payments POST /charge" in gateway.text
    assert "HTTP 502" in gateway.text


def test_one_operations_document_per_service_and_window(source: JaegerSource) -> None:
    fetch = safe_fetch(source, W0, W2)
    ops = docs_of(fetch, "operations")
    assert sorted((d.service, d.ts) for d in ops) == [
        ("api-gateway", W0),
        ("inventory", W1),
        ("orders", W1),
        ("payments", W0),
    ]
    payments = next(d for d in ops if d.service == "payments")
    select = [ms - 100 for ms in NORMAL_MS + SLOW_MS]
    numbers = payments.payload["operations"]["SELECT accounts"]
    assert numbers["calls"] == len(select)
    assert numbers["p50_ms"] == nearest_rank(select, 0.5)
    assert numbers["p95_ms"] == nearest_rank(select, 0.95)
    assert payments.payload["operations"]["POST /charge"]["errors"] == FAILING
    assert f"SELECT accounts {len(select)} calls p50" in payments.text
    # embedded from a description that does not change with the counts
    about = fetch.vectors_from[fetch.documents.index(payments)]  # type: ignore[index]
    assert "POST /charge" in about and "SELECT accounts" in about and "calls p50" not in about


def test_refetch_gives_the_same_ids(jaeger: JaegerStandIn, source: JaegerSource) -> None:
    first = safe_fetch(source, W0, W2)
    second = safe_fetch(source, W0, W2)
    ids = [d.id for d in first.documents]
    assert len(ids) == len(set(ids))
    assert ids == [d.id for d in second.documents]
    assert [d.text for d in first.documents] == [d.text for d in second.documents]
    assert first.items == sum(len(t["spans"]) for t in jaeger.traces)


def test_ids_stay_when_counts_change(jaeger: JaegerStandIn, source: JaegerSource) -> None:
    before = {d.title: d for d in safe_fetch(source, W0, W2).documents}
    orders(W1 + timedelta(seconds=250), jaeger)  # a late trace lands in window 2
    after = {d.title: d for d in safe_fetch(source, W0, W2).documents}
    title = "traces operations orders"
    assert after[title].id == before[title].id
    assert after[title].text != before[title].text


def test_requests_carry_the_token_and_the_window_in_microseconds(
    jaeger: JaegerStandIn, source: JaegerSource
) -> None:
    safe_fetch(source, W0, W2)
    assert {r.headers.get("authorization") for r in jaeger.requests} == {f"Bearer {TOKEN}"}
    searched = {r.query["service"] for r in jaeger.searches()}
    assert searched == {"api-gateway", "payments", "orders", "inventory"}  # not jaeger-query
    windows = sorted({(r.query["start"], r.query["end"]) for r in jaeger.searches("payments")})
    assert windows == [(str(us(W0)), str(us(W1))), (str(us(W1)), str(us(W2)))]
    assert {r.query["limit"] for r in jaeger.searches()} == {"200"}
    assert us(W0) == int(W0.timestamp()) * 1_000_000


def test_a_full_search_fetches_the_slow_traces_the_sample_missed(
    jaeger: JaegerStandIn, make: Make
) -> None:
    # the stand-in answers newest first: with a limit of 20 the early slow traces are not in it
    jaeger.traces.clear()
    world(jaeger, slow_at_s=1)
    source = make(jaeger.url, limit=20)
    fetch = safe_fetch(source, W0, W2)
    assert fetch.status == "ok", fetch.reason
    extra = [r for r in jaeger.searches("payments") if "minDuration" in r.query]
    assert extra and all(r.query["minDuration"].endswith("us") for r in extra)
    (slow,) = docs_of(fetch, "slow")
    assert slow.payload["slow"] == len(SLOW_MS)
    payments = next(d for d in docs_of(fetch, "operations") if d.service == "payments")
    assert payments.payload["sampled"] and "counts are a sample" in payments.text
    orders_doc = next(d for d in docs_of(fetch, "operations") if d.service == "orders")
    assert not orders_doc.payload["sampled"] and "sample" not in orders_doc.text


def test_secrets_in_statements_urls_and_messages_are_redacted(source: JaegerSource) -> None:
    fetch = safe_fetch(source, W0, W2)
    everything = json.dumps(
        [[d.text, d.title, d.payload, d.host, d.service] for d in fetch.documents]
        + [fetch.vectors_from]
    )
    for secret in (SECRET_EMAIL, SECRET_TOKEN, URL_TOKEN):
        assert secret not in everything
    (slow,) = docs_of(fetch, "slow")
    assert "Query: SELECT * FROM accounts WHERE email = '[REDACTED:email]'" in slow.text
    charge = one(docs_of(fetch, "errors"), service="payments")
    assert "URL: https://cards.example.com/charge?token=[REDACTED:token]" in charge.text


# ----------------------------------------------------------------------------- health, outages


def test_health_lists_the_services(jaeger: JaegerStandIn, source: JaegerSource, make: Make) -> None:
    ok, reason = source.health()
    assert ok, reason
    assert "4 services" in reason and "jaeger-query" not in reason
    ok, reason = make(jaeger.url.removeprefix("http://") + "/").health()  # no scheme: http
    assert ok, reason


def test_health_names_configured_services_jaeger_does_not_list(
    jaeger: JaegerStandIn, make: Make
) -> None:
    ok, reason = make(jaeger.url, services=["orders", "billing"]).health()
    assert ok and "not listed (no traces yet?): billing" in reason
    assert [r.path for r in jaeger.requests] == ["/api/services"]


def test_health_of_something_that_is_not_jaeger(jaeger: JaegerStandIn, make: Make) -> None:
    ok, reason = make(jaeger.url + "/prometheus").health()
    assert not ok and "HTTP 404" in reason and "Jaeger query service" in reason
    jaeger.traces.clear()
    jaeger.own_services = ("jaeger-query",)
    ok, reason = make(jaeger.url).health()
    assert not ok and "lists no services" in reason


def test_an_unreadable_ca_file_is_a_clear_error(
    jaeger: JaegerStandIn, make: Make, tmp_path: Path
) -> None:
    source = make(jaeger.url, tls={"ca_file": str(tmp_path / "missing.pem")})
    ok, reason = source.health()
    assert not ok and "tls.ca_file" in reason and "PEM" in reason
    assert safe_fetch(source, W0, W2).status == "error"


def test_health_and_fetch_with_a_wrong_token(jaeger: JaegerStandIn, make: Make) -> None:
    source = make(jaeger.url, bearer_token="wrong-token-123456")
    ok, reason = source.health()
    assert not ok and "HTTP 401" in reason and "JAEGER_BEARER_TOKEN" in reason
    fetch = safe_fetch(source, W0, W2)
    assert fetch.status == "error" and "JAEGER_BEARER_TOKEN" in fetch.reason
    assert "wrong-token" not in fetch.reason


def test_connection_refused(make: Make) -> None:
    with jaeger_api.serve() as gone:
        url = gone.url
    source = make(url)
    ok, reason = source.health()
    assert not ok and "cannot reach Jaeger" in reason and url in reason
    fetch = safe_fetch(source, W0, W2)
    assert fetch.status == "error" and fetch.watermark is None
    assert "is it running and is JAEGER_URL right?" in fetch.reason


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"fail_status": 500}, "HTTP 500: stand-in failure"),
        ({"raw_body": b"<html>not json"}, "not JSON"),
        ({"raw_body": b'{"services": []}'}, "not Jaeger's"),
        ({"raw_body": b'{"data": {"a": 1}}'}, "not a list"),
        ({"fail_service": "payments"}, "service 'payments'"),
    ],
)
def test_outages_give_an_error_fetch_with_a_reason(
    jaeger: JaegerStandIn, source: JaegerSource, settings: dict[str, Any], expected: str
) -> None:
    for key, value in settings.items():
        setattr(jaeger, key, value)
    fetch = safe_fetch(source, W0, W2)
    assert fetch.status == "error" and not fetch.documents and fetch.watermark is None
    assert expected in fetch.reason
    assert "\n" not in fetch.reason


def test_a_hanging_jaeger_times_out(jaeger: JaegerStandIn, make: Make) -> None:
    jaeger.delay_s = 5
    source = make(jaeger.url, request_timeout="200ms")
    fetch = safe_fetch(source, W0, W2)
    assert fetch.status == "error" and "did not answer /api/services within 0.2s" in fetch.reason
    ok, reason = source.health()
    assert not ok and "request_timeout" in reason


def test_a_service_search_failing_names_the_service(
    jaeger: JaegerStandIn, source: JaegerSource
) -> None:
    jaeger.fail_service = "orders"
    fetch = safe_fetch(source, W0, W2)
    assert fetch.status == "error"
    assert fetch.reason.startswith("Jaeger service 'orders':")
    assert "storage error reading orders" in fetch.reason


# ----------------------------------------------------------------------------- shapes and ranges


def test_malformed_spans_and_traces_are_skipped_and_counted(
    jaeger: JaegerStandIn, source: JaegerSource
) -> None:
    bad = jaeger_api.build_trace(span("orders", "GET /orders", 40), W1 + timedelta(seconds=5))
    bad["spans"].append({"spanID": "ff", "processID": "p1", "duration": 5})  # no startTime
    bad["spans"].append({**bad["spans"][0], "spanID": "fe", "processID": "p9"})  # no process
    bad["spans"].append("not a span")
    jaeger.traces.append(bad)
    jaeger.junk = [{"traceID": "abc", "spans": "nope"}, ["not", "a", "trace"]]
    fetch = safe_fetch(source, W0, W2)
    assert fetch.status == "ok"
    # 3 bad spans in one trace (found by one search), 2 bad traces in each of the 8 searches
    skipped = 3 + 2 * len(jaeger.searches())
    assert f"skipped {skipped} malformed spans or traces" in fetch.reason
    orders_doc = next(d for d in docs_of(fetch, "operations") if d.service == "orders")
    assert orders_doc.payload["operations"]["GET /orders"]["calls"] == 11


def test_parse_trace_reads_errors_and_hosts() -> None:
    trace = {
        "traceID": "t1",
        "spans": [
            {
                "traceID": "t1",
                "spanID": "a",
                "operationName": "GET /x",
                "references": [],
                "startTime": us(W0),
                "duration": 1500,
                "tags": [{"key": "http.status_code", "type": "string", "value": "503"}],
                "processID": "p1",
            },
            {
                "traceID": "t1",
                "spanID": "b",
                "operationName": "call",
                "references": [{"refType": "CHILD_OF", "traceID": "t1", "spanID": "a"}],
                "startTime": us(W0) + 100,
                "duration": 1000,
                "tags": [
                    {"key": "otel.status_code", "type": "string", "value": "ERROR"},
                    {"key": "otel.status_description", "type": "string", "value": "boom"},
                ],
                "processID": "p2",
            },
        ],
        "processes": {
            "p1": {"serviceName": "web", "tags": [{"key": "host.name", "value": "web-7"}]},
            "p2": {"serviceName": "api", "tags": [{"key": "ip", "value": "10.1.2.3"}]},
        },
    }
    parsed, skipped = parse_trace(trace)
    assert parsed is not None and skipped == 0
    a, b = parsed.spans
    assert parsed.root is a and a.start == W0 and a.duration_ms == 1.5
    assert (a.status, a.host, b.status, b.host, b.parent_id) == (
        "error",
        "web-7",
        "error",
        "10.1.2.3",
        "a",
    )
    assert b.tags["error.message"] == "boom"
    assert parse_trace(["not", "a", "trace"]) == (None, 1)


def test_a_range_without_a_whole_window_is_no_data(source: JaegerSource) -> None:
    start = W0 + timedelta(minutes=1)
    fetch = safe_fetch(source, start, start + timedelta(minutes=3))
    assert fetch.status == "no_data" and fetch.watermark == start


def test_a_quiet_window_is_no_data_up_to_its_end(source: JaegerSource) -> None:
    later = W2 + timedelta(hours=1)
    fetch = safe_fetch(source, later, later + timedelta(minutes=5))
    assert fetch.status == "no_data" and fetch.watermark == later + timedelta(minutes=5)


def test_configured_services_skip_the_listing(jaeger: JaegerStandIn, make: Make) -> None:
    source = make(jaeger.url, services=["orders"])
    fetch = safe_fetch(source, W0, W2)
    assert {r.query["service"] for r in jaeger.searches()} == {"orders"}
    assert not [r for r in jaeger.requests if r.path == "/api/services"]
    assert {d.service for d in docs_of(fetch, "operations")} == {"orders"}


def test_env_fills_url_and_token() -> None:
    config = with_env(
        "jaeger",
        SourcesConfig().jaeger,
        {"JAEGER_URL": "http://jaeger:16686", "JAEGER_BEARER_TOKEN": "t0ken-value"},
    )
    assert isinstance(config, JaegerConfig)
    assert config.url == "http://jaeger:16686"
    assert config.bearer_token is not None
    assert config.bearer_token.get_secret_value() == "t0ken-value"
    assert "t0ken-value" not in repr(config)


def test_the_stand_in_honours_the_search_filters(jaeger: JaegerStandIn) -> None:
    def search(**query: Any) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        answer = httpx.get(f"{jaeger.url}/api/traces", params=query, headers=headers)
        assert answer.status_code == 200
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    window = {"start": us(W0), "end": us(W1)}
    assert len(search(service="payments", **window)) == 67
    assert len(search(service="payments", limit=7, **window)) == 7
    slow = search(service="api-gateway", minDuration="0.9s", **window)
    assert sorted(max(s["duration"] for s in t["spans"]) for t in slow) == [900_000, 950_000]
    assert search(service="orders", **window) == []
    assert len(search(service="payments", operation="SELECT accounts", **window)) == 62
    trace_id = slow[0]["traceID"]
    one_trace = httpx.get(
        f"{jaeger.url}/api/traces/{trace_id}", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()
    assert one_trace["data"][0]["traceID"] == trace_id and one_trace["errors"] is None
