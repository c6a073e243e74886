"""The Elasticsearch source against a real wire-compatible server (noida-db, ES 8.15 protocol),
with the official client, and against a loopback stand-in in front of it where a test needs an
answer the real server does not give (401, no point in time, malformed responses)."""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

from knowledge.documents import Document
from knowledge.redaction import Redactor
from knowledge.sources.base import Fetch, SourceContext, safe_fetch
from knowledge.sources.elasticsearch import (
    ElasticsearchConfig,
    ElasticsearchSource,
    level_of,
    lookup,
    parse_ts,
    window_of,
)
from knowledge.sources.registry import with_env
from tests.servers.elasticsearch import free_port, noida_binary, noida_elasticsearch
from tests.standins import elasticsearch_api
from tests.standins.elasticsearch_api import NO_HANDLER, UNAUTHORIZED, EsStandIn

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
WINDOWS = 6
END = T0 + WINDOWS * WINDOW
SERVICES = ("payments", "checkout", "search")
INDICES = ("logs-app-a", "logs-app-b")

# keyword (unique to the template), level as written in the documents, the message
TEMPLATES: tuple[tuple[str, str, Callable[[random.Random, Secrets], str]], ...] = (
    ("logged", "info", lambda r, s: f"user {s.email(r)} logged in from {s.ip(r)}"),
    (
        "declined",
        "ERROR",
        lambda r, s: (
            f"payment {r.randrange(10**6)} declined for card ending {r.randrange(10**4)}"
            " reason insufficient funds"
        ),
    ),
    (
        "timed",
        "warning",
        lambda r, s: f"connection to db-{r.randrange(4)} timed out after {r.randrange(999)} ms",
    ),
    ("answered", "INFO", lambda r, s: f"GET /api/items/{r.randrange(500)} answered 200"),
    ("refreshed", "INFO", lambda r, s: f"session refreshed token={s.token(r)} for {s.email(r)}"),
)


class Secrets:
    """Personal data and secrets put into messages, remembered to look for them afterwards."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def keep(self, value: str) -> str:
        self.values.add(value)
        return value

    def email(self, r: random.Random) -> str:
        return self.keep(f"{r.choice(['ana', 'bo', 'chen'])}{r.randrange(100)}@example.com")

    def ip(self, r: random.Random) -> str:
        return self.keep(f"10.{r.randrange(1, 250)}.{r.randrange(1, 250)}.{r.randrange(1, 250)}")

    def token(self, r: random.Random) -> str:
        return self.keep(
            "ghp_" + "".join(r.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(36))
        )


@dataclass
class Loaded:
    url: str
    counts: Counter[tuple[datetime, str, str]]  # (window, service, keyword) -> lines
    lines: int
    secrets: set[str]
    custom: Counter[tuple[str, str]]  # (service, host) -> lines in custom-app
    broken_good: int
    broken_bad: int


def _main_docs(secrets: Secrets) -> tuple[list[dict[str, Any]], Counter[tuple[datetime, str, str]]]:
    rand = random.Random(7)
    docs: list[dict[str, Any]] = []
    counts: Counter[tuple[datetime, str, str]] = Counter()
    for w in range(WINDOWS):
        w0 = T0 + w * WINDOW
        lines = [
            (service, keyword, level, make)
            for service in SERVICES
            for keyword, level, make in TEMPLATES
            for _ in range(rand.randrange(0, 40))
        ]
        # distinct milliseconds: the order of the lines, hence the patterns, is fully determined
        offsets = sorted(rand.sample(range(int(WINDOW.total_seconds() * 1000)), len(lines)))
        rand.shuffle(lines)
        for (service, keyword, level, make), offset in zip(lines, offsets, strict=True):
            ts = w0 + timedelta(milliseconds=offset)
            source: dict[str, Any] = {
                "@timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "message": make(rand, secrets),
                "service": {"name": service},
                "host": {"name": f"{service}-{rand.randrange(3)}"},
            }
            if rand.random() < 0.5:  # ECS nested and flat dotted keys both occur in the wild
                source["log"] = {"level": level}
            else:
                source["log.level"] = level
            docs.append({"_index": rand.choice(INDICES), "_source": source})
            counts[(w0, service, keyword)] += 1
    return docs, counts


def _custom_docs() -> tuple[list[dict[str, Any]], Counter[tuple[str, str]]]:
    docs: list[dict[str, Any]] = []
    counts: Counter[tuple[str, str]] = Counter()
    for i in range(60):
        service, host = ("ledger", "node-a") if i % 3 else ("auth", "node-b")
        source: dict[str, Any] = {
            "ts": (T0 + timedelta(seconds=7 * i)).isoformat(),
            "app": {"svc": service},
            "node": {"name": host},
            "sev": "error" if i % 5 == 0 else "info",
        }
        source["body" if i % 2 else "msg"] = f"ledger entry {i} posted for batch {i * 13}"
        docs.append({"_index": "custom-app", "_source": source})
        counts[(service, host)] += 1
    return docs, counts


def _broken_docs() -> tuple[list[dict[str, Any]], int, int]:
    good = [
        {"@timestamp": (T0 + timedelta(seconds=i)).isoformat(), "message": f"ok line {i}"}
        for i in range(20)
    ]
    bad: list[dict[str, Any]] = [
        {"@timestamp": (T0 + timedelta(seconds=30)).isoformat(), "service": {"name": "x"}},
        {"@timestamp": (T0 + timedelta(seconds=31)).isoformat(), "message": ""},
        {"@timestamp": (T0 + timedelta(seconds=32)).isoformat(), "message": {"text": "obj"}},
    ]
    # a message that is an object cannot share an index with string messages
    docs = [
        {"_index": "broken-obj" if i == len(good) + 2 else "broken-logs", "_source": s}
        for i, s in enumerate(good + bad)
    ]
    return docs, len(good), len(bad)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """noida-db on an ephemeral port, loaded with a few thousand log documents."""
    binary = noida_binary()
    if binary is None:
        pytest.skip("noida-db is not installed (pip install noida-db): no local Elasticsearch")
    with noida_elasticsearch(tmp_path_factory.mktemp("noida"), binary) as url:
        secrets = Secrets()
        main, counts = _main_docs(secrets)
        custom, custom_counts = _custom_docs()
        broken, good, bad = _broken_docs()
        with Elasticsearch(url) as es:
            ok, errors = helpers.bulk(es, main + custom + broken, refresh=True)
            assert ok == len(main) + len(custom) + len(broken) and not errors
        yield Loaded(url, counts, len(main), secrets.values, custom_counts, good, bad)


@pytest.fixture
def make(tmp_path: Path) -> Callable[..., ElasticsearchSource]:
    """A source with its state under ``tmp_path/<state>/elasticsearch``."""

    def build(state: str = "a", **config: Any) -> ElasticsearchSource:
        state_dir = tmp_path / state / "elasticsearch"
        state_dir.mkdir(parents=True, exist_ok=True)
        settings = {"indices": ["logs-app-*"], "page_size": 100, **config}
        context = SourceContext("elasticsearch", state_dir, Redactor().redact)
        return ElasticsearchSource(ElasticsearchConfig.model_validate(settings), context)

    return build


@pytest.fixture
def proxy(loaded: Loaded) -> Iterator[EsStandIn]:
    with elasticsearch_api.serve(loaded.url) as stand_in:
        yield stand_in


def keyword_of(document: Document) -> str:
    found = [k for k, _, _ in TEMPLATES if k in document.payload["template"]]
    assert len(found) == 1, document.payload["template"]
    return found[0]


def counts_of(documents: list[Document]) -> Counter[tuple[datetime, str, str]]:
    counts: Counter[tuple[datetime, str, str]] = Counter()
    for document in documents:
        counts[(document.ts, document.service, keyword_of(document))] += document.payload["count"]
    return counts


def fetch_all(source: ElasticsearchSource, start: datetime, end: datetime) -> Fetch:
    result = safe_fetch(source, start, end)
    assert result.status == "ok", result.reason
    return result


# ----------------------------------------------------------------------------- fetching


def test_fetch_with_point_in_time_counts_every_pattern_per_window(
    loaded: Loaded, proxy: EsStandIn, make: Callable[..., ElasticsearchSource]
) -> None:
    source = make(url=proxy.url)
    result = fetch_all(source, T0, END)
    assert result.watermark == END
    assert result.items == loaded.lines
    assert counts_of(result.documents) == loaded.counts
    assert result.vectors_from is not None and len(result.vectors_from) == len(result.documents)
    levels = {(keyword_of(d), d.payload["level"]) for d in result.documents}
    assert levels == {
        ("logged", "INFO"),
        ("declined", "ERROR"),
        ("timed", "WARN"),
        ("answered", "INFO"),
        ("refreshed", "INFO"),
    }
    assert all(d.host.startswith(d.service) for d in result.documents)
    # deep pagination over a point in time, which is closed at the end
    assert source.last is not None and source.last.pit
    searches = [r for r in proxy.requests if r.path.startswith("/_search")]
    assert len(searches) == loaded.lines // 100 + 1 == source.last.pages
    assert all(r.body["pit"]["id"] for r in searches)
    assert all("index" not in r.path for r in searches)
    assert [r.body["sort"][1] for r in searches[:1]] == [{"_shard_doc": "asc"}]
    assert sum("search_after" in r.body for r in searches) == len(searches) - 1
    assert [r.path.split("?")[0] for r in proxy.requests if r.path.startswith("/logs")] == [
        "/logs-app-*/_pit"
    ]
    assert [r.method for r in proxy.requests if r.path.startswith("/_pit")] == ["DELETE"]


def test_fallback_without_point_in_time_reads_the_same(
    loaded: Loaded, proxy: EsStandIn, make: Callable[..., ElasticsearchSource]
) -> None:
    reference = fetch_all(make("ref", url=loaded.url), T0, END)
    proxy.answer("POST", r"/_pit", 404, NO_HANDLER)
    source = make("b", url=proxy.url)
    result = fetch_all(source, T0, END)
    assert source.last is not None and not source.last.pit
    assert "without point in time" in result.reason
    assert counts_of(result.documents) == loaded.counts
    assert [d.id for d in result.documents] == [d.id for d in reference.documents]
    searches = [r for r in proxy.requests if "_search" in r.path]
    assert all(r.path.startswith("/logs-app-*/_search") for r in searches)
    assert all("pit" not in r.body and r.body["sort"][1] == {"_doc": "asc"} for r in searches)
    assert len(searches) > loaded.lines // 100
    # remembered: the next fetch does not ask for a point in time again
    pits = len(proxy.paths("POST"))
    assert result.commit is not None
    result.commit()
    assert safe_fetch(source, END, END + WINDOW).status == "no_data"
    assert [p for p in proxy.paths("POST")[pits:] if "_pit" in p] == []


def test_fallback_forced_by_config(
    loaded: Loaded, proxy: EsStandIn, make: Callable[..., ElasticsearchSource]
) -> None:
    result = fetch_all(make(url=proxy.url, point_in_time=False, page_size=250), T0, END)
    assert counts_of(result.documents) == loaded.counts
    assert not any("_pit" in p for p in proxy.paths())


def test_max_lines_per_fetch_stops_at_a_window_and_the_next_runs_continue(
    loaded: Loaded, make: Callable[..., ElasticsearchSource]
) -> None:
    budget = 700
    total: Counter[tuple[datetime, str, str]] = Counter()
    start, runs = T0, 0
    while start < END:
        source = make(url=loaded.url, max_lines_per_fetch=budget)  # a restart every run
        result = fetch_all(source, start, END)
        assert result.watermark is not None and start < result.watermark <= END
        assert window_of(result.watermark, WINDOW) == result.watermark
        if result.watermark < END:
            assert "the next run continues" in result.reason
            assert result.items >= budget
        assert {d.ts for d in result.documents} <= set(_windows(start, result.watermark))
        total += counts_of(result.documents)
        assert result.commit is not None
        result.commit()
        source.close()
        start, runs = result.watermark, runs + 1
    assert runs >= loaded.lines // budget
    assert total == loaded.counts


def test_a_slow_cluster_stops_at_a_window_within_the_timeout(
    loaded: Loaded, proxy: EsStandIn, make: Callable[..., ElasticsearchSource]
) -> None:
    proxy.delay_s = 0.05
    source = make(url=proxy.url, timeout="1s", page_size=50)  # stops after about 0.6 s
    result = fetch_all(source, T0, END)
    assert result.watermark is not None and T0 < result.watermark < END
    assert "of the timeout" in result.reason and "the next run continues" in result.reason
    assert {d.ts for d in result.documents} == set(_windows(T0, result.watermark))
    expected = Counter({k: v for k, v in loaded.counts.items() if k[0] < result.watermark})
    assert counts_of(result.documents) == expected


def _windows(start: datetime, end: datetime) -> list[datetime]:
    return [start + i * WINDOW for i in range(int((end - start) / WINDOW))]


def test_custom_field_names(loaded: Loaded, make: Callable[..., ElasticsearchSource]) -> None:
    fields = {
        "timestamp": "ts",
        "message": ["body", "msg"],
        "level": "sev",
        "service": "app.svc",
        "host": "node.name",
    }
    source = make(url=loaded.url, indices=["custom-*"], fields=fields, page_size=7)
    result = fetch_all(source, T0, END)
    assert result.items == sum(loaded.custom.values())
    found: Counter[tuple[str, str]] = Counter()
    for document in result.documents:
        assert "ledger entry" in document.payload["template"]
        found[(document.service, document.host)] += document.payload["count"]
    assert found == loaded.custom
    assert {d.payload["level"] for d in result.documents} == {"ERROR", "INFO"}


@pytest.mark.parametrize(
    "query", ["service.name:payments", {"match": {"service.name": "payments"}}]
)
def test_extra_query_filters(
    loaded: Loaded, make: Callable[..., ElasticsearchSource], query: str | dict[str, Any]
) -> None:
    result = fetch_all(make(url=loaded.url, query=query), T0, END)
    expected = Counter({k: v for k, v in loaded.counts.items() if k[1] == "payments"})
    assert counts_of(result.documents) == expected


def test_malformed_hits_are_skipped_and_counted(
    loaded: Loaded, make: Callable[..., ElasticsearchSource]
) -> None:
    source = make(url=loaded.url, indices=["broken-*"])
    result = fetch_all(source, T0, END)
    assert result.items == loaded.broken_good
    assert source.last is not None and source.last.skipped == loaded.broken_bad
    assert f"skipped {loaded.broken_bad} hits" in result.reason
    assert sum(d.payload["count"] for d in result.documents) == loaded.broken_good


@pytest.mark.parametrize(
    ("body", "expected"),
    [({"took": 1, "hits": {"total": 3}}, "no hits.hits list"), (b"<html>oops</html>", "")],
)
def test_malformed_response_is_an_error(
    loaded: Loaded,
    proxy: EsStandIn,
    make: Callable[..., ElasticsearchSource],
    body: Any,
    expected: str,
) -> None:
    proxy.answer("POST", r"^/_search", 200, body, after=2)
    source = make(url=proxy.url)
    result = safe_fetch(source, T0, END)
    assert result.status == "error"
    assert "malformed response from Elasticsearch" in result.reason and expected in result.reason
    assert "\n" not in result.reason
    assert [r.method for r in proxy.requests if r.path.startswith("/_pit")] == ["DELETE"]


def test_replay_after_rollback_gives_the_same_documents(
    loaded: Loaded, proxy: EsStandIn, make: Callable[..., ElasticsearchSource]
) -> None:
    reference = fetch_all(make("ref", url=loaded.url, page_size=250), T0, END)
    source = make(url=proxy.url, page_size=250)
    # a fetch whose store write failed: never committed, then the same range again
    first = fetch_all(source, T0, END)
    again = fetch_all(source, T0, END)
    assert [d.id for d in again.documents] == [d.id for d in first.documents]
    assert counts_of(again.documents) == loaded.counts
    # a fetch that fails half way (a 500 on the fifth page), then succeeds
    proxy.answer("POST", r"^/_search", 500, {"error": "boom", "status": 500}, after=4)
    failed = safe_fetch(source, T0, END)
    assert failed.status == "error" and "answered 500" in failed.reason
    proxy.rules.clear()
    retried = fetch_all(source, T0, END)
    assert [d.id for d in retried.documents] == [d.id for d in reference.documents]
    assert [d.text for d in retried.documents] == [d.text for d in reference.documents]
    assert retried.commit is not None
    retried.commit()
    assert (source.context.state_dir / "logminer.state").exists()


def test_documents_hold_no_personal_data_or_secrets(
    loaded: Loaded, make: Callable[..., ElasticsearchSource]
) -> None:
    result = fetch_all(make(url=loaded.url), T0, END)
    text = json.dumps([[d.text, d.title, d.payload] for d in result.documents])
    assert not [value for value in loaded.secrets if value in text]
    assert "[REDACTED:email]" in text and "[REDACTED:" in text.replace("[REDACTED:email]", "")
    examples = [e for d in result.documents for e in d.payload["examples"]]
    assert examples and any("logged in from [REDACTED:ip]" in e for e in examples)


def test_wildcard_matching_nothing_is_no_data(
    loaded: Loaded, make: Callable[..., ElasticsearchSource]
) -> None:
    result = safe_fetch(make(url=loaded.url, indices=["nothing-*"]), T0, END)
    assert result.status == "no_data" and result.watermark == END
    empty = safe_fetch(make("b", url=loaded.url), END, END + WINDOW)
    assert empty.status == "no_data" and empty.watermark == END + WINDOW


def test_missing_index_is_an_error(
    loaded: Loaded, make: Callable[..., ElasticsearchSource]
) -> None:
    result = safe_fetch(make(url=loaded.url, indices=["no-such-index"]), T0, END)
    assert result.status == "error"
    assert result.reason.startswith("index missing") and "no-such-index" in result.reason


def test_connection_refused_is_an_error(make: Callable[..., ElasticsearchSource]) -> None:
    source = make(url=f"http://127.0.0.1:{free_port()}")
    result = safe_fetch(source, T0, END)
    assert result.status == "error"
    assert "connection refused" in result.reason and "ELASTICSEARCH_URL" in result.reason
    ok, reason = source.health()
    assert not ok and "cannot reach Elasticsearch" in reason


# ----------------------------------------------------------------------------- health and auth


def test_health_ok_names_version_and_patterns(
    loaded: Loaded, make: Callable[..., ElasticsearchSource]
) -> None:
    ok, reason = make(url=loaded.url, indices=["logs-app-*", "custom-*"]).health()
    assert ok and "8.15" in reason and "logs-app-*, custom-*" in reason


def test_health_says_which_patterns_match_nothing(
    loaded: Loaded, make: Callable[..., ElasticsearchSource]
) -> None:
    ok, reason = make(url=loaded.url, indices=["logs-app-*", "nothing-*"]).health()
    assert ok and "nothing-* matched nothing" in reason
    ok, reason = make(url=loaded.url, indices=["nothing-*", "gone"]).health()
    assert not ok and "no index matches nothing-*, gone" in reason


def test_wrong_credentials_are_named(
    proxy: EsStandIn, make: Callable[..., ElasticsearchSource]
) -> None:
    proxy.answer("*", ".", 401, UNAUTHORIZED)
    source = make(url=proxy.url, username="vigil", password="wrong")
    ok, reason = source.health()
    assert not ok and "rejected the credentials (401" in reason
    assert "ELASTICSEARCH_USERNAME" in reason and "wrong" not in reason
    result = safe_fetch(source, T0, END)
    assert result.status == "error" and "rejected the credentials" in result.reason


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"api_key": "key-id:key-secret"},
            "ApiKey " + base64.b64encode(b"key-id:key-secret").decode(),
        ),
        ({"api_key": "a2V5LWlkOmtleS1zZWNyZXQ="}, "ApiKey a2V5LWlkOmtleS1zZWNyZXQ="),
        (
            {"username": "vigil", "password": "s3cret"},
            "Basic " + base64.b64encode(b"vigil:s3cret").decode(),
        ),
    ],
)
def test_credentials_are_sent(
    proxy: EsStandIn,
    make: Callable[..., ElasticsearchSource],
    config: dict[str, str],
    expected: str,
) -> None:
    source = make(url=proxy.url, **config)
    assert source.health()[0]
    assert safe_fetch(source, T0, T0 + WINDOW).status == "ok"
    assert len(proxy.requests) >= 4
    assert {r.headers.get("authorization") for r in proxy.requests} == {expected}


def test_config_from_environment_and_not_configured(
    make: Callable[..., ElasticsearchSource],
) -> None:
    env = {"ELASTICSEARCH_URL": "http://es:9200", "ELASTICSEARCH_API_KEY": "k"}
    config = with_env("elasticsearch", ElasticsearchConfig(), env)
    assert isinstance(config, ElasticsearchConfig)
    assert config.url == "http://es:9200" and config.api_key is not None
    assert "k" not in repr(config.api_key)
    source = make()
    assert not source.configured()
    assert safe_fetch(source, T0, END).status == "error"
    assert not source.health()[0]


# ----------------------------------------------------------------------------- mapping helpers


def test_lookup_reads_nested_flat_and_mixed_paths() -> None:
    doc = {"log.level": "warn", "service": {"name": "a"}, "k8s": {"pod.name": "p"}}
    assert lookup(doc, "log.level") == "warn"
    assert lookup(doc, "service.name") == "a"
    assert lookup(doc, "k8s.pod.name") == "p"
    assert lookup(doc, "host.name") is None


def test_levels_and_timestamps() -> None:
    assert [level_of(v) for v in ["warning", "ERR", "3", "crit", "debug", "weird", None]] == [
        "WARN",
        "ERROR",
        "ERROR",
        "FATAL",
        "DEBUG",
        "",
        "",
    ]
    nanos = parse_ts("2026-03-02T10:00:01.123456789Z")
    assert nanos == datetime(2026, 3, 2, 10, 0, 1, 123456, tzinfo=UTC)
    assert parse_ts(1772445601000) == datetime(2026, 3, 2, 10, 0, 1, tzinfo=UTC)
    assert parse_ts("2026-03-02 10:00:01") == datetime(2026, 3, 2, 10, 0, 1, tzinfo=UTC)
    assert parse_ts("yesterday") is None
