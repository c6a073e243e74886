from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from handlers.alertbook import AlertBook
from knowledge.config import Baseline
from knowledge.findings import Finding

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def finding(value: float, minute: int, host: str = "gw-1") -> Finding:
    baseline = Baseline(metric="cpu_usage", max=70)
    return Finding(
        "api-gateway",
        host,
        "cpu_usage",
        "%",
        value,
        value,
        30.0,
        8.0,
        baseline,
        baseline.breached_by(value),
        T0,
        T0 + timedelta(minutes=minute),
    )


def test_dedupe_escalate_and_resolve_after_the_clear_period() -> None:
    book = AlertBook(clear_after=timedelta(minutes=3))
    events = book.update([finding(80, 0)], T0)
    assert [a.id for a in events.fired] == ["alert-1"] and events.fired[0].severity == "warning"
    assert not book.update([finding(82, 1)], T0 + timedelta(minutes=1))  # same key: no news
    events = book.update([finding(95, 2)], T0 + timedelta(minutes=2))
    assert [a.id for a in events.escalated] == ["alert-1"]
    # back to normal, but not yet for long enough
    assert not book.update([finding(40, 3)], T0 + timedelta(minutes=4))
    events = book.update([finding(40, 5)], T0 + timedelta(minutes=5))
    assert [a.id for a in events.resolved] == ["alert-1"]
    resolved = events.resolved[0]
    assert resolved.peak == 95 and resolved.duration == timedelta(minutes=5)
    assert book.active() == []


def test_flapping_inside_the_clear_period_stays_one_alert() -> None:
    book = AlertBook(clear_after=timedelta(minutes=3))
    fired = 0
    for minute in range(12):
        value = 80 if minute % 2 == 0 else 40
        events = book.update([finding(value, minute)], T0 + timedelta(minutes=minute))
        fired += len(events.fired)
        assert not events.resolved
    assert fired == 1


def test_separate_hosts_are_separate_alerts() -> None:
    book = AlertBook()
    events = book.update([finding(80, 0), replace(finding(85, 0), host="gw-2")], T0)
    assert sorted(a.key[1] for a in events.fired) == ["gw-1", "gw-2"]
