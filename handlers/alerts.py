"""The alerts job: ask the anomaly model what is anomalous now, dedupe it into alerts, and say
what changed, one message per channel.

Called by the scheduler with a synthetic request. Alerts that fired, reopened or escalated in the
same run are grouped into ONE message per routed channel (the worst one's sentence and chart,
buttons when it is alone), with one thread reply per alert carrying its details. Resolved alerts
get a "Resolved: ..." message. Muted alerts produce nothing. A quiet run returns ``[]``.

``run`` is the job's way in: it posts as well, through the alert book's outbox, so that a process
killed mid-run neither loses an alert (recorded, never posted) nor posts one twice (posted, then
recorded again). The one window left: killed after a platform took a message and before its mark
was written, that one message is posted again after the restart (at most once per kill).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from handlers.alertbook import SEVERITY_RANK, Alert, AlertEvents
from handlers.alertcmds import alert_ref
from handlers.charts import alert_chart
from handlers.deps import Deps
from handlers.types import (
    Amend,
    Button,
    Buttons,
    Chart,
    ChatRequest,
    Context,
    Part,
    Reply,
    Section,
    Table,
)
from knowledge.findings import fmt
from knowledge.timeparse import format_duration

if TYPE_CHECKING:
    from training.live import Detection

log = logging.getLogger(__name__)

MUTE_FOR = "1h"  # what the Mute button mutes for

Post = Callable[[str, Reply], Awaitable[None]]
"""Posts one message to a channel; returns once the platform took it."""


async def check(req: ChatRequest, deps: Deps) -> list[tuple[str, Reply]]:
    """One alerts run that returns ``(channel, reply)`` for every message to post and leaves
    the posting to the caller (no delivery record: see ``run`` for the job)."""
    events = await _update(deps, record=False)
    if not events:
        return []
    return await asyncio.to_thread(messages_for, events, deps, events.at or deps.now())


async def run(req: ChatRequest, deps: Deps, post: Post) -> int:
    """One alerts-job run: first what an earlier run recorded and did not post (killed
    mid-run), then what changed now; each message through ``post(routed channel, reply)`` and
    marked sent as soon as it returns. Returns the number of messages posted. When the alert
    state could not be written (a full disk) the alerts still go out, and then the write's
    ``StateWriteError`` is raised, so that the job reports it."""
    posted = 0
    undelivered: Exception | None = None
    for left in deps.alerts.pending():
        log.warning("alerts: posting what a run at %s left unposted", left.at)
        try:
            posted += await _deliver(left, deps, post)
        except Exception as exc:  # still unreachable: record this run's changes all the same
            undelivered = exc
            break
    events = await _update(deps, record=True)
    if events and undelivered is None:
        posted += await _deliver(events, deps, post)
    if undelivered is not None:
        raise undelivered
    if deps.alerts.save_error is not None:
        raise deps.alerts.save_error
    return posted


async def _update(deps: Deps, *, record: bool) -> AlertEvents | None:
    if deps.detect is None:
        return None
    now = deps.now()
    try:
        detections = await asyncio.to_thread(deps.detect, now)
    except Exception as exc:  # the model or a source failed: skip this run, keep the state
        log.error("alerts: detection failed, run skipped: %s: %s", type(exc).__name__, exc)
        return None
    return deps.alerts.update(detections, now, record=record)


async def _deliver(events: AlertEvents, deps: Deps, post: Post) -> int:
    """Post the messages of one recorded update that are not marked sent yet, marking each."""
    if events.delivery is None:  # not recorded: nothing to deliver through the outbox
        return 0
    messages = await asyncio.to_thread(_keyed_messages, events, deps, events.at or deps.now())
    posted = 0
    for key, channel, reply in messages:
        if key in events.sent:
            continue
        await post(channel, reply)
        deps.alerts.mark_sent(events.delivery, key)
        posted += 1
    deps.alerts.delivered(events.delivery)
    return posted


def messages_for(events: AlertEvents, deps: Deps, now: datetime) -> list[tuple[str, Reply]]:
    """The messages for what one update changed, routed to their channels."""
    return [(channel, reply) for _, channel, reply in _keyed_messages(events, deps, now)]


def _keyed_messages(events: AlertEvents, deps: Deps, now: datetime) -> list[tuple[str, str, Reply]]:
    """``(key, channel, reply)``: a channel may get a firing and a resolved message from one
    update, so the key (``firing:CHANNEL`` or ``resolved:CHANNEL``) tells them apart."""
    out: list[tuple[str, str, Reply]] = []
    for channel, alerts in _by_channel(events.opened, deps).items():
        out.append((f"firing:{channel}", channel, firing_message(alerts, events, deps, now)))
    for channel, alerts in _by_channel(events.resolved, deps).items():
        out.append((f"resolved:{channel}", channel, resolved_message(alerts)))
    return out


def _by_channel(alerts: list[Alert], deps: Deps) -> dict[str, list[Alert]]:
    grouped: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        channel = deps.alert_router.channel_for(
            alert.service, alert.host, alert.anomaly_type, alert.severity
        )
        grouped[channel].append(alert)
    return grouped


def _worst(alerts: list[Alert]) -> Alert:
    return max(alerts, key=lambda a: (SEVERITY_RANK.get(a.severity, 1), a.score))


def _state(alert: Alert, events: AlertEvents) -> str:
    if any(a is alert for a in events.escalated):
        return "escalated"
    if any(a is alert for a in events.reopened):
        return f"firing again (flapped {alert.flaps}x)"
    return "new"


def firing_message(alerts: list[Alert], events: AlertEvents, deps: Deps, now: datetime) -> Reply:
    """One message for the alerts of one channel: headline, the worst one's sentence and chart,
    buttons when it is alone, and one thread reply per alert."""
    worst = _worst(alerts)
    services = ", ".join(sorted({a.service for a in alerts}))
    if len(alerts) == 1:
        verb = {"escalated": "escalated: ", "new": ""}.get(_state(worst, events), "again: ")
        headline = f"[{worst.severity}] {verb}{worst.label}"
    else:
        headline = f"[{worst.severity}] {len(alerts)} alerts on {services}; worst {worst.label}"
    parts: list[Part] = [Section(worst.sentence)] if worst.sentence else []
    if len(alerts) > 1:
        lines = [f"- {a.id} [{a.severity}] {a.label} ({_state(a, events)})" for a in alerts]
        parts.append(Section("\n".join(lines), "Alerts"))
    chart = _chart(worst)
    if chart is not None:
        parts.append(chart)
    if len(alerts) == 1:
        parts.append(_buttons(worst))
    firing = len(deps.alerts.active())
    parts.append(
        Context(f"{worst.id} · at {now:%Y-%m-%d %H:%M} UTC · {firing} firing · details in thread")
    )
    thread = tuple(_details(a, events, with_buttons=len(alerts) > 1) for a in alerts)
    refs = tuple(alert_ref(a.id) for a in alerts)
    return Reply(headline, parts=tuple(parts), thread=thread, refs=refs)


def _details(alert: Alert, events: AlertEvents, *, with_buttons: bool) -> Reply:
    """The thread reply of one alert: sentence, top metrics, type, since, id."""
    parts: list[Part] = [Section(alert.sentence)] if alert.sentence else []
    table = top_metrics(alert.latest)
    if table is not None:
        parts.append(table)
    parts.append(
        Context(
            f"{alert.id} · {alert.anomaly_type} (confidence {alert.confidence:.2f}) · "
            f"score {alert.score:.2f} · since {alert.started:%H:%M} UTC · {_state(alert, events)}"
        )
    )
    if with_buttons:
        parts.append(_buttons(alert))
    return Reply(
        f"{alert.id} [{alert.severity}] {alert.label}",
        parts=tuple(parts),
        refs=(alert_ref(alert.id),),
    )


def top_metrics(detection: Detection | None) -> Table | None:
    """The metrics that moved most: value, normal, sigma and share of the model's decision."""
    if detection is None or not detection.top:
        return None
    rows = tuple(
        (f.metric, fmt(f.value, f.unit), fmt(f.normal, f.unit), f"{f.sigma:+.1f}", f"{f.share:.0%}")
        for f in detection.top
    )
    return Table(("metric", "value", "normal", "sigma", "share"), rows)


def _buttons(alert: Alert) -> Buttons:
    """What the on-call engineer does with an alert, each the text of a command."""
    return Buttons(
        (
            Button("Acknowledge", f"ack {alert.id}", "primary"),
            Button(f"Mute {MUTE_FOR}", f"mute {alert.selector} {MUTE_FOR}"),
            Button("Explain more", f"explain {alert.id}"),
            Button("Resolve", f"resolve {alert.id}", "danger"),
        )
    )


def _chart(alert: Alert) -> Chart | None:
    if alert.latest is None or alert.latest.frame.empty:
        return None
    try:
        png = alert_chart(alert.latest)
    except Exception as exc:  # a chart is a nicety: the alert goes out without it
        log.warning("alerts: chart for %s failed: %s: %s", alert.id, type(exc).__name__, exc)
        return None
    return Chart(png, alert.label, alt=alert.sentence)


def resolved_message(alerts: list[Alert]) -> Reply:
    """``Resolved: a-3 payments/payments-2: memory_leak after 12m (peak score 0.97)``; the
    alerts' own messages are amended and closed."""
    items = [
        f"{a.id} {a.label} after {format_duration(a.duration)} (peak score {a.peak:.2f}"
        + (f", flapped {a.flaps}x" if a.flaps else "")
        + ")"
        for a in alerts
    ]
    amends = tuple(
        Amend(
            f"{a.id} resolved at {a.resolved_at or a.last_seen:%H:%M} UTC after "
            f"{format_duration(a.duration)}",
            ref=alert_ref(a.id),
            close=True,
        )
        for a in alerts
    )
    if len(items) == 1:
        return Reply(f"Resolved: {items[0]}", amends=amends)
    return Reply(
        f"Resolved: {len(items)} alerts",
        parts=(Section("\n".join(f"- {i}" for i in items)),),
        amends=amends,
    )
