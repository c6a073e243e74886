"""parse_window / describe, against a fixed now. Every expected value is worked out by hand:
NOW is Saturday 2026-11-21 15:30 UTC, so yesterday is Friday 11-20 and "Monday" is 11-16;
Berlin is UTC+1 in November (16:30 local at NOW) and UTC+2 until 2026-10-25 03:00 local."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from knowledge.timewindow import TimeWindow, describe, parse_window

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, year: int = 2026):
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# (question, start, end, phrase)
CASES = [
    # relative: [now - d, now]
    ("errors on checkout in the last hour", at(11, 21, 14, 30), NOW, "in the last hour"),
    ("LAST HOUR", at(11, 21, 14, 30), NOW, "LAST HOUR"),
    ("p99 over the past 2 hours", at(11, 21, 13, 30), NOW, "over the past 2 hours"),
    ("last 15 minutes", at(11, 21, 15, 15), NOW, "last 15 minutes"),
    ("5xx in the last 15m", at(11, 21, 15, 15), NOW, "in the last 15m"),
    ("in the last 30 min", at(11, 21, 15, 0), NOW, "in the last 30 min"),
    ("deploys in the last 3 days", at(11, 18, 15, 30), NOW, "in the last 3 days"),
    ("last week", at(11, 14, 15, 30), NOW, "last week"),
    ("past day", at(11, 20, 15, 30), NOW, "past day"),
    ("the last 90 seconds", at(11, 21, 15, 28, 30), NOW, "the last 90 seconds"),
    ("the past few hours", at(11, 21, 12, 30), NOW, "the past few hours"),
    ("last half hour", at(11, 21, 15, 0), NOW, "last half hour"),
    ("last 6 months", at(8, 23, 15, 30), NOW, "last 6 months"),  # capped at 90 days
    # N ago: ±15 minutes (never past now); days: that calendar day
    ("what broke 2 hours ago", at(11, 21, 13, 15), at(11, 21, 13, 45), "2 hours ago"),
    ("an hour ago", at(11, 21, 14, 15), at(11, 21, 14, 45), "an hour ago"),
    ("5 minutes ago", at(11, 21, 15, 10), NOW, "5 minutes ago"),
    ("3 days ago", at(11, 18), at(11, 19), "3 days ago"),
    # since: to now; a clock time still ahead today means yesterday's
    ("what happened since 14:00", at(11, 21, 14, 0), NOW, "since 14:00"),
    ("since 2pm", at(11, 21, 14, 0), NOW, "since 2pm"),
    ("since 9:30am", at(11, 21, 9, 30), NOW, "since 9:30am"),
    ("since 16:00", at(11, 20, 16, 0), NOW, "since 16:00"),
    ("since 14:00 yesterday", at(11, 20, 14, 0), NOW, "since 14:00 yesterday"),
    ("since yesterday", at(11, 20), NOW, "since yesterday"),
    ("alerts since Monday", at(11, 16), NOW, "since Monday"),
    ("since 2026-11-20", at(11, 20), NOW, "since 2026-11-20"),
    ("since this morning", at(11, 21, 6, 0), NOW, "since this morning"),
    ("after 14:00", at(11, 21, 14, 0), NOW, "after 14:00"),
    # explicit ranges
    (
        "why was payments slow between 10:05 and 10:20?",
        at(11, 21, 10, 5),
        at(11, 21, 10, 20),
        "between 10:05 and 10:20",
    ),
    ("from 10:05 to 10:20", at(11, 21, 10, 5), at(11, 21, 10, 20), "from 10:05 to 10:20"),
    ("latency 10:05-10:20", at(11, 21, 10, 5), at(11, 21, 10, 20), "10:05-10:20"),
    ("latency 10:05 – 10:20", at(11, 21, 10, 5), at(11, 21, 10, 20), "10:05 – 10:20"),
    (
        "between 2026-11-20 10:05 and 2026-11-20 10:20",
        at(11, 20, 10, 5),
        at(11, 20, 10, 20),
        "between 2026-11-20 10:05 and 2026-11-20 10:20",
    ),
    ("between 2pm and 3pm", at(11, 21, 14, 0), at(11, 21, 15, 0), "between 2pm and 3pm"),
    ("errors 2-4pm", at(11, 21, 14, 0), NOW, "2-4pm"),  # 16:00 is ahead: cut at now
    ("from 11 to 1pm", at(11, 21, 11, 0), at(11, 21, 13, 0), "from 11 to 1pm"),
    # 23:50 today is ahead, so yesterday's; the end before the start is on the next day
    ("between 23:50 and 00:10", at(11, 20, 23, 50), at(11, 21, 0, 10), "between 23:50 and 00:10"),
    ("between 16:00 and 17:00", at(11, 20, 16, 0), at(11, 20, 17, 0), "between 16:00 and 17:00"),
    (
        "yesterday between 10:05 and 10:20",
        at(11, 20, 10, 5),
        at(11, 20, 10, 20),
        "yesterday between 10:05 and 10:20",
    ),
    (
        "payments on Monday between 2pm and 3pm?",
        at(11, 16, 14, 0),
        at(11, 16, 15, 0),
        "on Monday between 2pm and 3pm",
    ),
    ("from Nov 18 to Nov 20", at(11, 18), at(11, 21), "from Nov 18 to Nov 20"),
    ("between Friday and Monday", at(11, 13), at(11, 17), "between Friday and Monday"),
    (
        "2026-11-20T10:05:00Z to 2026-11-20T10:20:00Z",
        at(11, 20, 10, 5),
        at(11, 20, 10, 20),
        "2026-11-20T10:05:00Z to 2026-11-20T10:20:00Z",
    ),
    # a moment: ±15 minutes around its most recent past occurrence
    ("what happened at 10:15", at(11, 21, 10, 0), at(11, 21, 10, 30), "at 10:15"),
    ("around 10:15", at(11, 21, 10, 0), at(11, 21, 10, 30), "around 10:15"),
    ("at 16:00", at(11, 20, 15, 45), at(11, 20, 16, 15), "at 16:00"),
    ("at 15:25", at(11, 21, 15, 10), NOW, "at 15:25"),
    ("yesterday at 10:15", at(11, 20, 10, 0), at(11, 20, 10, 30), "yesterday at 10:15"),
    ("on 2026-11-20 10:00", at(11, 20, 9, 45), at(11, 20, 10, 15), "on 2026-11-20 10:00"),
    ("2026-11-20T10:05:00Z", at(11, 20, 9, 50), at(11, 20, 10, 20), "2026-11-20T10:05:00Z"),
    (
        "2026-11-20T10:05:00+01:00",
        at(11, 20, 8, 50),
        at(11, 20, 9, 20),
        "2026-11-20T10:05:00+01:00",
    ),
    # days and parts of days
    ("disk alerts yesterday", at(11, 20), at(11, 21), "yesterday"),
    ("errors today", at(11, 21), NOW, "today"),
    ("this morning", at(11, 21, 6, 0), at(11, 21, 12, 0), "this morning"),
    ("this afternoon", at(11, 21, 12, 0), NOW, "this afternoon"),
    ("what happened last night", at(11, 20, 18, 0), at(11, 21, 6, 0), "last night"),
    ("tonight", at(11, 20, 18, 0), at(11, 21, 6, 0), "tonight"),  # before 18:00: the last one
    ("yesterday afternoon", at(11, 20, 12, 0), at(11, 20, 18, 0), "yesterday afternoon"),
    ("deploys on Monday", at(11, 16), at(11, 17), "on Monday"),
    ("on Saturday", at(11, 14), at(11, 15), "on Saturday"),  # today is Saturday: a week ago
    ("disk alerts last weekend", at(11, 14), at(11, 16), "last weekend"),
    # dates: a whole day; without a year, the most recent past one
    ("latency on 2026-11-20", at(11, 20), at(11, 21), "on 2026-11-20"),
    ("Nov 20", at(11, 20), at(11, 21), "Nov 20"),
    ("20 Nov", at(11, 20), at(11, 21), "20 Nov"),
    ("November 20th", at(11, 20), at(11, 21), "November 20th"),
    ("Dec 25", at(12, 25, year=2025), at(12, 26, year=2025), "Dec 25"),
    ("Nov 20, 2025", at(11, 20, year=2025), at(11, 21, year=2025), "Nov 20, 2025"),
    # several phrases: the most specific wins
    ("since 14:00, mostly in the last 2 days", at(11, 21, 14, 0), NOW, "since 14:00"),
    ("errors in the last hour on Monday", at(11, 21, 14, 30), NOW, "in the last hour"),
    (
        "p95 for the top 10 hosts on localhost:8080 since 9:30am",
        at(11, 21, 9, 30),
        NOW,
        "since 9:30am",
    ),
    (
        "5xx on checkout-2 in the last 30m after the upgrade to 1.10",
        at(11, 21, 15, 0),
        NOW,
        "in the last 30m",
    ),
]


@pytest.mark.parametrize(("question", "start", "end", "phrase"), CASES, ids=[c[0] for c in CASES])
def test_parse(question: str, start: datetime, end: datetime, phrase: str) -> None:
    assert parse_window(question, NOW) == TimeWindow(start, end, phrase)


NO_WINDOW = [
    "upgrade to 1.10",
    "from 1.9 to 1.10",
    "p95 latency for payments",
    "http 500 errors",
    "top 10 hosts by cpu",
    "is localhost:8080 up",
    "10.0.0.1:8080 refused",
    "95% of requests failed",
    "5xx rate on checkout",
    "gc pauses of 200ms",
    "a 5 minute spike",
    "the last 5 minute spike",
    "checkout-2 is down",
    "between 10 and 20 hosts",
    "error rate 3-5%",
    "since the deploy",
    "the last 10 hosts",
    "deploy next Monday",
    "20/11/2026",  # slash dates are ambiguous: ignored
    "this evening",  # has not begun at 15:30
    "since 2026-12-01",  # in the future
    "at 14:00pm",
    "",
]


@pytest.mark.parametrize("question", NO_WINDOW)
def test_no_window(question: str) -> None:
    assert parse_window(question, NOW) is None


# Berlin: CET (UTC+1) on 2026-11-21; 2026-10-25 has 25 hours (CEST until 03:00 local).
BERLIN_CASES = [
    ("since 14:00", at(11, 21, 13, 0), NOW),
    ("yesterday", at(11, 19, 23, 0), at(11, 20, 23, 0)),
    ("today", at(11, 20, 23, 0), NOW),
    ("between 10:05 and 10:20", at(11, 21, 9, 5), at(11, 21, 9, 20)),
    ("between 10:05 and 10:20 UTC", at(11, 21, 10, 5), at(11, 21, 10, 20)),
    ("at 16:45", at(11, 20, 15, 30), at(11, 20, 16, 0)),  # 16:45 local is ahead of 16:30
    ("on 2026-10-25", at(10, 24, 22, 0), at(10, 25, 23, 0)),
    ("last hour", at(11, 21, 14, 30), NOW),
]


@pytest.mark.parametrize(("question", "start", "end"), BERLIN_CASES)
def test_parse_in_another_zone(question: str, start: datetime, end: datetime) -> None:
    window = parse_window(question, NOW, BERLIN)
    assert window is not None
    assert (window.start, window.end) == (start, end)


def test_now_in_any_zone_gives_the_same_window() -> None:
    now_local = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert parse_window("since 14:00", now_local) == parse_window("since 14:00", NOW)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_window("last hour", datetime(2026, 11, 21, 15, 30))


@pytest.mark.parametrize(("question", "start", "end", "phrase"), CASES, ids=[c[0] for c in CASES])
def test_windows_are_utc_past_and_quote_the_question(
    question: str, start: datetime, end: datetime, phrase: str
) -> None:
    window = parse_window(question, NOW, BERLIN)
    assert window is not None
    assert window.start.tzinfo is UTC and window.end.tzinfo is UTC
    assert window.start < window.end <= NOW
    assert window.phrase in question


DESCRIBED = [
    ("last hour", "the last hour"),
    ("last 15m", "the last 15 minutes"),
    ("past day", "the last 24 hours"),
    ("last 3 days", "the last 3 days"),
    ("last week", "the last week"),
    ("between 10:05 and 10:20", "10:05–10:20 UTC on 2026-11-21"),
    ("between 23:50 and 00:10", "2026-11-20 23:50 – 2026-11-21 00:10 UTC"),
    ("from 9:00 to 5pm", "09:00–15:30 UTC on 2026-11-21"),
    ("yesterday", "yesterday"),
    ("today", "today"),
    ("on 2026-11-18", "Wednesday 2026-11-18"),
    ("from Nov 18 to Nov 20", "2026-11-18 to 2026-11-20"),
    ("since 14:00", "since 14:00 UTC"),
    ("since 16:00", "since 2026-11-20 16:00 UTC"),
    ("since Monday", "since Monday 2026-11-16"),
]


@pytest.mark.parametrize(("question", "text"), DESCRIBED)
def test_describe(question: str, text: str) -> None:
    window = parse_window(question, NOW)
    assert window is not None
    assert describe(window, NOW) == text


def test_describe_in_another_zone() -> None:
    window = TimeWindow(at(11, 21, 13, 0), NOW, "since 14:00")
    assert describe(window, NOW, BERLIN) == "since 14:00 CET"
    window = TimeWindow(at(11, 21, 9, 5), at(11, 21, 9, 20), "between 10:05 and 10:20")
    assert describe(window, NOW, BERLIN) == "10:05–10:20 CET on 2026-11-21"
