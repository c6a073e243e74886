"""Crontab lines as crontab means them. APScheduler 3's ``CronTrigger.from_crontab`` numbers the
days of the week from Monday = 0, so ``0 9 * * 1-5`` would run Tuesday to Saturday; the day-of-
week field is rewritten as day names, which it reads as meant."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday(token: str) -> int:
    token = token.strip().lower()
    if token[:3] in _DAYS:
        return _DAYS.index(token[:3])
    number = int(token)
    if not 0 <= number <= 7:
        raise ValueError(f"day of week {token} is not 0-7")
    return number % 7  # crontab: 0 and 7 are Sunday


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday, ``1-5``, ``*/2``, ``mon-fri``) as the
    day names APScheduler reads the same way (its numbers start at Monday = 0)."""
    days: set[int] = set()
    for part in field.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            first, last = 0, 6
        elif "-" in body:
            low, high = body.split("-", 1)
            first, last = _weekday(low), _weekday(high)
            last = 7 if last == 0 and first > 0 else last  # ``5-7``, ``mon-sun``
        else:
            first = last = _weekday(body)
            if step_text:
                last = 6
        days.update(d % 7 for d in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_DAYS[d] for d in sorted(days, key=lambda d: (d + 6) % 7))


def apscheduler_cron(cron: str) -> str:
    """``cron`` with its day-of-week field in day names: ``CronTrigger.from_crontab`` of
    APScheduler 3 reads ``1-5`` as Tuesday to Saturday, the names as meant."""
    fields = cron.split()
    if len(fields) != 5:
        return cron
    return " ".join([*fields[:4], crontab_weekdays(fields[4])])


def cron_trigger(cron: str, timezone: str) -> Any:
    """The APScheduler trigger of a crontab line, days of the week as crontab means them."""
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(apscheduler_cron(cron), timezone=timezone)


def check_crontab(value: str) -> str:
    """``value`` when the scheduler can read it as a crontab line, else ``ValueError`` saying
    what is expected (for config validators)."""
    try:
        cron_trigger(value, "UTC")
    except ValueError as exc:
        raise ValueError(f"expected a 5-field crontab such as '0 9 * * 1-5' ({exc})") from exc
    return value


def check_timezone(value: str) -> str:
    """``value`` when it names an IANA time zone, else ``ValueError`` (for config validators)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("expected an IANA time zone such as UTC or Europe/London") from exc
    return value
