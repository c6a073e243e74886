"""``ask``: answers a question from live telemetry, with the numbers and where they came from.

Finds the services and hosts the question names, looks at their metrics over the window the
question asks about (default: the last 30 minutes) against the team's baselines and their own
history, and at their warning and error logs, then writes a short, cited answer. It never states
anything it did not find.
"""

from __future__ import annotations

import re
from datetime import timedelta

from handlers import messages
from handlers.deps import Deps
from handlers.registry import Command
from handlers.types import ChatRequest, Context, Part, Reply, Section
from knowledge import logpatterns
from knowledge.findings import Finding, likely_cause, scan

DEFAULT_WINDOW = timedelta(minutes=30)
_WINDOW = re.compile(
    r"\b(?:last|past)\s+(?:(\d+)\s*)?(minutes?|mins?|m|hours?|hrs?|h|days?|d)\b", re.I
)


def window_of(question: str) -> timedelta:
    """``last 15 minutes`` -> 15 min, ``past hour`` -> 1 h; anything else -> the default."""
    match = _WINDOW.search(question)
    if not match:
        return DEFAULT_WINDOW
    amount = int(match.group(1) or 1)
    unit = match.group(2).lower()[0]
    minutes = {"m": 1, "h": 60, "d": 1440}[unit] * amount
    return timedelta(minutes=max(1, min(minutes, 7 * 1440)))


def targets_of(question: str, hosts: list[tuple[str, str]]) -> tuple[set[str], set[str]]:
    """Services and hosts named in the question (``payment`` matches ``payments``)."""
    words = set(re.findall(r"[a-z0-9][a-z0-9_-]*", question.lower()))
    services, named_hosts = set(), set()
    for service, host in hosts:
        if host.lower() in words:
            named_hosts.add(host)
            services.add(service)
        if service.lower() in words or service.lower().rstrip("s") in words:
            services.add(service)
    return services, named_hosts


async def handle(req: ChatRequest, deps: Deps) -> Reply:
    question = req.args.strip()
    if not question:
        return Reply(messages.ASK_USAGE, ephemeral=True)
    if deps.telemetry is None:
        return Reply(messages.NO_TELEMETRY, ephemeral=True)
    reader = deps.telemetry
    now = deps.now()
    window = window_of(question)
    services, hosts = targets_of(question, reader.hosts())
    findings = scan(
        reader,
        deps.analysis,
        now,
        window=window,
        history=max(window * 2, timedelta(hours=1)),
        services=services,
        hosts=hosts,
    )
    notable = [f for f in findings if f.breached or abs(f.deviation) >= 6][:6]
    records = reader.logs(now - window, now)
    records = [
        r
        for r in records
        if (not services or r.service in services) and (not hosts or r.host in hosts)
    ]
    patterns = logpatterns.group(records, redact=deps.redactor.redact)[:4]

    scope = ", ".join(sorted(hosts or services)) or "the fleet"
    span = f"the last {_human(window)}"
    facts: list[str] = []
    cites: list[str] = []
    for finding in notable:
        cites.append(f"metric {finding.metric}{{service={finding.service},host={finding.host}}}")
        facts.append(f"{finding.sentence()} [{len(cites)}]")
    for pattern in patterns:
        first_line = pattern.last.message.splitlines()[0] if pattern.last.message else ""
        example = deps.redactor.redact(logpatterns.strip_prefix(first_line))[:160]
        cites.append(f"logs {pattern.first.service}@{pattern.first.host} {pattern.last.ts:%H:%M}")
        facts.append(
            f"{pattern.count}x {pattern.level} on {pattern.first.service} between "
            f"{pattern.first.ts:%H:%M} and {pattern.last.ts:%H:%M}, e.g. `{example}` [{len(cites)}]"
        )

    breached = [f for f in notable if f.breached]
    if breached:
        worst = breached[0]
        conclusion = (
            f"{worst.host} ({worst.service}) is past the team's baseline: {worst.sentence()}."
        )
    elif notable:
        conclusion = f"Nothing on {scope} is past a baseline in {span}, but some series moved."
    else:
        conclusion = f"Nothing on {scope} is past a baseline or unusual in {span}."

    parts: list[Part] = [
        Section(
            "\n".join(f"- {f}" for f in facts) or "- no warnings or errors and no unusual metrics",
            "What we know",
        )
    ]
    causes = _causes(breached or notable, deps)
    if causes:
        parts.append(Section("\n".join(f"- {c}" for c in causes), "Likely causes"))
    parts.append(
        Section("\n".join(f"- {s}" for s in _next_steps(breached or notable)), "Next steps")
    )
    parts.append(
        Context(
            "Sources: " + "; ".join(f"[{i}] {c}" for i, c in enumerate(cites, 1))
            if cites
            else f"Sources: metrics and logs of {scope}, {span}"
        )
    )
    return Reply(conclusion, parts=tuple(parts))


def _causes(findings: list[Finding], deps: Deps) -> list[str]:
    causes = []
    by_host: dict[str, set[str]] = {}
    for finding in findings:
        by_host.setdefault(finding.host, set()).add(finding.metric)
    for host, metrics in by_host.items():
        cause = likely_cause(metrics)
        if cause:
            causes.append(f"{host}: {cause} ({', '.join(sorted(metrics))} moved together)")
    moving = {f.metric.split("_")[0] for f in findings}
    for line in deps.analysis.domain_knowledge:
        if any(word in line.lower() for word in moving if len(word) > 2):
            causes.append(f"team knowledge: {line}")
    return causes[:5]


def _next_steps(findings: list[Finding]) -> list[str]:
    if not findings:
        return [
            "Nothing to do now; ask about a longer window (`last 6 hours`) to look further back."
        ]
    steps = []
    hosts = list(dict.fromkeys(f.host for f in findings))[:2]
    metrics = {f.metric for f in findings}
    if metrics & {"java_heap_usage", "java_gc_time", "memory_usage"}:
        steps.append(f"Take a heap histogram on {hosts[0]} and compare with a healthy host.")
    if "db_pool_usage" in metrics:
        steps.append("Look for long-running queries holding connections (pg_stat_activity).")
    if "disk_usage" in metrics:
        steps.append(f"Find what is growing on {hosts[0]} (du -xh / | sort -h | tail) and rotate.")
    if metrics & {"latency_p95_ms", "error_rate"}:
        steps.append("Check the slowest traces and the error logs of the same minutes.")
    if "cpu_usage" in metrics:
        steps.append(
            f"See which process uses the CPU on {hosts[0]} (top -H, a thread dump for Java)."
        )
    steps.append(f"`status {findings[0].service}` to watch it recover.")
    return steps


def _human(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} day" + ("s" if minutes >= 2880 else "")
    if minutes % 60 == 0:
        return "hour" if minutes == 60 else f"{minutes // 60} hours"
    return f"{minutes} minutes"


COMMAND = Command(
    name="ask",
    summary="ask a question about your systems; answered from metrics and logs, with sources",
    usage="ask QUESTION",
    handler=handle,
    examples=("ask why is payments slow?", "ask what happened on checkout-2 in the last hour?"),
)
