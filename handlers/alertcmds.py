"""Alert commands: ``alerts`` lists what is firing; ``ack``, ``resolve``, ``mute`` and
``unmute`` change it.

The buttons on alert messages dispatch exactly these texts (``ack a-3``, ``resolve a-3``,
``mute payments/payments-2:memory_leak 1h``); ``ack`` and ``resolve`` amend the alert's messages
(``alert:ID`` refs) with who did it, and ``resolve`` closes them (no more buttons).
"""

from __future__ import annotations

from datetime import timedelta

from handlers.alertbook import Selector, SelectorError, UnknownAlert
from handlers.deps import Deps
from handlers.registry import Command
from handlers.types import Amend, ChatRequest, Context, Part, Reply, Section, Table
from knowledge.timeparse import format_duration, parse_duration

MAX_MUTE = timedelta(days=30)
ACK_USAGE = "Usage: `ack ALERT_ID`, for example `ack a-3` (`alerts` lists the ids)."
RESOLVE_USAGE = "Usage: `resolve ALERT_ID`, for example `resolve a-3` (`alerts` lists the ids)."
MUTE_USAGE = (
    "Usage: `mute SERVICE[/HOST][:TYPE] DURATION`, for example "
    "`mute payments/payments-2:memory_leak 1h` or `mute 'checkout*' 30m`."
)
UNMUTE_USAGE = "Usage: `unmute SELECTOR`, for example `unmute payments/payments-2:memory_leak`."


def _error(text: str) -> Reply:
    return Reply(text, ephemeral=True, error=True)


async def list_alerts(req: ChatRequest, deps: Deps) -> Reply:
    now = deps.now()
    firing = deps.alerts.active()
    mutes = deps.alerts.mutes(now)
    if not firing:
        headline = "No alerts are firing."
    else:
        critical = sum(a.severity == "critical" for a in firing)
        headline = f"{len(firing)} alert(s) firing, {critical} critical."
    parts: list[Part] = []
    if firing:
        rows = tuple(
            (
                a.id,
                a.severity,
                f"{a.service}/{a.host}",
                a.anomaly_type,
                f"{a.started:%H:%M} ({format_duration(now - a.started)})",
                _marks(a.acked_by, deps.alerts.is_muted(a.key, now), a.flaps),
            )
            for a in firing
        )
        parts.append(Table(("id", "severity", "service/host", "type", "since", "state"), rows))
    if mutes:
        lines = [f"- {m.selector} until {m.until:%Y-%m-%d %H:%M} UTC (by {m.user})" for m in mutes]
        parts.append(Section("\n".join(lines), "Muted"))
    parts.append(Context(f"as of {now:%Y-%m-%d %H:%M} UTC; `ack ID`, `mute SELECTOR 1h`"))
    return Reply(headline, parts=tuple(parts))


def _marks(acked_by: str | None, muted: bool, flaps: int) -> str:
    marks = [
        f"acked by {acked_by}" if acked_by else "",
        "muted" if muted else "",
        f"flapping {flaps}x" if flaps else "",
    ]
    return ", ".join(m for m in marks if m) or "-"


async def ack(req: ChatRequest, deps: Deps) -> Reply:
    words = req.args.split()
    if len(words) != 1:
        return _error(ACK_USAGE)
    before = deps.alerts.get(words[0])
    acked_before = before is not None and before.acked_by is not None
    now = deps.now()
    try:
        alert = deps.alerts.ack(words[0], req.user, now)
    except UnknownAlert as exc:
        return _error(str(exc))
    by = alert.acked_by or req.user
    when = alert.acked_at or now
    if acked_before:  # nothing new: no second status line on the alert's messages
        return Reply(f"{alert.id} was already acknowledged by {by} at {when:%H:%M} UTC.")
    return Reply(
        f"{alert.id} ({alert.label}) is acknowledged by {by}: "
        "it stays firing, and escalations are no longer posted.",
        amends=(
            Amend(f"{alert.id} acknowledged by {by} at {when:%H:%M} UTC", ref=alert_ref(alert.id)),
        ),
    )


def alert_ref(alert_id: str) -> str:
    """The ref of the messages about one alert (``Reply.refs``)."""
    return f"alert:{alert_id}"


async def resolve(req: ChatRequest, deps: Deps) -> Reply:
    words = req.args.split()
    if len(words) != 1:
        return _error(RESOLVE_USAGE)
    now = deps.now()
    try:
        alert = deps.alerts.resolve(words[0], req.user, now)
    except UnknownAlert as exc:
        return _error(str(exc))
    status = (
        f"{alert.id} resolved by {req.user} at {now:%H:%M} UTC, "
        f"after {format_duration(alert.duration)}"
    )
    return Reply(
        f"{alert.id} ({alert.label}) is resolved by {req.user}. If the model still sees it, "
        "it fires again as flapping.",
        amends=(Amend(status, ref=alert_ref(alert.id), close=True),),
    )


async def mute(req: ChatRequest, deps: Deps) -> Reply:
    words = req.args.replace("'", " ").replace('"', " ").split()
    if len(words) != 2:
        return _error(MUTE_USAGE)
    text, duration_text = words
    try:
        selector = Selector.parse(text)
    except SelectorError as exc:
        return _error(str(exc))
    try:
        duration = parse_duration(duration_text)
    except ValueError as exc:
        return _error(f"{duration_text!r} is not a mute duration: {exc}.")
    if duration <= timedelta(0) or duration > MAX_MUTE:
        return _error(
            f"A mute lasts between 1s and {format_duration(MAX_MUTE)}; got {duration_text}."
        )
    now = deps.now()
    muted = deps.alerts.mute(selector, now + duration, req.user, now)
    matching = [a.id for a in deps.alerts.active() if selector.matches(a.key)]
    firing = f"; firing now: {', '.join(matching)}" if matching else ""
    status = f"{selector} muted by {req.user} until {muted.until:%H:%M} UTC"
    return Reply(
        f"Muted {selector} for {format_duration(duration)}, until {muted.until:%H:%M} UTC: "
        f"matching alerts are tracked but not posted{firing}.",
        amends=tuple(Amend(status, ref=alert_ref(i)) for i in matching),
    )


async def unmute(req: ChatRequest, deps: Deps) -> Reply:
    words = req.args.replace("'", " ").replace('"', " ").split()
    if len(words) != 1:
        return _error(UNMUTE_USAGE)
    try:
        lifted = deps.alerts.unmute(words[0])
    except SelectorError as exc:
        return _error(str(exc))
    if not lifted:
        current = ", ".join(str(m.selector) for m in deps.alerts.mutes(deps.now())) or "none"
        return _error(f"Nothing is muted as {words[0]!r} (muted: {current}).")
    return Reply(
        f"Unmuted {lifted[0].selector}: its alerts are posted again, "
        "those still firing on the next check."
    )


ALERTS = Command(
    name="alerts",
    summary="the firing alerts: id, severity, service/host, type, since, acked or muted",
    usage="alerts",
    handler=list_alerts,
    examples=("alerts",),
)
ACK = Command(
    name="ack",
    summary="acknowledge an alert: it stays firing, escalations are no longer posted",
    usage="ack ALERT_ID",
    handler=ack,
    aliases=("acknowledge",),
    examples=("ack a-3",),
    mutates=True,
)
RESOLVE = Command(
    name="resolve",
    summary="close a firing alert by hand (it fires again if the anomaly is still there)",
    usage="resolve ALERT_ID",
    handler=resolve,
    examples=("resolve a-3",),
    mutates=True,
)
MUTE = Command(
    name="mute",
    summary="stop posting alerts matching SERVICE[/HOST][:TYPE] (globs allowed) for a while",
    usage="mute SELECTOR DURATION",
    handler=mute,
    examples=("mute payments/payments-2:memory_leak 1h", "mute checkout* 30m"),
    mutates=True,
)
UNMUTE = Command(
    name="unmute",
    summary="lift a mute set with `mute`",
    usage="unmute SELECTOR",
    handler=unmute,
    examples=("unmute payments/payments-2:memory_leak",),
    mutates=True,
)
COMMANDS = (ALERTS, ACK, RESOLVE, MUTE, UNMUTE)
