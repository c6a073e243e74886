"""The time window a question names ("between 10:05 and 10:20", "last hour", "yesterday").

Retrieval uses it to prefilter documents by timestamp. The parser is deterministic: ``re`` and
``datetime`` only, and every rule below is what it does, not a guess at what it might do.

Rules (``now`` is the current time; ``tz`` is the zone clock times and dates are read in; every
window comes back in UTC, with an exclusive end, and never ends after ``now``):

- Relative: "last hour", "past 2 hours", "last 15m", "in the last 30 min", "the past few days",
  "last week" -> ``[now - d, now]``. A week is 7 days, a month 30, a year 365 (rolling, not
  calendar); "few" is 3, "couple" 2, "half an hour" 30 minutes. Capped at 90 days.
  "a 5 minute spike" and "the last 5 minute spike" are durations, not windows.
- "N seconds/minutes/hours ago": 15 minutes either side of that instant. "N days/weeks ago":
  that whole calendar day ("2 days ago" is the day before yesterday).
- Clock times ("10:15", "2pm", "9:30 am", "noon", "midnight"; a bare "10" is never a time) mean
  their most recent past occurrence: today, or yesterday when today's is still in the future.
  "10:15 UTC" and ISO timestamps with ``Z`` or an offset ignore ``tz``.
- "at/around 10:15", a lone clock time, "on 2026-11-20 10:00", "2026-11-20T10:05:00Z":
  15 minutes either side.
- "since 14:00" (also "after 14:00", "from 14:00"), "since yesterday", "since Monday",
  "since 2026-11-20", "since this morning" -> from that moment (the start of that day) to now.
- Ranges: "between A and B", "from A to B", "A-B", "A – B", "A to B", where A and B are clock
  times, dates, or both. A range of clock times lies on the day of the start's most recent past
  occurrence; when the end is before the start it is on the next day (23:50-00:10 crosses
  midnight). A date on one side applies to the other ("between 2026-11-20 10:05 and 10:20"), as
  does a day in front ("yesterday between 10:05 and 10:20"). A clock time without am/pm next to
  one with it takes the same half of the day ("2-4pm", "from 11 to 1pm" = 11am-1pm). A range of
  dates includes the end day ("from Nov 20 to Nov 22" = three days).
- Days: "today" is midnight to now; "yesterday", "the day before yesterday", a weekday
  ("Monday", "on Monday", "last Monday": the most recent one *before* today, 1-7 days ago) and
  dates are whole days. "the weekend" is the most recent Saturday and Sunday that have begun;
  "last weekend" on a Saturday or Sunday is the one before.
- Dates: "2026-11-20", "Nov 20", "20 Nov", "November 20th", "Nov 20, 2026". Without a year, the
  most recent past occurrence. Slash and dot dates (20/11/2026, 11/20) are ambiguous and ignored.
- Parts of a day: morning 06:00-12:00, afternoon 12:00-18:00, evening 18:00-24:00, night
  18:00-06:00 the next day ("this morning", "yesterday afternoon", "Monday night"). "last night"
  and "overnight" are yesterday 18:00 to today 06:00; "tonight" is the night in progress after
  18:00, otherwise the same as "last night". A part that has not begun yet names no window.
- Not supported (no window): "until/before 14:00", "this week", "next ...", "tomorrow".

When several phrases match, the most specific wins: range > since > a moment (at, ago, a
timestamp) > relative > a date > a part of a day > a day name; then the longest phrase, then the
first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

__all__ = ["POINT_HALF_WIDTH", "RELATIVE_CAP", "TimeWindow", "describe", "parse_window"]

POINT_HALF_WIDTH = timedelta(minutes=15)
RELATIVE_CAP = timedelta(days=90)

_DAY = timedelta(days=1)
_PARTS = {"morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24), "night": (18, 30)}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_COUNTS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty-five": 45, "sixty": 60, "ninety": 90, "few": 3, "couple": 2, "half": 0.5,
}  # fmt: skip


@dataclass(frozen=True)
class TimeWindow:
    start: datetime
    """Aware, UTC."""
    end: datetime
    """Aware, UTC, exclusive, after ``start``."""
    phrase: str
    """The text that named the window, as written in the question."""


# --- patterns ------------------------------------------------------------------------------
# Fragments have no capturing groups; the matched text is taken apart again by the _*_PARTS
# patterns, so the same fragment can appear several times in one pattern.

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_DAYNUM = r"(?:3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?\b"
_YEAR = r"(?:,?\s+(?:19|20)\d\d\b)"
_ISO_DATE = r"(?<![\w.:/-])\d{4}-(?:1[0-2]|0?[1-9])-(?:3[01]|[12]\d|0?[1-9])(?!\d|[.:/-]\d)"
_MONTH_DAY = rf"\b{_MONTH}\s+{_DAYNUM}(?![:.%]\d|%){_YEAR}?"
# "5 may be" is not a date: "may" after a number needs a year.
_DAY_MONTH = rf"(?<![\w.:-]){_DAYNUM}\s+(?:of\s+)?(?:(?!may\b){_MONTH}{_YEAR}?|may{_YEAR})"
_DATE = rf"(?:{_ISO_DATE}|{_MONTH_DAY}|{_DAY_MONTH})"
_WEEKDAY = (
    r"(?<!next\s)\b(?:(?:last|this\s+past|this)\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day\b"
)
_DAYWORD = rf"(?:\btoday\b|\b(?:the\s+)?day\s+before\s+yesterday\b|\byesterday\b|{_WEEKDAY})"
_DAYS = rf"(?:{_DATE}|{_DAYWORD})"
_CLOCK = (
    r"(?:(?<![\w:.])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?"
    r"(?:\s*[ap]\.?m\b\.?|z\b|(?![\w:]))"
    r"|(?<![\w:.])(?:1[0-2]|0?[1-9])\s*[ap]\.?m\b\.?"
    r"|\bnoon\b|\bmidnight\b)(?:\s*(?:utc|gmt)\b)?"
)
_ISO_TS = (
    r"(?<![\w.:/-])\d{4}-\d\d-\d\dt\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:z|[+-]\d\d:?\d\d)?(?![\w:])"
)
_MOMENT = (
    rf"(?:{_ISO_TS}|(?:(?:\bon\s+)?{_DAYS}(?:\s*,\s*|\s+(?:at|around|about|near)\s+|\s+))?"
    rf"{_CLOCK}(?:\s*,?\s*(?:\bon\s+)?{_DAYS})?)"
)
_LOOSE_HOUR = r"(?<![\w:.-])(?:1[0-2]|0?[1-9])(?![\w:%.])"
_END = rf"(?:{_MOMENT}|{_DAYS}|{_LOOSE_HOUR})"
_SEP = r"(?:\s*[-–—]\s*|\s+(?:to|until|till|through|thru)\s+)"
_PART_OF_DAY = (
    rf"(?:\b(?:this|{_DAYS})\s+(?:morning|afternoon|evening|night)\b"
    r"|\b(?:tonight|last\s+night|overnight)\b)"
)
_COUNT = (
    r"(?:\d+(?:\.\d+)?|half(?:\s+an?)?|an?\s+few|an?\s+couple(?:\s+of)?|couple(?:\s+of)?|few"
    r"|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
    r"|thirty|forty-five|sixty|ninety)"
)
_UNIT = (
    r"(?:seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w"
    r"|months?|mos?|years?|yrs?|y)"
)


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_RANGE = _compile(
    rf"(?:(?:\bon\s+)?(?P<pre>{_DAYS})\s*,?\s+)?"
    rf"(?:\b(?P<between>between)\s+(?P<a1>{_END})\s+and\s+(?P<b1>{_END})"
    rf"|\bfrom\s+(?P<a2>{_END}){_SEP}(?P<b2>{_END})"
    rf"|(?P<a3>{_END}){_SEP}(?P<b3>{_END}))"
)
_SINCE = _compile(rf"\b(?P<kw>since|after|from)\s+(?P<what>{_MOMENT}|{_PART_OF_DAY}|{_DAYS})")
_POINT = _compile(
    rf"(?:\b(?:at|around|about|approximately|approx\.?|near|circa)\s+|~\s*)?(?P<what>{_MOMENT})"
)
_AGO = _compile(rf"\b(?P<n>{_COUNT})\s*(?P<u>{_UNIT})\s+ago\b")
_RELATIVE = _compile(
    rf"(?:\b(?:in|over|during|for|within)\s+)?(?:\bthe\s+)?\b(?:last|past|previous|prior)\s+"
    rf"(?:(?P<n>{_COUNT})\s*)?(?P<u>{_UNIT})\b"
)
_DATE_ONLY = _compile(rf"(?:\bon\s+)?(?P<what>{_DATE})")
_PART_ONLY = _compile(_PART_OF_DAY)
_DAYWORD_ONLY = _compile(
    rf"(?:\bon\s+)?(?P<what>{_DAYWORD})|\b(?P<last>last\s+)?(?:(?:this|over\s+the|the)\s+)?weekend\b"
)

_ISO_PARTS = _compile(
    r"(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)t(?P<h>\d\d):(?P<mi>\d\d)"
    r"(?::(?P<s>\d\d)(?:\.(?P<f>\d+))?)?(?P<z>z|[+-]\d\d:?\d\d)?"
)
_MOMENT_PARTS = _compile(
    rf"(?:(?:on\s+)?(?P<d1>{_DAYS})(?:\s*,\s*|\s+(?:at|around|about|near)\s+|\s+))?"
    rf"(?P<c>{_CLOCK})(?:\s*,?\s*(?:on\s+)?(?P<d2>{_DAYS}))?"
)
_CLOCK_PARTS = _compile(
    r"(?:(?P<h>\d{1,2})(?::(?P<mi>\d\d)(?::(?P<s>\d\d)(?:\.(?P<f>\d+))?)?)?"
    r"\s*(?:(?P<mer>[ap])\.?m\.?)?|(?P<word>noon|midnight))(?:\s*(?P<z>utc|gmt|z))?"
)
_DATE_PARTS = (
    _compile(r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"),
    _compile(r"(?P<mon>[a-z]+)\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{4}))?"),
    _compile(
        r"(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>[a-z]+)\.?(?:,?\s+(?P<y>\d{4}))?"
    ),
)


# --- pieces --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clock:
    hour: int  # as written
    minute: int = 0
    second: int = 0
    micro: int = 0
    meridiem: str | None = None  # "a" or "p"
    loose: bool = False  # a bare hour ("2" in "2-4pm"); needs a meridiem from its partner
    zone: tzinfo | None = None

    def time(self, meridiem: str | None = None) -> time | None:
        mer = self.meridiem or meridiem
        hour = self.hour
        if mer:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if mer == "p" else 0)
        elif self.loose or hour > 23:
            return None
        return time(hour, self.minute, self.second, self.micro)


@dataclass(frozen=True)
class _End:
    """One side of a range, or the target of since/at: a day, a clock time, or both."""

    day: date | None = None
    clock: _Clock | None = None
    weekday: bool = False  # the day was a weekday name
    dated: bool = False  # the day was a calendar date or ISO timestamp


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _parse_clock(text: str) -> _Clock | None:
    m = _CLOCK_PARTS.fullmatch(_norm(text))
    if m is None:
        return None
    zone = UTC if m["z"] else None
    if m["word"]:
        return _Clock(12, meridiem="p" if m["word"] == "noon" else "a", zone=zone)
    micro = int((m["f"] or "0")[:6].ljust(6, "0"))
    return _Clock(
        int(m["h"]), int(m["mi"] or 0), int(m["s"] or 0), micro, m["mer"], m["mi"] is None, zone
    )


def _offset(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text.lower() == "z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _count(text: str | None) -> float:
    if text is None:
        return 1
    words = _norm(text).removesuffix(" of").split(" ")
    if words[0] in ("a", "an") and len(words) > 1:
        words = words[1:]
    return _COUNTS[words[0]] if words[0] in _COUNTS else float(words[0])


def _duration(count_text: str | None, unit_text: str) -> timedelta | None:
    """The duration "15m", "2 hours", "half an hour", or None when it is not a window."""
    unit = unit_text.lower()
    if (len(unit) == 1 or unit == "mo") and not (count_text or "").strip()[:1].isdigit():
        return None  # "m", "h", "mo" only after digits: "15m", not "a m"
    count = _count(count_text)
    if count > 1 and unit in ("second", "minute", "hour", "day", "week", "month", "year"):
        return None  # "5 minute spike": an adjective, not a window
    if unit.startswith("mo"):
        seconds = 30 * 86400
    else:
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 365 * 86400}[unit[0]]
    return timedelta(seconds=count * seconds)


class _Context:
    def __init__(self, now: datetime, tz: tzinfo) -> None:
        self.now = now.astimezone(UTC)
        self.tz = tz
        self.local_now = now.astimezone(tz)
        self.today = self.local_now.date()

    def at(self, day: date, clock: time = time(0), zone: tzinfo | None = None) -> datetime:
        return datetime.combine(day, clock, tzinfo=zone or self.tz).astimezone(UTC)

    def whole_days(self, first: date, last: date) -> tuple[datetime, datetime]:
        return self.at(first), self.at(last + _DAY)

    def day(self, text: str) -> tuple[date, str] | None:
        """A day phrase -> (the day, "date" | "weekday" | "today" | "word")."""
        t = _norm(text)
        if t == "today":
            return self.today, "today"
        if t == "yesterday":
            return self.today - _DAY, "word"
        if t.endswith("day before yesterday"):
            return self.today - 2 * _DAY, "word"
        name = t.rsplit(" ", 1)[-1]
        if name in _WEEKDAYS:
            back = (self.today.weekday() - _WEEKDAYS.index(name)) % 7 or 7
            return self.today - back * _DAY, "weekday"
        for pattern in _DATE_PARTS:
            if m := pattern.fullmatch(t):
                found = self._date(m)
                return (found, "date") if found else None
        return None

    def _date(self, m: re.Match[str]) -> date | None:
        groups = m.groupdict()
        if groups.get("mo"):
            month = int(groups["mo"])
        elif groups["mon"][:3] in _MONTHS:
            month = _MONTHS.index(groups["mon"][:3]) + 1
        else:
            return None
        day = int(m["d"])
        if m["y"]:
            try:
                return date(int(m["y"]), month, day)
            except ValueError:
                return None
        for year in range(self.today.year, self.today.year - 8, -1):  # Feb 29 looks back
            try:
                found = date(year, month, day)
            except ValueError:
                continue
            if found <= self.today:
                return found
        return None

    def end(self, text: str) -> _End | None:
        t = _norm(text)
        if m := _ISO_PARTS.fullmatch(t):
            try:
                day = date(int(m["y"]), int(m["mo"]), int(m["d"]))
            except ValueError:
                return None
            micro = int((m["f"] or "0")[:6].ljust(6, "0"))
            stamp = _Clock(int(m["h"]), int(m["mi"]), int(m["s"] or 0), micro, zone=_offset(m["z"]))
            return _End(day, stamp, dated=True)
        if m := _MOMENT_PARTS.fullmatch(t):
            clock = _parse_clock(m["c"])
            day_text = m["d1"] or m["d2"]
            if clock is None:
                return None
            if day_text is None:
                return _End(clock=clock)
            found = self.day(day_text)
            if found is None:
                return None
            return _End(found[0], clock, found[1] == "weekday", found[1] == "date")
        if found := self.day(t):
            return _End(found[0], weekday=found[1] == "weekday", dated=found[1] == "date")
        if t.isdigit():
            return _End(clock=_Clock(int(t), loose=True))
        return None

    def instant(self, end: _End, meridiem: str | None = None, strict: bool = False) -> datetime:
        """A clock time, on its day or at its most recent past occurrence."""
        assert end.clock is not None
        clock = end.clock.time(meridiem)
        assert clock is not None
        zone = end.clock.zone or self.tz
        if end.day is not None:
            return self.at(end.day, clock, zone)
        today = self.now.astimezone(zone).date()
        found = self.at(today, clock, zone)
        if found > self.now or (strict and found == self.now):
            found = self.at(today - _DAY, clock, zone)
        return found

    def part_of_day(self, text: str) -> tuple[datetime, datetime] | None:
        t = _norm(text)
        if t in ("last night", "overnight") or (t == "tonight" and self.local_now.hour < 18):
            day, part = self.today - _DAY, "night"
        elif t == "tonight":
            day, part = self.today, "night"
        else:
            which, part = t.rsplit(" ", 1)
            found = (self.today, "") if which == "this" else self.day(which)
            if found is None:
                return None
            day = found[0]
        first, last = _PARTS[part]
        return self.at(day) + timedelta(hours=first), self.at(day) + timedelta(hours=last)


# --- builders: a match -> (start, end) or None ------------------------------------------------

_Span = tuple[datetime, datetime]


def _ok_clock(clock: _Clock | None, meridiem: str | None) -> bool:
    return clock is None or clock.time(meridiem) is not None


def _build_range(m: re.Match[str], ctx: _Context) -> _Span | None:
    if m["between"]:
        a_text, b_text, bare = m["a1"], m["b1"], False
    elif m["a2"]:
        a_text, b_text, bare = m["a2"], m["b2"], False
    else:
        a_text, b_text, bare = m["a3"], m["b3"], True
    a, b = ctx.end(a_text), ctx.end(b_text)
    pre = ctx.day(m["pre"]) if m["pre"] else None
    if a is None or b is None or (m["pre"] and pre is None):
        return None
    if bare and not all(side.clock or side.dated for side in (a, b)):
        return None  # "Monday-Friday" is too loose without "between"/"from"
    # A clock time without am/pm takes its partner's ("2-4pm"); flipped if that runs backwards.
    mer_a = mer_b = None
    if a.clock and b.clock:
        if a.clock.meridiem is None and b.clock.meridiem and 1 <= a.clock.hour <= 12:
            mer_a = b.clock.meridiem
        if b.clock.meridiem is None and a.clock.meridiem and 1 <= b.clock.hour <= 12:
            mer_b = a.clock.meridiem
        ta, tb = a.clock.time(mer_a), b.clock.time(mer_b)
        if ta is not None and tb is not None:
            if mer_a and ta > tb:
                mer_a = "a" if mer_a == "p" else "p"
            elif mer_b and tb < ta:
                mer_b = "a" if mer_b == "p" else "p"
        # "between 10:05 and 10:20 UTC": a zone on one side applies to both.
        zone = a.clock.zone or b.clock.zone
        a = _End(a.day, replace(a.clock, zone=zone), a.weekday, a.dated)
        b = _End(b.day, replace(b.clock, zone=zone), b.weekday, b.dated)
    if not (_ok_clock(a.clock, mer_a) and _ok_clock(b.clock, mer_b)):
        return None
    # A day on one side (or in front) applies to a side without one.
    both_dated = a.day is not None and b.day is not None
    day_a = a.day or (pre[0] if pre else None) or b.day
    day_b = b.day or (pre[0] if pre else None) or day_a
    a = _End(day_a, a.clock, a.weekday, a.dated)
    b = _End(day_b, b.clock, b.weekday, b.dated)
    if a.clock is None and b.clock is None and a.weekday and b.weekday:
        assert day_a is not None and day_b is not None
        if day_b < day_a:  # "between Friday and Monday": the last such stretch, all past
            day_a -= 7 * _DAY
    if a.clock is None:
        assert day_a is not None
        start = ctx.at(day_a)
    else:
        start = ctx.instant(a, mer_a)
    if b.clock is None:
        assert day_b is not None
        end = ctx.at(day_b + _DAY)
    elif day_b is None:  # no days anywhere: the end follows the start
        start_day = start.astimezone(b.clock.zone or ctx.tz).date()
        end = ctx.at(start_day, b.clock.time(mer_b) or time(0), b.clock.zone)
    else:
        end = ctx.instant(b, mer_b)
    if end < start and b.clock is not None and not both_dated:
        end = ctx.instant(
            _End(end.astimezone(b.clock.zone or ctx.tz).date() + _DAY, b.clock), mer_b
        )
    return (start, end) if end > start else None


def _build_since(m: re.Match[str], ctx: _Context) -> _Span | None:
    what = m["what"]
    if (point := ctx.end(what)) and point.clock:
        return ctx.instant(point, strict=True), ctx.now
    if m["kw"].lower() != "since":
        return None  # "logs from Monday" are Monday's logs, not since Monday
    if _PART_ONLY.fullmatch(what) and (span := ctx.part_of_day(what)):
        return span[0], ctx.now
    if point and point.day:
        return ctx.at(point.day), ctx.now
    return None


def _build_point(m: re.Match[str], ctx: _Context) -> _Span | None:
    point = ctx.end(m["what"])
    if point is None or point.clock is None or point.clock.time() is None:
        return None
    instant = ctx.instant(point)
    return instant - POINT_HALF_WIDTH, instant + POINT_HALF_WIDTH


def _build_ago(m: re.Match[str], ctx: _Context) -> _Span | None:
    duration = _duration(m["n"], m["u"])
    if duration is None:
        return None
    instant = ctx.now - duration
    if m["u"].lower()[0] in "dwy" or m["u"].lower().startswith("mo"):
        day = instant.astimezone(ctx.tz).date()
        return ctx.whole_days(day, day)
    return instant - POINT_HALF_WIDTH, instant + POINT_HALF_WIDTH


def _build_relative(m: re.Match[str], ctx: _Context) -> _Span | None:
    duration = _duration(m["n"], m["u"])
    if duration is None or duration <= timedelta(0):
        return None
    return ctx.now - min(duration, RELATIVE_CAP), ctx.now


def _build_day(m: re.Match[str], ctx: _Context) -> _Span | None:
    if m["what"] is None:  # the weekend
        saturday = ctx.today - timedelta(days=(ctx.today.weekday() - 5) % 7)
        if m["last"] and ctx.today.weekday() >= 5:
            saturday -= 7 * _DAY
        return ctx.whole_days(saturday, saturday + _DAY)
    found = ctx.day(m["what"])
    if found is None:
        return None
    if found[1] == "today":
        return ctx.at(ctx.today), ctx.now
    return ctx.whole_days(found[0], found[0])


def _build_part(m: re.Match[str], ctx: _Context) -> _Span | None:
    return ctx.part_of_day(m[0])


_MATCHERS: tuple[
    tuple[int, re.Pattern[str], Callable[[re.Match[str], _Context], _Span | None]], ...
]
_MATCHERS = (
    (70, _RANGE, _build_range),
    (60, _SINCE, _build_since),
    (50, _POINT, _build_point),
    (50, _AGO, _build_ago),
    (40, _RELATIVE, _build_relative),
    (30, _DATE_ONLY, _build_day),
    (20, _PART_ONLY, _build_part),
    (10, _DAYWORD_ONLY, _build_day),
)


def parse_window(question: str, now: datetime, tz: tzinfo = UTC) -> TimeWindow | None:
    """The time window ``question`` names, or None when it names none.

    ``now`` must be aware; clock times and dates in the question are read in ``tz``. The rules
    are in the module docstring.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    ctx = _Context(now, tz)
    best: tuple[int, int, int] | None = None
    window: TimeWindow | None = None
    for rank, pattern, build in _MATCHERS:
        pos = 0
        while m := pattern.search(question, pos):
            span = build(m, ctx)
            pos = m.end() if span else m.start() + 1
            if span is None:
                continue
            start, end = span[0], min(span[1], ctx.now)
            key = (rank, m.end() - m.start(), -m.start())
            if end > start and (best is None or key > best):
                best = key
                window = TimeWindow(start.astimezone(UTC), end.astimezone(UTC), m[0].strip())
    return window


# --- describe ------------------------------------------------------------------------------


def _hm(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


def _last(delta: timedelta) -> str | None:
    seconds = delta.total_seconds()
    if seconds <= 0 or seconds != int(seconds):
        return None
    units = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60))
    for name, size in units:
        if seconds % size == 0 and (name != "day" or seconds > 86400):  # 24 hours, not 1 day
            count = int(seconds // size)
            return f"the last {name}" if count == 1 else f"the last {count} {name}s"
    return f"the last {int(seconds)} seconds"


def describe(window: TimeWindow, now: datetime, tz: tzinfo = UTC) -> str:
    """A short human form of ``window`` for answers: "the last hour", "yesterday",
    "10:05–10:20 UTC on 2026-11-21", "since 14:00 UTC". Times are shown in ``tz``."""
    start, end = window.start.astimezone(tz), window.end.astimezone(tz)
    today = now.astimezone(tz).date()
    zone = start.tzname() or "UTC"

    def day_name(day: date) -> str:
        if day == today:
            return "today"
        if day == today - _DAY:
            return "yesterday"
        return f"{_WEEKDAYS[day.weekday()].capitalize()} {day.isoformat()}"

    midnight = time(0)
    if abs((window.end - now).total_seconds()) < 1:
        phrase = window.phrase.lower()
        if _RELATIVE.fullmatch(phrase) and (text := _last(window.end - window.start)):
            return text
        if start.date() == today and start.time() == midnight:
            return "today"
        if _SINCE.fullmatch(phrase):
            if start.time() == midnight:
                return f"since {day_name(start.date())}"
            when = "" if start.date() == today else f"{start.date().isoformat()} "
            return f"since {when}{_hm(start)} {zone}"
    if start.time() == midnight and end.time() == midnight:
        last = end.date() - _DAY
        if last == start.date():
            return day_name(last)
        return f"{start.date().isoformat()} to {last.isoformat()}"
    if start.date() == end.date():
        return f"{_hm(start)}–{_hm(end)} {zone} on {start.date().isoformat()}"
    return f"{start.date().isoformat()} {_hm(start)} – {end.date().isoformat()} {_hm(end)} {zone}"
