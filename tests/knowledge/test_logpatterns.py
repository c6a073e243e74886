from __future__ import annotations

from datetime import UTC, datetime, timedelta

from knowledge.logpatterns import group, strip_prefix, template_of
from knowledge.redaction import Redactor
from knowledge.telemetry import LogRecord

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def record(minute: int, message: str, level: str = "ERROR", service: str = "payments") -> LogRecord:
    return LogRecord(T0 + timedelta(minutes=minute), service, "payments-1", level, message)  # type: ignore[arg-type]


def test_lines_differing_only_in_numbers_and_ids_share_a_template() -> None:
    a = template_of("Connection is not available, request timed out after 30000ms (req 9f8e7d6c)")
    b = template_of("Connection is not available, request timed out after 25000ms (req 0a1b2c3d)")
    assert a == b == "Connection is not available, request timed out after <n> (req <id>)"


def test_group_counts_orders_and_keeps_first_and_last() -> None:
    records = [
        record(0, "2026-11-21 10:00:01.100 ERROR pool timed out after 30000ms\n\tat x.y(Z.java:1)"),
        record(1, "INFO started", level="INFO"),
        record(2, "2026-11-21 10:02:09.500 ERROR pool timed out after 29000ms"),
        record(3, "Nov 21 10:03:00 payments-1 app: disk at 97%", level="WARN"),
        record(4, "2026-11-21 10:04:00.000 ERROR pool timed out after 30001ms"),
    ]
    patterns = group(records)
    assert [(p.count, p.level) for p in patterns] == [(3, "ERROR"), (1, "WARN")]
    assert patterns[0].first.ts == T0 and patterns[0].last.ts == T0 + timedelta(minutes=4)


def test_group_redacts_before_grouping() -> None:
    records = [
        record(0, "login failed for a@example.com"),
        record(1, "login failed for b@example.org"),
    ]
    patterns = group(records, redact=Redactor().redact)
    assert len(patterns) == 1 and patterns[0].template == "login failed for <redacted>"


def test_strip_prefix() -> None:
    assert strip_prefix("2026-11-21 10:00:01.100 ERROR boom") == "ERROR boom"
    assert strip_prefix("Nov 21 10:03:00 conductor-1 vemkd[1]: x") == "conductor-1 vemkd[1]: x"
