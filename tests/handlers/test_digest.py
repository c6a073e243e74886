"""Digests on the demo world: known incidents named with their services, hosts and durations;
a quiet period in one short line; error patterns from the store or the logs; the chat command."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.config import AIConfigFile
from handlers import alertbook, digest
from handlers.alertbook import AlertBook
from handlers.deps import Deps
from handlers.digest import DigestOptions, build, parse_args
from handlers.digest_data import ServiceKey
from handlers.digest_logs import PatternCount, pattern_signals
from handlers.types import Chart, ChatRequest, Context, Fields, Section, Table
from knowledge.answer import Answerer
from knowledge.config import LLMConfig, PrivacyConfig, PromptsConfig
from knowledge.demo import DemoWorld
from knowledge.demo.incidents import Incident
from knowledge.demo.world import SimClock
from knowledge.documents import Document
from knowledge.embeddings import Embedder
from knowledge.redaction import Redactor
from knowledge.retrieval import Retriever
from knowledge.store import KnowledgeStore
from knowledge.timeparse import format_duration
from tests.handlers.test_alertbook import detection

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # a Monday; the demo's first incident at 06:06
END = T0 + timedelta(hours=4)
ZONE = "America/New_York"  # UTC-5 in November: every time shown moves by five hours
ANALYSIS = AIConfigFile.model_validate(
    yaml.safe_load((Path(__file__).parents[2] / "data_config" / "ai-config.yml").read_text())
).analysis  # the shipped baselines: p95 latency under 200 ms, error rate under 1 %


def _section(reply: object, title: str) -> str:
    parts = getattr(reply, "parts", ())
    return next(p.text for p in parts if isinstance(p, Section) and p.title == title)


def _world(at: datetime) -> DemoWorld:
    world = DemoWorld(seed=42, start=T0)
    world.clock = SimClock(at, speed=0)
    return world


def _drive(world: DemoWorld, book: AlertBook, end: datetime) -> list[Incident]:
    """Detections every minute while each ground-truth incident lasts; the gc_pressure one is
    resolved by hand as it ends, the network_congestion on payments acknowledged."""
    incidents = world.incidents(T0, end)
    t = T0
    while t <= end:
        found = [
            replace(
                detection(0, service=i.service, host=i.host, anomaly_type=i.type, score=0.9),
                at=t,
                since=i.start,
            )
            for i in incidents
            if i.start <= t <= i.end
        ]
        book.update(found, t)
        for alert in book.active():
            if alert.anomaly_type == "gc_pressure" and t >= alert.started + timedelta(minutes=30):
                book.resolve(alert.id, "ana", t)
            if alert.anomaly_type == "network_congestion" and alert.service == "payments":
                book.ack(alert.id, "bob", t)
        t += timedelta(minutes=1)
    return incidents


@pytest.fixture(scope="module")
def busy() -> tuple[list[Incident], Deps]:
    world = _world(END)
    book = AlertBook()
    incidents = _drive(world, book, END)
    return incidents, Deps(analysis=ANALYSIS, telemetry=world, alerts=book)


async def test_a_digest_names_the_incidents_with_services_hosts_and_durations(
    busy: tuple[list[Incident], Deps],
) -> None:
    incidents, deps = busy
    assert len(incidents) == 7  # ground truth: 06:06 to 10:23, the last one still going at 10:00
    reply = await build("ops", DigestOptions(timezone=ZONE), deps, T0, END)
    assert reply.text.startswith("Digest for #ops, Mon 01:00 – Mon 05:00 EST: 7 alerts (")
    assert "1 still open" in reply.text
    alerts = _section(reply, "Alerts")
    zone = ZoneInfo(ZONE)
    for incident in incidents:
        line = next(x for x in alerts.splitlines() if f"{incident.type} on {incident.host} " in x)
        assert f"from {incident.start.astimezone(zone):%H:%M}," in line
        if incident.end <= END:
            assert f"after {format_duration(incident.end - incident.start)}" in line, line
        else:
            assert f"still open for {format_duration(END - incident.start)}" in line
        assert alerts.index(f"{incident.service} (") < alerts.index(line)  # grouped by service
    assert "resolved by ana after 30m" in alerts  # the gc_pressure one, by hand
    assert "resolved by the model after 12m" in alerts  # inc-0001, connection pool, 12 minutes
    assert "acknowledged by bob" in alerts
    attention = _section(reply, "Needs attention")
    open_one = incidents[-1]
    assert f"inventory/{open_one.host}: {open_one.type}: open for 3m, not acknowledged" in attention
    assert "inventory: latency_p95_ms at" in attention  # still past its baseline at the end
    anomalies = _section(reply, "Top anomalies").splitlines()
    assert 1 <= len(anomalies) <= 6
    assert anomalies[0].startswith("- payments/payments-1: java_gc_time peaked at")
    assert "past the limit for" in anomalies[0] and "(alert a-4)" in anomalies[0]
    patterns = _section(reply, "Error patterns")
    assert "New ERROR pattern in inventory" in patterns and "JDBC Connection" in patterns
    table = next(p for p in reply.parts if isinstance(p, Table))
    rows = {row[0]: row for row in table.rows}
    assert set(rows) == {"api-gateway", "checkout", "inventory", "payments"}
    assert rows["checkout"][-1] == "ok"
    assert rows["payments"][-1].startswith("p95 latency past 200 ms for ")
    assert "since 04:57" in rows["inventory"][-1]  # 09:57 UTC in New York
    chart = next(p for p in reply.parts if isinstance(p, Chart))
    assert chart.png.startswith(b"\x89PNG") and len(chart.png) > 10_000
    footer = reply.parts[-1]
    assert isinstance(footer, Context) and "error patterns from the logs" in footer.text


async def test_include_and_services_narrow_the_digest(busy: tuple[list[Incident], Deps]) -> None:
    _, deps = busy
    options = DigestOptions(include=("alerts", "attention"), services=("payments",))
    reply = await build("ops", options, deps, T0, END)
    titles = [p.title for p in reply.parts if isinstance(p, Section)]
    assert titles == ["Alerts", "Needs attention"]
    assert not any(isinstance(p, Chart | Table) for p in reply.parts)
    alerts = _section(reply, "Alerts")
    assert alerts.startswith("payments (2):") and "inventory" not in alerts
    assert "2 alerts" in reply.text and "all resolved" in reply.text


async def test_a_quiet_period_is_one_line_with_the_key_numbers(
    busy: tuple[list[Incident], Deps],
) -> None:
    _, deps = busy
    reply = await build("digest", None, deps, T0 - timedelta(hours=6), T0)
    assert reply.text == (
        "All quiet in #digest, Mon 00:00 – Mon 06:00 UTC: no alerts, no anomalies, "
        "no new error patterns."
    )
    assert len(reply.parts) == 2
    fields, footer = reply.parts
    assert isinstance(fields, Fields) and isinstance(footer, Context)
    numbers = dict(fields.items)
    assert set(numbers) == {"api-gateway", "checkout", "inventory", "payments"}
    for line in numbers.values():
        assert line.startswith("p95 latency ") and "ms (peak " in line
        assert "limit 200 ms" in line and "error rate " in line and "limit 1 %" in line


async def test_the_chat_command_reads_channel_and_period(busy: tuple[list[Incident], Deps]) -> None:
    _, deps = busy
    quiet = replace(deps, telemetry=_world(T0))  # now = T0: the six hours before it are quiet
    reply = await digest.handle(ChatRequest("digest", channel="general", args="ops 6h"), quiet)
    assert reply.text.startswith("All quiet in #ops, Mon 00:00 – Mon 06:00 UTC")
    assert parse_args("", "general") == ("general", None)
    assert parse_args("3d #ops", "general") == ("ops", timedelta(days=3))
    for bad in ("ops 5s", "ops 6h 2h", "ops digest", "40d"):
        refused = await digest.handle(ChatRequest("digest", args=bad), quiet)
        assert refused.error and refused.ephemeral and "Usage: `digest" in refused.text
        assert "\n" not in refused.text


def test_new_templates_and_spikes_against_the_history() -> None:
    def count(template: str, n: int, level: str = "ERROR", new: bool = False) -> PatternCount:
        return PatternCount("payments", level, template, n, T0, "payments-1", new)

    history = [count("Pool timeout after <n>ms", 4), count("Full GC 3767M->3608M", 2, "WARN")]
    period = [
        count("Pool timeout after <n>ms", 60),  # 60 in an hour against 1 an hour: a spike
        count("Full GC 3901M->3420M", 1, "WARN"),  # the same shape as the history's
        count("Could not open JDBC Connection", 12),
        count("cache warmed", 5, "INFO"),  # not a signal
        count("Drain3 says new", 2, "INFO", new=True),
    ]
    signals = pattern_signals(period, history, timedelta(hours=1), timedelta(hours=4))
    assert [(s.kind, s.template, s.count) for s in signals] == [
        ("new", "Could not open JDBC Connection", 12),
        ("new", "Drain3 says new", 2),
        ("spike", "Pool timeout after <n>ms", 60),
    ]
    assert signals[-1].usual_per_hour == 1.0
    assert pattern_signals(period, [], timedelta(hours=1), timedelta(hours=4))[0].template == (
        "Drain3 says new"  # without history, only what the miner marked new
    )


async def test_error_patterns_come_from_the_store_when_there_is_one(
    tmp_path: Path, embedder: Embedder, busy: tuple[list[Incident], Deps]
) -> None:
    _, deps = busy
    store = KnowledgeStore.open(tmp_path, embedder)

    def doc(ts: datetime, template: str, count: int, new: bool = False) -> Document:
        return Document(
            source="files",
            kind="log_pattern",
            text=f"payments ERROR log pattern: {count}x '{template}'",
            ts=ts,
            service="payments",
            host="payments-2",
            severity="warning",
            title="payments ERROR log pattern",
            payload={"template": template, "level": "ERROR", "count": count, "new": new},
        )

    store.upsert(
        [
            doc(T0 - timedelta(hours=2), "Read timed out after <*> ms", 3),
            doc(T0 + timedelta(hours=1), "Read timed out after <*> ms", 4),
            doc(T0 + timedelta(hours=2), "HikariPool-1 - Connection is not available", 37, True),
        ]
    )
    answerer = Answerer(
        Retriever(store),
        deps.analysis,
        PromptsConfig(),
        LLMConfig(),
        PrivacyConfig(),
        Redactor(),
    )
    reply = await build(
        "ops", DigestOptions(include=("logs",)), replace(deps, answerer=answerer), T0, END
    )
    patterns = _section(reply, "Error patterns")
    assert patterns == (
        "- New ERROR pattern in payments: 37x from 08:00 on payments-2: "
        "'HikariPool-<n> - Connection is not available'"
    )
    assert "error patterns from the knowledge store" in reply.parts[-1].text  # type: ignore[union-attr]


class _Reader:
    """The demo world with its metric reads or log reads replaced."""

    def __init__(self, world: DemoWorld, *, metrics_fail: bool = False, no_logs: bool = False):
        self._world, self._metrics_fail, self._no_logs = world, metrics_fail, no_logs

    def __getattr__(self, name: str) -> object:
        return getattr(self._world, name)

    def query_range(self, *args: object, **kwargs: object) -> object:
        if self._metrics_fail:
            raise ConnectionError("prometheus:9090 refused the connection")
        return self._world.query_range(*args, **kwargs)  # type: ignore[arg-type]

    def logs(self, start: datetime, end: datetime) -> list[object]:
        return [] if self._no_logs else list(self._world.logs(start, end))


async def test_unreadable_metrics_are_never_all_quiet(busy: tuple[list[Incident], Deps]) -> None:
    _, deps = busy
    broken = replace(deps, telemetry=_Reader(_world(T0), metrics_fail=True))
    reply = await build("ops", None, broken, T0 - timedelta(hours=6), T0)
    reason = "metrics unreadable (ConnectionError: prometheus:9090 refused the connection)"
    assert reply.text.startswith("Digest for #ops, Mon 00:00 – Mon 06:00 UTC: no alerts; ")
    assert reason in reply.text
    assert "All quiet" not in reply.text and "no anomalies" not in reply.text
    footer = reply.parts[-1]
    assert isinstance(footer, Context) and reason in footer.text
    assert "no live metrics source" not in footer.text
    assert not any(isinstance(p, Table | Chart | Fields) for p in reply.parts)


async def test_the_headline_speaks_only_of_included_sections_and_breaches_are_not_quiet(
    busy: tuple[list[Incident], Deps],
) -> None:
    _, deps = busy
    quiet = await build(
        "ops", DigestOptions(include=("anomalies",)), deps, T0 - timedelta(hours=6), T0
    )
    assert quiet.text == "All quiet in #ops, Mon 00:00 – Mon 06:00 UTC: no anomalies."
    # no alerts in the book, but p95 latency past 200 ms on payments and inventory
    no_book = replace(deps, alerts=AlertBook())
    breach = await build("ops", DigestOptions(include=("alerts",)), no_book, T0, END)
    assert breach.text.startswith("Digest for #ops, Mon 06:00 – Mon 10:00 UTC: no alerts; ")
    assert "services past a baseline" in breach.text and "quiet" not in breach.text.lower()
    # only the baselines table and the chart: both rendered, even over a quiet period
    shown = await build(
        "ops", DigestOptions(include=("baselines", "chart")), deps, T0 - timedelta(hours=6), T0
    )
    assert "All quiet" not in shown.text and "alert" not in shown.text
    assert shown.text.endswith(": key numbers within their baselines.")
    assert [type(p) for p in shown.parts] == [Table, Chart, Context]
    table = shown.parts[0]
    assert isinstance(table, Table) and all("(≤ " in row[1] for row in table.rows)


async def test_muted_alerts_are_tagged_and_need_no_attention(
    busy: tuple[list[Incident], Deps],
) -> None:
    _, deps = busy
    open_one = deps.alerts.active()[0]
    deps.alerts.mute(open_one.selector, END + timedelta(hours=1), "ana", END)
    try:
        reply = await build("ops", DigestOptions(timezone=ZONE), deps, T0, END)
    finally:
        deps.alerts.unmute(open_one.selector)
    alerts = _section(reply, "Alerts")
    assert f"- {open_one.id} [{open_one.severity}] (muted) {open_one.anomaly_type}" in alerts
    assert alerts.count("(muted)") == 1
    assert f"{open_one.id} [" not in _section(reply, "Needs attention")


async def test_the_alert_list_stops_at_its_cap_open_and_critical_first(
    busy: tuple[list[Incident], Deps], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, deps = busy
    monkeypatch.setattr(digest.render, "MAX_ALERT_LINES", 2)
    reply = await build("ops", DigestOptions(include=("alerts",)), deps, T0, END)
    lines = _section(reply, "Alerts").splitlines()
    open_one = deps.alerts.active()[0]
    assert lines[0].startswith(f"{open_one.service} (")  # the group with the open alert first
    assert lines[1].startswith(f"- {open_one.id} ") and "still open" in lines[1]
    assert sum(not x.startswith("- ") and not x.startswith("…") for x in lines) <= 2
    assert len([x for x in lines if x.startswith("- ")]) == 2
    assert lines[-1] == "… and 5 more"


async def test_no_claim_about_error_patterns_without_any_logs(
    busy: tuple[list[Incident], Deps],
) -> None:
    _, deps = busy
    silent = replace(deps, telemetry=_Reader(_world(T0), no_logs=True))
    reply = await build("ops", None, silent, T0 - timedelta(hours=6), T0)
    assert reply.text == "All quiet in #ops, Mon 00:00 – Mon 06:00 UTC: no alerts, no anomalies."
    assert "error patterns" not in reply.parts[-1].text  # type: ignore[union-attr]


async def test_a_pruned_alert_history_is_said_in_the_footer(
    busy: tuple[list[Incident], Deps], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, deps = busy
    monkeypatch.setattr(alertbook, "HISTORY_MAX", 1)
    book = AlertBook()
    for n in range(2):
        at = T0 + timedelta(minutes=30 * n)
        book.update([replace(detection(0, host=f"h-{n}"), at=at, since=at)], at)
        book.resolve(book.active()[0].id, "ana", at + timedelta(minutes=5))
    assert book.history_since() == T0 + timedelta(minutes=5)
    reply = await build(
        "ops", DigestOptions(include=("alerts",)), replace(deps, alerts=book), T0, END
    )
    assert "alert history only from 06:05" in reply.parts[-1].text  # type: ignore[union-attr]
    later = await build(
        "ops",
        DigestOptions(include=("alerts",)),
        replace(deps, alerts=book),
        T0 + timedelta(minutes=10),
        END,
    )
    assert "alert history" not in later.parts[-1].text  # type: ignore[union-attr]


def test_times_outside_the_period_carry_the_date_and_no_baseline_reads_so() -> None:
    clock = digest.render.Clock(UTC, T0, END)
    assert clock.at(T0 + timedelta(hours=1)) == "07:00"
    assert clock.at(T0 - timedelta(days=1)) == "Sun 22 Nov 06:00"
    week = digest.render.Clock(UTC, T0 - timedelta(days=10), T0)
    assert week.at(T0 - timedelta(days=8)) == "Sun 15 Nov 06:00"
    assert week.span() == "Fri 13 Nov 06:00 – Mon 23 Nov 06:00 UTC"
    key = ServiceKey(
        "payments", "error_rate", "%", 0.5, 2.0, "p-1", None, timedelta(0), None, (), ()
    )
    [row] = digest.render.baseline_table([key], clock).rows
    assert row[2] == "0.5 % / 2 % (no baseline)" and row[1] == "-"


def test_the_digest_reads_a_snapshot_of_the_alerts() -> None:
    """The alerts job changes the book's alerts while a digest is written (another thread):
    the digest works on copies, so its headline and its lines tell the same story."""
    from handlers.digest_data import period_alerts
    from tests.handlers.test_alertbook import T0, at, detection

    book = AlertBook()
    book.update([detection(0)], T0)
    (alert,) = period_alerts(book, T0 - timedelta(hours=1), at(5))
    assert alert.resolved_at is None
    book.resolve(alert.id, "ana", at(3))  # meanwhile, in the book
    assert alert.resolved_at is None  # the digest's copy is unchanged
    (closed,) = period_alerts(book, T0 - timedelta(hours=1), at(5))
    assert closed.resolved_by == "ana"
