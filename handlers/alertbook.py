"""The state of alerts, driven by the anomaly model's detections.

One ``AlertBook.update`` per alerts-job run turns the detections of that run into what changed:
alerts that fired, escalated, reopened or resolved. The policy:

- **dedupe**: one alert per (service, host, anomaly type) while it keeps being detected;
- **escalation**: a warning becomes critical when a detection says so, or when it has been firing
  for ``escalate_after``; an acknowledged alert escalates silently;
- **resolution**: after ``clear_after`` without a detection for its key;
- **cooldown**: a key detected again within ``cooldown`` of its resolution reopens the same alert
  (counted as a flap) instead of opening a new one;
- **mutes**: ``service[/host][:type]`` selectors with ``*`` globs; a muted alert is tracked but
  never posted. An alert that fired while muted is posted when the mute ends and it still fires.

With a ``path`` the state is written atomically after every change and read back on start, so a
restart neither re-posts firing alerts nor forgets acknowledgements and mutes.

**History**: every closed alert (resolved by the model or by hand) is kept in a bounded list,
persisted with the rest (``HISTORY_DAYS`` days, at most ``HISTORY_MAX`` alerts), for digests:
``closed(since)``; ``history_since()`` says from when it is complete once some was dropped. An
alert that reopens within its cooldown leaves the history until it closes again, so each alert is
there once, in its final state. The state file stays version 1 (``closed`` and ``history_since``
are additive keys older Vigil ignores); a file without ``closed`` seeds the history from
``recent``, and is complete only from the earliest of those.

**Delivery** (the alerts job, ``update(..., record=True)``): what an update changed is recorded
in an outbox in the same atomic write as the change itself, before anything is posted; the poster
marks each message sent once the platform took it (``mark_sent``) and drops the record
when all were (``delivered``). A process killed in between finds the record on start
(``pending()``) and posts what is left, so an alert is never lost and is repeated only when the
kill falls between a post and its mark. The outbox is the additive key ``outbox``.

A state write that fails (a full disk) does not stop the alerts: the book keeps its state in
memory, logs the one-line reason once, keeps it in ``save_error`` until a write succeeds, and
writes everything at the next change that can be saved.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from knowledge.config import StrictModel
from knowledge.statefile import StateWriteError, read_json, write_json_atomic
from knowledge.timeparse import parse_duration

if TYPE_CHECKING:
    from training.live import Detection

log = logging.getLogger(__name__)

AlertKey = tuple[str, str, str]  # (service, host, anomaly_type)
STATE_VERSION = 1  # the history keys are additive: older Vigil still reads the file
READABLE_VERSIONS = frozenset({1, 2})  # 2: written by an interim build with the history
HISTORY_DAYS = 32  # beyond the longest digest period (31 days)
HISTORY_MAX = 1000
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
OUTBOX_MAX = 100  # deliveries kept pending at most (a poster that never returns)
EVENT_KINDS = ("fired", "escalated", "reopened", "resolved")
_TIMES = ("started", "fired_at", "last_seen", "acked_at", "resolved_at")


class AlertPolicy(StrictModel):
    """How alerts are deduplicated, escalated and resolved (durations accept ``"3m"``)."""

    clear_after: timedelta = timedelta(minutes=3)
    cooldown: timedelta = timedelta(minutes=10)
    escalate_after: timedelta = timedelta(minutes=15)

    @field_validator("clear_after", "cooldown", "escalate_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)


class SelectorError(ValueError):
    """A mute selector that is not ``service[/host][:type]``."""


_SELECTOR = re.compile(r"^(?P<service>[^/:\s]+)(?:/(?P<host>[^/:\s]+))?(?::(?P<type>[^/:\s]+))?$")


@dataclass(frozen=True)
class Selector:
    """``service[/host][:type]``, each part a glob; a missing part matches anything."""

    service: str
    host: str = "*"
    anomaly_type: str = "*"

    @classmethod
    def parse(cls, text: str) -> Selector:
        match = _SELECTOR.match(text.strip())
        if match is None:
            raise SelectorError(
                f"{text.strip()!r} is not a selector: expected SERVICE[/HOST][:TYPE], "
                "for example payments/payments-2:memory_leak or 'checkout*'"
            )
        return cls(match["service"], match["host"] or "*", match["type"] or "*")

    def matches(self, key: AlertKey) -> bool:
        return all(
            fnmatch.fnmatchcase(value, pattern)
            for value, pattern in zip(
                key, (self.service, self.host, self.anomaly_type), strict=True
            )
        )

    def __str__(self) -> str:
        text = self.service
        if self.host != "*":
            text += f"/{self.host}"
        if self.anomaly_type != "*":
            text += f":{self.anomaly_type}"
        return text


@dataclass
class Mute:
    selector: Selector
    until: datetime
    user: str
    created: datetime


@dataclass
class Alert:
    """One alert. ``latest`` is the newest detection (not persisted: ``None`` after a restart)."""

    id: str
    key: AlertKey
    severity: str
    started: datetime  # the first anomalous row of the run that opened it
    fired_at: datetime  # when the book opened it
    last_seen: datetime  # the last run that detected it
    sentence: str
    score: float
    peak: float
    confidence: float
    posted: bool = False  # its firing was posted (it was not muted then)
    acked_by: str | None = None
    acked_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None  # who resolved it by hand (None: the model saw it clear)
    flaps: int = 0  # times it reopened within the cooldown
    latest: Detection | None = field(default=None, repr=False, compare=False)

    @property
    def service(self) -> str:
        return self.key[0]

    @property
    def host(self) -> str:
        return self.key[1]

    @property
    def anomaly_type(self) -> str:
        return self.key[2]

    @property
    def label(self) -> str:
        """``service/host: type``."""
        return f"{self.service}/{self.host}: {self.anomaly_type}"

    @property
    def selector(self) -> str:
        """The mute selector of exactly this alert's key."""
        return f"{self.service}/{self.host}:{self.anomaly_type}"

    @property
    def flapping(self) -> bool:
        return self.flaps > 0

    @property
    def duration(self) -> timedelta:
        return (self.resolved_at or self.last_seen) - self.started

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        del data["latest"]
        data["key"] = list(self.key)
        for name in _TIMES:
            value = getattr(self, name)
            data[name] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        times = {
            name: datetime.fromisoformat(data[name]) if data.get(name) else None for name in _TIMES
        }
        service, host, anomaly_type = (str(part) for part in data["key"])
        return cls(
            id=str(data["id"]),
            key=(service, host, anomaly_type),
            severity=str(data["severity"]),
            started=_required(times["started"]),
            fired_at=_required(times["fired_at"]),
            last_seen=_required(times["last_seen"]),
            sentence=str(data.get("sentence", "")),
            score=float(data.get("score", 0.0)),
            peak=float(data.get("peak", 0.0)),
            confidence=float(data.get("confidence", 0.0)),
            posted=bool(data.get("posted", False)),
            acked_by=data.get("acked_by"),
            acked_at=times["acked_at"],
            resolved_at=times["resolved_at"],
            resolved_by=data.get("resolved_by"),
            flaps=int(data.get("flaps", 0)),
        )


def _required(value: datetime | None) -> datetime:
    if value is None:
        raise ValueError("missing time")
    return value


@dataclass
class AlertEvents:
    """What one update changed, to be posted. Muted alerts never appear here."""

    fired: list[Alert] = field(default_factory=list)
    escalated: list[Alert] = field(default_factory=list)
    reopened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    delivery: str | None = None  # its record in the outbox (``update(..., record=True)``)
    at: datetime | None = None  # when the update ran
    sent: set[str] = field(default_factory=set)  # keys of the messages already posted

    @property
    def opened(self) -> list[Alert]:
        """Fired, reopened and escalated: the alerts a firing message is about."""
        return self.fired + self.reopened + self.escalated

    def __bool__(self) -> bool:
        return bool(self.fired or self.escalated or self.reopened or self.resolved)


class UnknownAlert(KeyError):
    """No firing alert has that id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown alert"


class AlertBook:
    """Deduplicates detections into alerts; see the module docstring for the policy."""

    def __init__(self, policy: AlertPolicy | None = None, path: Path | None = None) -> None:
        self.policy = policy or AlertPolicy()
        self.path = path
        self._lock = threading.RLock()
        self._open: dict[AlertKey, Alert] = {}
        self._recent: dict[AlertKey, Alert] = {}  # resolved, still within their cooldown
        self._mutes: list[Mute] = []
        self._closed: list[Alert] = []  # closed alerts, oldest resolution first (bounded)
        self._history_since: datetime | None = None  # complete from then (None: all of it)
        self._outbox: list[dict[str, Any]] = []  # deliveries not all posted yet, oldest first
        self._counter = 0
        self.save_error: StateWriteError | None = None  # the last write's failure, until one works
        self._seen: tuple[int, int, int] | None = None  # the file as this process last knew it
        if path is not None:
            self._load(path)
            self._seen = self._signature()

    # ------------------------------------------------------------------ queries

    def active(self) -> list[Alert]:
        """Firing alerts, oldest first (muted ones included)."""
        with self._lock:
            self._reread()
            return sorted(self._open.values(), key=lambda a: (a.fired_at, _id_number(a.id)))

    def get(self, alert_id: str) -> Alert | None:
        """The firing alert with this id."""
        with self._lock:
            self._reread()
            return next((a for a in self._open.values() if a.id == alert_id.strip()), None)

    def find(self, alert_id: str) -> Alert | None:
        """The alert with this id, firing or resolved within its cooldown."""
        with self._lock:
            self._reread()
            wanted = alert_id.strip()
            alerts = [*self._open.values(), *self._recent.values()]
            return next((a for a in alerts if a.id == wanted), None)

    def closed(self, since: datetime | None = None) -> list[Alert]:
        """Alerts closed (by the model or by hand) at or after ``since``, oldest first. Their
        ``latest`` detection is not kept."""
        with self._lock:
            self._reread()
            return [
                a
                for a in self._closed
                if since is None or (a.resolved_at is not None and a.resolved_at >= since)
            ]

    def history_since(self) -> datetime | None:
        """From when ``closed`` is complete: ``None`` while nothing was dropped (by age, by
        ``HISTORY_MAX``, or in a state file written before the history existed)."""
        with self._lock:
            self._reread()
            return self._history_since

    def mutes(self, now: datetime | None = None) -> list[Mute]:
        """Mutes in force (at ``now`` when given)."""
        with self._lock:
            self._reread()
            return [m for m in self._mutes if now is None or m.until > now]

    def is_muted(self, key: AlertKey, now: datetime) -> bool:
        with self._lock:
            self._reread()
            return any(m.until > now and m.selector.matches(key) for m in self._mutes)

    # ------------------------------------------------------------------ the job's update

    def update(
        self, detections: Iterable[Detection], now: datetime, *, record: bool = False
    ) -> AlertEvents:
        """Apply one run's detections at ``now``; return what to post. ``record``: put what
        changed in the outbox too (see the module docstring), in the same write. A failed write
        does not raise (see ``save_error``)."""
        with self._shared():
            events = AlertEvents(at=now)
            self._mutes = [m for m in self._mutes if m.until > now]
            for key, alert in list(self._recent.items()):
                if alert.resolved_at is None or now - alert.resolved_at > self.policy.cooldown:
                    del self._recent[key]  # past its cooldown: a new detection is a new alert
            seen = _worst_per_key(detections)
            for key, detection in seen.items():
                self._observe(key, detection, now, events)
            for key, alert in list(self._open.items()):
                if key not in seen:
                    self._maybe_resolve(alert, now, events)
            if record and events:
                self._record(events, now)
            self._try_save()
            return events

    def _observe(self, key: AlertKey, detection: Detection, now: datetime, ev: AlertEvents) -> None:
        muted = self.is_muted(key, now)
        alert = self._open.get(key)
        if alert is None and key in self._recent:
            alert = self._recent.pop(key)
            self._closed = [a for a in self._closed if a.id != alert.id]  # open again
            alert.resolved_at = None
            alert.resolved_by = None
            alert.flaps += 1
            self._open[key] = alert
            self._refresh(alert, detection, now)
            if not muted and alert.posted:
                ev.reopened.append(alert)
            elif not muted:
                alert.posted = True
                ev.fired.append(alert)
            return
        if alert is None:
            self._counter += 1
            alert = Alert(
                id=f"a-{self._counter}",
                key=key,
                severity=_severity(detection.severity),
                started=detection.since,
                fired_at=now,
                last_seen=now,
                sentence=detection.sentence,
                score=detection.score,
                peak=detection.score,
                confidence=detection.confidence,
                latest=detection,
            )
            self._open[key] = alert
        else:
            escalates = self._refresh(alert, detection, now)
            if escalates and alert.posted and not muted and alert.acked_by is None:
                ev.escalated.append(alert)
        if not alert.posted and not muted:
            alert.posted = True
            ev.fired.append(alert)

    def _refresh(self, alert: Alert, detection: Detection, now: datetime) -> bool:
        """Take in a new detection; return whether the alert escalated to critical."""
        alert.latest = detection
        alert.last_seen = now
        alert.sentence = detection.sentence
        alert.score = detection.score
        alert.confidence = detection.confidence
        alert.peak = max(alert.peak, detection.score)
        wanted = _severity(detection.severity)
        if now - alert.fired_at >= self.policy.escalate_after:
            wanted = "critical"
        if SEVERITY_RANK.get(wanted, 1) > SEVERITY_RANK.get(alert.severity, 1):
            alert.severity = wanted
            return wanted == "critical"
        return False

    def _maybe_resolve(self, alert: Alert, now: datetime, events: AlertEvents) -> None:
        if now - alert.last_seen < self.policy.clear_after:
            return
        alert.resolved_at = now
        del self._open[alert.key]
        self._recent[alert.key] = alert
        self._remember(alert, now)
        if alert.posted and not self.is_muted(alert.key, now):
            events.resolved.append(alert)

    # ------------------------------------------------------------------ delivery

    def _record(self, events: AlertEvents, now: datetime) -> None:
        events.delivery = uuid.uuid4().hex[:12]
        entry: dict[str, Any] = {"id": events.delivery, "at": now.isoformat(), "sent": []}
        for kind in EVENT_KINDS:
            entry[kind] = [a.to_json() for a in getattr(events, kind)]
        self._outbox.append(entry)
        if len(self._outbox) > OUTBOX_MAX:
            dropped = self._outbox[:-OUTBOX_MAX]
            self._outbox = self._outbox[-OUTBOX_MAX:]
            log.warning("alert outbox full: %d undelivered message group(s) dropped", len(dropped))

    def pending(self) -> list[AlertEvents]:
        """What recorded updates left unposted (the process was killed while posting), oldest
        first, with the alerts as they were then (without their detections)."""
        with self._lock:
            self._reread()
            return [_events_of(entry) for entry in self._outbox]

    def mark_sent(self, delivery: str, key: str) -> None:
        """The message ``key`` of ``delivery`` (say ``firing:alerts``) was posted."""
        with self._shared():
            entry = next((e for e in self._outbox if e["id"] == delivery), None)
            if entry is not None and key not in entry["sent"]:
                entry["sent"].append(key)
                self._try_save()

    def delivered(self, delivery: str) -> None:
        """Every message of ``delivery`` was posted: drop its record."""
        with self._shared():
            kept = [e for e in self._outbox if e["id"] != delivery]
            if len(kept) != len(self._outbox):
                self._outbox = kept
                self._try_save()

    # ------------------------------------------------------------------ commands

    def ack(self, alert_id: str, user: str, now: datetime) -> Alert:
        """Acknowledge a firing alert: it stays firing, but escalations are no longer posted."""
        with self._shared():
            alert = self.get(alert_id)
            if alert is None:
                raise UnknownAlert(self._unknown(alert_id))
            if alert.acked_by is None:
                alert.acked_by, alert.acked_at = user, now
                self._save()
            return alert

    def resolve(self, alert_id: str, user: str, now: datetime) -> Alert:
        """Close a firing alert by hand ("fixed"). If the model still sees the anomaly within
        the cooldown, the alert reopens as flapping rather than as a new one."""
        with self._shared():
            alert = self.get(alert_id)
            if alert is None:
                raise UnknownAlert(self._unknown(alert_id))
            alert.resolved_at, alert.resolved_by = now, user
            del self._open[alert.key]
            self._recent[alert.key] = alert
            self._remember(alert, now)
            self._save()
            return alert

    def mute(self, selector: str | Selector, until: datetime, user: str, now: datetime) -> Mute:
        """Mute every key ``selector`` matches until ``until`` (replacing a mute of the same
        selector). Raises ``SelectorError`` on a bad selector."""
        parsed = selector if isinstance(selector, Selector) else Selector.parse(selector)
        with self._shared():
            self._mutes = [m for m in self._mutes if m.selector != parsed and m.until > now]
            mute = Mute(parsed, until, user, now)
            self._mutes.append(mute)
            self._save()
            return mute

    def unmute(self, selector: str | Selector) -> list[Mute]:
        """Lift the mutes of exactly ``selector``; return them (empty: there was none)."""
        parsed = selector if isinstance(selector, Selector) else Selector.parse(selector)
        with self._shared():
            lifted = [m for m in self._mutes if m.selector == parsed]
            if lifted:
                self._mutes = [m for m in self._mutes if m.selector != parsed]
                self._save()
            return lifted

    def _remember(self, alert: Alert, now: datetime) -> None:
        """Put a just-closed alert in the history (a copy without its detection: the live one
        may reopen and change), dropping what is past ``HISTORY_DAYS`` or beyond
        ``HISTORY_MAX``."""
        kept = replace(alert, latest=None)
        horizon = now - timedelta(days=HISTORY_DAYS)
        history = [a for a in self._closed if a.id != alert.id]
        history.append(kept)
        history.sort(key=_closed_at)
        self._keep([a for a in history if _closed_at(a) >= horizon], history)

    def _keep(self, wanted: list[Alert], everything: list[Alert]) -> None:
        """Keep the last ``HISTORY_MAX`` of ``wanted`` (sorted); what is dropped from
        ``everything`` moves ``history_since`` past it."""
        self._closed = wanted[-HISTORY_MAX:]
        kept = {a.id for a in self._closed}
        dropped = [_closed_at(a) for a in everything if a.id not in kept]
        if dropped:
            latest = max(dropped)
            if self._history_since is None or latest > self._history_since:
                self._history_since = latest

    def _saved_at(self) -> datetime | None:
        """When the state file was last written (its modification time)."""
        try:
            return datetime.fromtimestamp(self.path.stat().st_mtime, UTC) if self.path else None
        except OSError:
            return None

    def _unknown(self, alert_id: str) -> str:
        firing = ", ".join(a.id for a in self.active()) or "none"
        return f"No firing alert has the id {alert_id.strip()!r} (firing: {firing})."

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "version": STATE_VERSION,
                "counter": self._counter,
                "open": [a.to_json() for a in self.active()],
                "recent": [a.to_json() for a in self._recent.values()],
                "closed": [a.to_json() for a in self._closed],
                "history_since": _iso(self._history_since),
                "outbox": [dict(e, sent=list(e["sent"])) for e in self._outbox],
                "mutes": [
                    {
                        "selector": str(m.selector),
                        "until": m.until.isoformat(),
                        "user": m.user,
                        "created": m.created.isoformat(),
                    }
                    for m in self._mutes
                ],
            }

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat() if self.path is not None else None
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size) if st is not None else None

    def _reread(self) -> None:
        """Re-read the state when another process wrote it since this one last did (chat
        workers and the scheduler on one data volume); never while this process's own
        changes are unsaved (a full disk), which then win."""
        if self.path is None or self.save_error is not None:
            return
        seen = self._signature()
        if seen == self._seen:
            return
        self._open, self._recent, self._mutes, self._counter = {}, {}, [], 0
        self._closed, self._history_since, self._outbox = [], None, []
        self._load(self.path)
        self._seen = seen

    @contextlib.contextmanager
    def _shared(self) -> Iterator[None]:
        """A change of the state: one process at a time (a lock file beside it, so that an
        ``ack`` in a chat worker and the scheduler's alerts run never overwrite each other),
        starting from what is on disk."""
        with self._lock:
            handle = None
            if self.path is not None:
                try:
                    handle = self.path.with_name(self.path.name + ".lock").open("a")
                except OSError:  # no data dir yet, or read-only: this process only
                    handle = None
                else:
                    fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._reread()
                yield
            finally:
                if handle is not None:
                    handle.close()  # releases the lock

    def _save(self) -> None:
        """Write the state; raises ``StateWriteError`` (also kept in ``save_error``)."""
        if self.path is None:
            return
        try:
            write_json_atomic(self.path, self.state())
            self._seen = self._signature()
        except StateWriteError as exc:
            if self.save_error is None:
                log.error("alert state not saved, kept in memory until it can be: %s", exc)
            self.save_error = exc
            raise
        self.save_error = None

    def _try_save(self) -> None:
        """``_save`` for the alerts job: a failure is logged and kept, not raised."""
        with contextlib.suppress(StateWriteError):
            self._save()

    def _load(self, path: Path) -> None:
        raw = read_json(path, None)
        if raw is None:
            return
        try:
            self._restore(raw)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning(
                "alert state %s is unreadable (%s); starting with no alerts or mutes", path, exc
            )
            self._open, self._recent, self._mutes, self._counter = {}, {}, [], 0
            self._closed, self._history_since, self._outbox = [], None, []

    def _restore(self, raw: Any) -> None:
        if not isinstance(raw, dict) or raw.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"expected a version {STATE_VERSION} state object")
        self._counter = int(raw.get("counter", 0))
        for item in raw.get("open", []):
            alert = Alert.from_json(item)
            self._open[alert.key] = alert
        for item in raw.get("recent", []):
            alert = Alert.from_json(item)
            self._recent[alert.key] = alert
        since = raw.get("history_since")
        self._history_since = datetime.fromisoformat(since) if since else None
        if "closed" in raw:
            closed = sorted((Alert.from_json(item) for item in raw["closed"]), key=_closed_at)
        else:  # written before the history: what is still in its cooldown, complete from there
            recent = (replace(a, latest=None) for a in self._recent.values())
            closed = sorted(recent, key=_closed_at)
            earliest = closed[0] if closed else None
            self._history_since = _closed_at(earliest) if earliest else self._saved_at()
        self._keep(closed, closed)
        for item in raw.get("mutes", []):
            self._mutes.append(
                Mute(
                    Selector.parse(str(item["selector"])),
                    datetime.fromisoformat(item["until"]),
                    str(item.get("user", "")),
                    datetime.fromisoformat(item["created"]),
                )
            )
        for entry in raw.get("outbox", []):
            try:
                _events_of(entry)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("an undeliverable outbox entry in %s was dropped (%s)", self.path, exc)
                continue
            self._outbox.append(entry)
        highest = max(
            (_id_number(a.id) for a in [*self._open.values(), *self._recent.values(), *closed]),
            default=0,
        )
        self._counter = max(self._counter, highest)


def _events_of(entry: dict[str, Any]) -> AlertEvents:
    """An outbox entry as the events it records (fresh alerts, as they were then)."""
    if not isinstance(entry.get("sent"), list):
        raise TypeError("sent is not a list")
    events = AlertEvents(
        delivery=str(entry["id"]),
        at=datetime.fromisoformat(entry["at"]),
        sent={str(c) for c in entry["sent"]},
    )
    for kind in EVENT_KINDS:
        getattr(events, kind).extend(Alert.from_json(item) for item in entry.get(kind, []))
    return events


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _closed_at(alert: Alert) -> datetime:
    return alert.resolved_at or alert.last_seen


def _worst_per_key(detections: Iterable[Detection]) -> dict[AlertKey, Detection]:
    worst: dict[AlertKey, Detection] = {}
    for detection in detections:
        current = worst.get(detection.key)
        if current is None or _rank(detection) > _rank(current):
            worst[detection.key] = detection
    return worst


def _rank(detection: Detection) -> tuple[int, float]:
    return SEVERITY_RANK.get(detection.severity, 1), detection.score


def _severity(value: str) -> str:
    return value if value in SEVERITY_RANK else "warning"


def _id_number(alert_id: str) -> int:
    digits = alert_id.rpartition("-")[2]
    return int(digits) if digits.isdigit() else 0
