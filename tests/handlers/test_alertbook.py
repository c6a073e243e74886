"""The alert policy: dedupe, escalation, resolution, cooldown, ack, mute, persistence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from handlers.alertbook import AlertBook, AlertPolicy, Selector, SelectorError, UnknownAlert
from training.live import Detection, MetricFact

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
METRICS = ("memory_usage", "java_gc_time", "cpu_usage", "error_rate")


def detection(
    minute: float = 0,
    *,
    service: str = "payments",
    host: str = "payments-2",
    anomaly_type: str = "memory_leak",
    severity: str = "warning",
    score: float = 0.8,
    metrics: int = 3,
    rows: int = 60,
) -> Detection:
    """A detection at ``T0 + minute`` over ``rows`` minutes of a small synthetic frame whose last
    ten rows drift out of a band of 45..55."""
    at = T0 + timedelta(minutes=minute)
    ts = pd.date_range(at - timedelta(minutes=rows - 1), at, periods=rows)
    rng = np.random.default_rng(int(minute * 10) + len(host))
    names = METRICS[:metrics]
    columns = {}
    for i, name in enumerate(names):
        series = 50 + rng.normal(0, 2, rows)
        series[-10:] += np.linspace(5, 30 + 5 * i, 10)
        columns[name] = series
    frame = pd.DataFrame({"ts": ts, **columns})
    band = {n: (pd.Series(np.full(rows, 45.0)), pd.Series(np.full(rows, 55.0))) for n in names}
    top = tuple(
        MetricFact(n, float(columns[n][-1]), 50.0, 6.0 - i, "%", round(0.6 / (i + 1), 2))
        for i, n in enumerate(names)
    )
    return Detection(
        service=service,
        host=host,
        anomaly_type=anomaly_type,
        severity=severity,
        score=score,
        confidence=0.87,
        at=at,
        since=at - timedelta(minutes=10),
        top=top,
        sentence=f"memory_usage on {host} is {top[0].value:.0f} % (normal 50 %): looks like a "
        f"{anomaly_type.replace('_', ' ')} (confidence 0.87).",
        frame=frame,
        band=band,
    )


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_same_key_twice_is_one_alert_and_other_keys_are_separate() -> None:
    book = AlertBook()
    events = book.update([detection(0), detection(0, score=0.9)], at(0))
    assert [a.id for a in events.fired] == ["a-1"] and events.fired[0].score == 0.9
    assert not book.update([detection(1)], at(1))  # still firing: nothing new to say
    events = book.update(
        [detection(2), detection(2, host="payments-1"), detection(2, anomaly_type="cpu_spike")],
        at(2),
    )
    assert [a.id for a in events.fired] == ["a-2", "a-3"]
    assert {a.key for a in book.active()} == {
        ("payments", "payments-2", "memory_leak"),
        ("payments", "payments-1", "memory_leak"),
        ("payments", "payments-2", "cpu_spike"),
    }


def test_resolves_after_clear_after_and_not_before() -> None:
    book = AlertBook(AlertPolicy(clear_after="3m"))
    book.update([detection(0, score=0.7)], at(0))
    book.update([detection(1, score=0.95)], at(1))
    assert not book.update([], at(2))
    assert not book.update([], at(3.5))  # 2.5 min without a detection: not yet
    events = book.update([], at(4))
    assert [a.id for a in events.resolved] == ["a-1"]
    resolved = events.resolved[0]
    assert resolved.peak == 0.95 and resolved.resolved_at == at(4)
    assert resolved.duration == timedelta(minutes=14)  # from its since (minute -10) to now
    assert book.active() == []


def test_escalation_by_severity_posts_once() -> None:
    book = AlertBook()
    book.update([detection(0)], at(0))
    events = book.update([detection(1, severity="critical")], at(1))
    assert [a.id for a in events.escalated] == ["a-1"] and events.escalated[
        0
    ].severity == "critical"
    assert not book.update([detection(2, severity="critical")], at(2))
    assert not book.update([detection(3, severity="warning")], at(3))  # never de-escalates
    assert book.active()[0].severity == "critical"


def test_escalation_by_time_after_escalate_after() -> None:
    book = AlertBook(AlertPolicy(escalate_after="15m", clear_after="3m"))
    book.update([detection(0)], at(0))
    for minute in range(1, 15):
        assert not book.update([detection(minute)], at(minute)), minute
    events = book.update([detection(15)], at(15))
    assert [a.severity for a in events.escalated] == ["critical"]


def test_ack_stops_escalation_posts_but_not_resolution() -> None:
    book = AlertBook()
    book.update([detection(0)], at(0))
    alert = book.ack("a-1", "ana", at(0.5))
    assert alert.acked_by == "ana"
    events = book.update([detection(1, severity="critical")], at(1))
    assert not events.escalated and book.active()[0].severity == "critical"
    with pytest.raises(UnknownAlert, match=r"'a-9'.*firing: a-1"):
        book.ack("a-9", "ana", at(1))
    assert [a.id for a in book.update([], at(5)).resolved] == ["a-1"]


def test_cooldown_reopens_the_same_alert_and_counts_the_flap() -> None:
    book = AlertBook(AlertPolicy(clear_after="3m", cooldown="10m"))
    book.update([detection(0)], at(0))
    assert book.update([], at(3)).resolved
    events = book.update([detection(8)], at(8))  # 5 min after resolution: within cooldown
    assert not events.fired and [a.id for a in events.reopened] == ["a-1"]
    assert book.active()[0].flaps == 1 and book.active()[0].flapping
    assert book.update([], at(11)).resolved[0].flaps == 1
    events = book.update([detection(30)], at(30))  # 19 min later: a new alert
    assert [a.id for a in events.fired] == ["a-2"] and not events.reopened


def test_mute_suppresses_and_unmute_restores() -> None:
    book = AlertBook()
    book.mute("payments/payments-*:memory_leak", at(60), "ana", at(0))
    events = book.update([detection(0), detection(0, service="checkout", host="co-1")], at(0))
    assert [a.service for a in events.fired] == ["checkout"]
    assert len(book.active()) == 2  # tracked though muted
    assert book.is_muted(("payments", "payments-2", "memory_leak"), at(1))
    assert not book.update([detection(1, severity="critical")], at(1))  # muted escalation
    assert [str(m.selector) for m in book.unmute("payments/payments-*:memory_leak")] == [
        "payments/payments-*:memory_leak"
    ]
    assert book.unmute("payments") == []
    events = book.update([detection(2, severity="critical")], at(2))
    assert [(a.id, a.severity) for a in events.fired] == [("a-1", "critical")]


def test_a_mute_expires_and_a_muted_alert_resolves_silently() -> None:
    book = AlertBook()
    book.mute("payments", at(2), "ana", at(0))
    assert not book.update([detection(0)], at(0))
    assert not book.update([], at(1))
    assert not book.update([], at(4))  # resolved while muted: nothing to say
    assert book.active() == [] and book.mutes(at(4)) == []


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("payments", ("payments", "p-1", "cpu_spike"), True),
        ("pay*", ("payments", "p-1", "cpu_spike"), True),
        ("payments/p-1", ("payments", "p-2", "cpu_spike"), False),
        ("payments:cpu_spike", ("payments", "p-2", "cpu_spike"), True),
        ("*:memory_leak", ("checkout", "c-1", "cpu_spike"), False),
    ],
)
def test_selectors(text: str, key: tuple[str, str, str], expected: bool) -> None:
    assert Selector.parse(text).matches(key) is expected
    assert str(Selector.parse(text)) == text


def test_bad_selector_is_a_one_line_error() -> None:
    with pytest.raises(SelectorError, match="expected SERVICE\\[/HOST\\]\\[:TYPE\\]"):
        Selector.parse("a/b/c")


def test_policy_accepts_duration_strings_and_rejects_others() -> None:
    policy = AlertPolicy.model_validate({"clear_after": "90s", "cooldown": "1h"})
    assert policy.clear_after == timedelta(seconds=90) and policy.cooldown == timedelta(hours=1)
    with pytest.raises(ValueError, match="expected a duration"):
        AlertPolicy.model_validate({"escalate_after": "soon"})


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    book = AlertBook(path=path)
    book.update([detection(0), detection(0, host="payments-1")], at(0))
    book.ack("a-2", "ana", at(1))
    book.mute("checkout", at(60), "bob", at(1))
    again = AlertBook(path=path)
    assert [(a.id, a.acked_by) for a in again.active()] == [("a-1", None), ("a-2", "ana")]
    assert [str(m.selector) for m in again.mutes(at(2))] == ["checkout"]
    # still firing after the restart: not posted again; a new key gets the next id
    events = again.update(
        [detection(2), detection(2, host="payments-1"), detection(2, host="p3")], at(2)
    )
    assert [a.id for a in events.fired] == ["a-3"]
    assert again.active()[0].latest is not None
    assert not again.update([], at(10)).fired
    assert json.loads(path.read_text())["counter"] == 3


def test_a_corrupt_state_file_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "alerts.json"
    path.write_text("{not json")
    book = AlertBook(path=path)
    assert book.active() == [] and (tmp_path / "alerts.json.corrupt").is_file()
    assert "not valid JSON" in caplog.text
    path.write_text(json.dumps({"version": 1, "open": [{"id": "a-1"}]}))
    assert AlertBook(path=path).active() == []
    assert "unreadable" in caplog.text
    assert [a.id for a in AlertBook(path=path).update([detection(0)], at(0)).fired] == ["a-1"]


def test_two_processes_on_one_state_file_never_overwrite_each_other(tmp_path: Path) -> None:
    """The scheduler's book and a chat worker's book on one data volume (each its own copy in
    memory): every change starts from what the other wrote."""
    path = tmp_path / "alerts.json"
    scheduler, chat = AlertBook(path=path), AlertBook(path=path)
    events = scheduler.update([detection(0), detection(0, host="payments-1")], at(0), record=True)
    assert [a.id for a in chat.active()] == ["a-1", "a-2"]  # the chat worker sees them
    chat.ack("a-2", "ana", at(1))
    chat.mute("checkout", at(60), "bob", at(1))
    # the scheduler's next run keeps the ack and the mute, and its outbox
    assert scheduler.pending() and scheduler.pending()[0].delivery == events.delivery
    scheduler.update([detection(2), detection(2, host="payments-1")], at(2))
    assert [(a.id, a.acked_by) for a in scheduler.active()] == [("a-1", None), ("a-2", "ana")]
    assert [str(m.selector) for m in scheduler.mutes(at(2))] == ["checkout"]
    assert events.delivery is not None
    scheduler.delivered(events.delivery)
    chat.resolve("a-1", "bob", at(3))
    assert not chat.pending()  # the chat worker's write kept the scheduler's delivery
    fresh = AlertBook(path=path)
    assert [a.id for a in fresh.active()] == ["a-2"]
    assert [a.id for a in fresh.closed()] == ["a-1"]
    assert [str(m.selector) for m in fresh.mutes(at(4))] == ["checkout"]
    # ids stay unique across the two: the next alert is a-3 wherever it fires
    scheduler.update([detection(5, host="p9")], at(5))
    assert any(a.id == "a-3" for a in chat.active())
