"""The state of alerts: which are firing, deduplicated per (service, host, metric), resolved
once their metric has been back within its baseline for a while."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from knowledge.findings import Finding

AlertKey = tuple[str, str, str]


@dataclass
class Alert:
    id: str
    key: AlertKey
    first: Finding
    latest: Finding
    started: datetime
    severity: str
    resolved_at: datetime | None = None
    last_bad: datetime | None = None
    peak: float = float("-inf")

    @property
    def duration(self) -> timedelta:
        return (self.resolved_at or self.latest.at) - self.started


@dataclass
class AlertEvents:
    fired: list[Alert] = field(default_factory=list)
    escalated: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fired or self.escalated or self.resolved)


class AlertBook:
    """Deduplicates findings into alerts. ``clear_after``: how long a metric must stay within its
    baseline before its alert is resolved (hysteresis against flapping)."""

    def __init__(self, clear_after: timedelta = timedelta(minutes=3)) -> None:
        self.clear_after = clear_after
        self._open: dict[AlertKey, Alert] = {}
        self._counter = 0

    def active(self) -> list[Alert]:
        return sorted(self._open.values(), key=lambda a: a.started)

    def update(self, findings: Iterable[Finding], now: datetime) -> AlertEvents:
        events = AlertEvents()
        breached = {f.key: f for f in findings if f.breached}
        for key, finding in breached.items():
            alert = self._open.get(key)
            if alert is None:
                self._counter += 1
                alert = Alert(
                    id=f"alert-{self._counter}",
                    key=key,
                    first=finding,
                    latest=finding,
                    started=finding.since or finding.at,
                    severity=finding.severity,
                    peak=finding.peak,
                )
                self._open[key] = alert
                events.fired.append(alert)
            else:
                alert.latest = finding
                alert.peak = max(alert.peak, finding.peak)
                if finding.severity == "critical" and alert.severity != "critical":
                    alert.severity = "critical"
                    events.escalated.append(alert)
            alert.last_bad = now
        for key, alert in list(self._open.items()):
            if key in breached:
                continue
            if alert.last_bad is not None and now - alert.last_bad >= self.clear_after:
                alert.resolved_at = now
                events.resolved.append(self._open.pop(key))
        return events
