"""``explain`` (an alert's whole case, or a metric on every host) and ``anomalies``."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import Settings
from handlers.deps import Deps
from handlers.explain import match_metric
from handlers.registry import default_registry
from handlers.router import Router
from handlers.types import Chart, ChatRequest, Context, Reply, Section, Table
from knowledge.demo import DemoWorld
from knowledge.demo.world import SimClock
from tests.handlers.test_alertbook import T0, detection

ROUTER = Router(default_registry())
PNG = b"\x89PNG\r\n\x1a\n"


async def say(text: str, deps: Deps) -> Reply:
    return await ROUTER.dispatch(ChatRequest(text, user="ana"), deps)


def _during(kind: str) -> tuple[DemoWorld, str, str]:
    """The demo world stopped at the middle of its first incident of ``kind``."""
    world = DemoWorld(seed=42, start=datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    incident = next(i for i in world.incidents() if i.type == kind)
    world.clock = SimClock(incident.start + (incident.end - incident.start) / 2, speed=0)
    return world, incident.service, incident.host


def test_a_metric_is_found_by_name_part_or_spelling() -> None:
    names = ["cpu_usage", "latency_p95_ms", "java_heap_usage", "java_gc_time", "error_rate"]
    assert match_metric(["cpu_usage"], names) == "cpu_usage"
    assert match_metric(["latency", "checkout"], names) == "latency_p95_ms"
    assert match_metric(["heap"], names) == "java_heap_usage"
    assert match_metric(["eror_rate"], names) == "error_rate"
    assert match_metric(["disk"], names) is None


async def test_explain_a_metric_compares_every_host_with_its_normal_and_the_baseline(
    settings: Settings,
) -> None:
    world, service, host = _during("cpu_spike")
    deps = Deps(analysis=settings.ai.analysis, telemetry=world)
    reply = await say("explain cpu", deps)
    assert not reply.error, reply.text
    assert reply.text.startswith("cpu_usage: 1 past the baseline; worst cpu_usage on " + host)
    sections = [p.text for p in reply.parts if isinstance(p, Section)]
    assert "The team's baseline: CPU usage under 70 %." in sections
    table = next(p for p in reply.parts if isinstance(p, Table))
    assert table.rows[0][0] == f"{service}/{host}" and table.rows[0][-1] == "past baseline"
    assert all(row[-1] != "past baseline" for row in table.rows[1:])
    chart = next(p for p in reply.parts if isinstance(p, Chart))
    assert chart.png.startswith(PNG) and chart.title == "cpu_usage"
    # narrowed to one service
    other = next(s for s, _ in world.hosts() if s != service)
    narrowed = await say(f"explain cpu {other}", deps)
    rows = next(p for p in narrowed.parts if isinstance(p, Table)).rows
    assert rows and all(row[0].startswith(other + "/") for row in rows)


async def test_explain_an_unknown_target_says_what_it_knows() -> None:
    world, _, _ = _during("cpu_spike")
    reply = await say("explain frobnication", Deps(telemetry=world))
    assert reply.error and reply.ephemeral
    assert "neither an alert id nor a metric" in reply.text and "cpu_usage" in reply.text
    missing = await say("explain a-9", Deps())
    assert missing.error and "No alert has the id 'a-9' (firing: none)" in missing.text
    assert (await say("explain", Deps())).text.startswith("Usage: `explain ALERT_ID`")


async def test_explain_an_alert_gives_its_whole_case() -> None:
    deps = Deps(detect=lambda now: [detection(0)], clock=lambda: T0)
    from handlers import alerts

    await alerts.check(ChatRequest("alerts"), deps)
    reply = await say("explain a-1", deps)
    assert reply.text.startswith("a-1 [warning] payments/payments-2: memory_leak: firing for")
    table = next(p for p in reply.parts if isinstance(p, Table))
    assert table.columns[:3] == ("metric", "value", "normal")
    assert any(isinstance(p, Chart) and p.png.startswith(PNG) for p in reply.parts)
    why = [p.text for p in reply.parts if isinstance(p, Section) and p.title == "Why"]
    assert why and why[0].startswith("Likely cause: ")  # from the co-moving top metrics
    context = [p.text for p in reply.parts if isinstance(p, Context)][-1]
    assert "memory_leak (confidence" in context and "score 0.80" in context
    # still explained once resolved (within the cooldown)
    await say("resolve a-1", deps)
    again = await say("explain a-1", deps)
    assert "resolved" in again.text


async def test_explain_an_alert_adds_what_the_answerer_finds_in_live_telemetry(
    settings: Settings,
) -> None:
    world, service, host = _during("cpu_spike")
    deps = Deps(analysis=settings.ai.analysis, telemetry=world)
    deps.detect = lambda now: [detection(0, service=service, host=host, anomaly_type="cpu_spike")]
    from handlers import alerts

    await alerts.check(ChatRequest("alerts"), deps)
    reply = await say("explain a-1", deps)
    titles = [p.title for p in reply.parts if isinstance(p, Section)]
    assert "What the evidence says" in titles
    sources = [p.text for p in reply.parts if isinstance(p, Context) and "Sources:" in p.text]
    assert sources and host in sources[0]


async def test_anomalies_lists_what_the_model_sees_alerting_or_not() -> None:
    found = [
        detection(0, score=0.7),
        detection(0, service="checkout", host="co-1", severity="critical", score=0.9),
    ]
    deps = Deps(detect=lambda now: list(found), clock=lambda: T0)
    deps.alerts.update(found[:1], T0)
    reply = await say("anomalies", deps)
    assert reply.text == "The anomaly model flags 2 host(s) right now."
    rows = next(p for p in reply.parts if isinstance(p, Table)).rows
    assert [r[0] for r in rows] == ["checkout/co-1", "payments/payments-2"]  # critical first
    assert rows[0][-1] == "no alert" and rows[1][-1] == "a-1"
    only = await say("anomalies checkout", deps)
    assert [r[0] for r in next(p for p in only.parts if isinstance(p, Table)).rows] == [
        "checkout/co-1"
    ]
    found.clear()
    assert (await say("anomalies", deps)).text.startswith("The anomaly model sees nothing")
    assert "not running" in (await say("anomalies", Deps())).text
