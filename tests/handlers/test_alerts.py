"""The alerts job: grouping per channel, thread details, routing, resolution, failures."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from bot.config import ChannelsConfig, Settings
from bot.jobs import job_table
from bot.metrics import Metrics
from bot.render.terminal import channel_line
from handlers import alerts
from handlers.deps import Deps
from handlers.routing import AlertRoute, AlertRouter
from handlers.types import Buttons, Chart, ChatRequest, Reply, Table
from knowledge.errors import ConfigError
from tests.handlers.test_alertbook import T0, at, detection
from training.live import Detection

REQUEST = ChatRequest("alerts", platform="scheduler", user="vigil")
ONCALL = AlertRoute(service="payments*", severity=("critical",), channel="payments-oncall")


class Fleet:
    """A detect() the test drives: what is anomalous, and the clock."""

    def __init__(self) -> None:
        self.now = T0
        self.found: list[Detection] = []
        self.asked: list[datetime] = []

    def detect(self, now: datetime) -> list[Detection]:
        self.asked.append(now)
        return list(self.found)

    def deps(self, router: AlertRouter | None = None) -> Deps:
        return Deps(
            detect=self.detect, clock=lambda: self.now, alert_router=router or AlertRouter()
        )


def _three(minute: float) -> list[Detection]:
    return [
        detection(minute, host="payments-1", score=0.7),
        detection(minute, host="payments-2", severity="critical", score=0.95),
        detection(minute, service="checkout", host="co-1", anomaly_type="cpu_spike", score=0.8),
    ]


async def test_without_a_detector_there_are_no_alerts() -> None:
    assert await alerts.check(REQUEST, Deps()) == []


async def test_three_simultaneous_alerts_make_one_message_with_three_thread_replies() -> None:
    fleet = Fleet()
    fleet.found = _three(0)
    deps = fleet.deps()
    posted = await alerts.check(REQUEST, deps)
    assert fleet.asked == [T0]
    assert [channel for channel, _ in posted] == ["alerts"]
    reply = posted[0][1]
    assert reply.text == (
        "[critical] 3 alerts on checkout, payments; worst payments/payments-2: memory_leak"
    )
    assert "payments-2" in reply.parts[0].text  # the worst one's sentence
    charts = [p for p in reply.parts if isinstance(p, Chart)]
    assert len(charts) == 1 and charts[0].title == "payments/payments-2: memory_leak"
    assert not any(isinstance(p, Buttons) for p in reply.parts)  # per alert, in the thread
    assert len(reply.thread) == 3
    assert [r.text.split()[0] for r in reply.thread] == ["a-1", "a-2", "a-3"]
    details = reply.thread[1]
    table = next(p for p in details.parts if isinstance(p, Table))
    assert table.columns == ("metric", "value", "normal", "sigma", "share")
    assert [row[0] for row in table.rows] == ["memory_usage", "java_gc_time", "cpu_usage"]
    assert table.rows[0][2] == "50 %" and table.rows[0][3] == "+6.0"
    context = details.parts[-2].text
    assert "a-2" in context and "memory_leak (confidence 0.87)" in context
    assert "since 09:50 UTC" in context
    buttons = next(p for p in details.parts if isinstance(p, Buttons)).buttons
    assert [b.command for b in buttons] == [
        "ack a-2",
        "mute payments/payments-2:memory_leak 1h",
        "explain a-2",
        "resolve a-2",
    ]
    assert details.refs == ("alert:a-2",)
    assert reply.refs == ("alert:a-1", "alert:a-2", "alert:a-3")

    fleet.now, fleet.found = at(1), _three(1)
    assert await alerts.check(REQUEST, deps) == []  # still firing: nothing new


async def test_a_single_alert_has_its_buttons_on_the_message() -> None:
    fleet = Fleet()
    fleet.found = [detection(0)]
    ((channel, reply),) = await alerts.check(REQUEST, fleet.deps())
    assert channel == "alerts" and reply.text == "[warning] payments/payments-2: memory_leak"
    buttons = next(p for p in reply.parts if isinstance(p, Buttons)).buttons
    assert [b.label for b in buttons] == ["Acknowledge", "Mute 1h", "Explain more", "Resolve"]
    assert len(reply.thread) == 1


async def test_routing_splits_the_group_by_channel() -> None:
    fleet = Fleet()
    fleet.found = _three(0)
    posted = await alerts.check(REQUEST, fleet.deps(AlertRouter((ONCALL,), "alerts")))
    by_channel = {channel: reply for channel, reply in posted}
    assert set(by_channel) == {"alerts", "payments-oncall"}
    assert by_channel["payments-oncall"].text == "[critical] payments/payments-2: memory_leak"
    assert by_channel["alerts"].text.startswith("[warning] 2 alerts on checkout, payments;")
    assert len(by_channel["alerts"].thread) == 2


async def test_escalation_resolution_and_mute_messages() -> None:
    fleet = Fleet()
    deps = fleet.deps()
    fleet.found = [detection(0)]
    await alerts.check(REQUEST, deps)
    fleet.now, fleet.found = at(1), [detection(1, severity="critical", score=0.97)]
    ((_, escalated),) = await alerts.check(REQUEST, deps)
    assert escalated.text == "[critical] escalated: payments/payments-2: memory_leak"
    fleet.now, fleet.found = at(5), []
    ((_, resolved),) = await alerts.check(REQUEST, deps)
    assert resolved.text == (
        "Resolved: a-1 payments/payments-2: memory_leak after 15m (peak score 0.97)"
    )
    deps.alerts.mute("payments", at(60), "ana", at(5))
    fleet.now, fleet.found = at(30), [detection(30)]
    assert await alerts.check(REQUEST, deps) == []
    assert len(deps.alerts.active()) == 1  # tracked, not posted


async def test_a_failing_detector_is_logged_and_skips_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fleet = Fleet()
    deps = fleet.deps()
    fleet.found = [detection(0)]
    await alerts.check(REQUEST, deps)

    def broken(now: datetime) -> list[Detection]:
        raise RuntimeError("prometheus is down")

    deps.detect = broken
    fleet.now = at(10)
    with caplog.at_level(logging.ERROR):
        assert await alerts.check(REQUEST, deps) == []
    assert "prometheus is down" in caplog.text
    assert len(deps.alerts.active()) == 1  # not resolved by a failed run


def test_route_rules_first_match_wins_and_fallback() -> None:
    router = AlertRouter(
        (ONCALL, AlertRoute(type="memory_leak", channel="ops"), AlertRoute(channel="general")),
        "alerts",
    )
    assert router.channel_for("payments", "p-1", "memory_leak", "critical") == "payments-oncall"
    assert router.channel_for("payments", "p-1", "memory_leak", "warning") == "ops"
    assert router.channel_for("checkout", "c-1", "cpu_spike", "warning") == "general"
    assert AlertRouter((ONCALL,), "alerts").channel_for("checkout", "c", "x", "critical") == (
        "alerts"
    )


def _edit_channels(config_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = config_dir / "channels.yml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_alert_routes_load_from_channels_yml(
    config_dir: Path, make_settings: Callable[..., Settings]
) -> None:
    def add(data: dict[str, Any]) -> None:
        data["channels"]["payments-oncall"] = {"slack": "#payments-oncall"}
        data["alert_routes"] = [
            {"service": "payments*", "severity": ["critical"], "channel": "payments-oncall"}
        ]

    _edit_channels(config_dir, add)
    router = make_settings().channels.alert_router()
    assert router.fallback == "alerts"
    assert router.channel_for("payments", "p", "x", "critical") == "payments-oncall"
    assert router.channel_for("payments", "p", "x", "warning") == "alerts"


def test_an_alert_route_to_an_undefined_channel_is_a_config_error(
    config_dir: Path, make_settings: Callable[..., Settings]
) -> None:
    _edit_channels(config_dir, lambda d: d.update(alert_routes=[{"channel": "pager"}]))
    with pytest.raises(ConfigError) as err:
        make_settings()
    assert err.value.key == "alert_routes" and str(config_dir / "channels.yml") in str(err.value)
    assert "'pager', which is not defined" in str(err.value)
    assert "\n" not in str(err.value)
    _edit_channels(config_dir, lambda d: d.update(alert_routes=[{"severity": ["page"]}]))
    with pytest.raises(ConfigError, match=r"alert_routes\.0"):
        make_settings()


def test_shipped_channels_config_has_no_alert_routes_by_default() -> None:
    assert ChannelsConfig().alert_router() == AlertRouter((), "alerts")


async def test_alerts_job_posts_to_routed_channels_or_the_override(settings: Settings) -> None:
    fleet = Fleet()
    fleet.found = _three(0)
    posts: list[tuple[str, Reply]] = []

    async def post(channel: str, reply: Reply, must_deliver: bool = False) -> int:
        assert must_deliver  # the outbox keeps what no platform took
        posts.append((channel, reply))
        return 1

    app: Any = SimpleNamespace(
        settings=settings,
        deps=fleet.deps(AlertRouter((ONCALL,), "alerts")),
        post=post,
        metrics=Metrics(),
    )
    jobs = job_table(app)
    await jobs["alerts"]({})
    assert sorted(c for c, _ in posts) == ["alerts", "payments-oncall"]
    posts.clear()
    fleet.now, fleet.found = at(10), []
    await jobs["alerts"]({"channel": "ops"})
    assert [c for c, r in posts] == ["ops", "ops"] and all(
        r.text.startswith("Resolved:") for _, r in posts
    )


def test_console_prints_thread_replies_under_the_message() -> None:
    reply = Reply("[critical] 2 alerts", thread=(Reply("a-1 first\ndetail"), Reply("a-2")))
    assert channel_line("alerts", reply).splitlines() == [
        "[#alerts] [critical] 2 alerts",
        "[#alerts]   \u21b3 a-1 first",
        "        detail",
        "[#alerts]   \u21b3 a-2",
    ]
