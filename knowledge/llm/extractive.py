"""The embedded analyst: writes the answer from the evidence alone, deterministically.

It never states anything that is not in the numbered evidence or the team's configuration:
the conclusion names the worst telemetry it was given, the facts are the evidence texts with
their times, likely causes come from co-moving metrics, matching runbooks and domain knowledge,
and next steps come from the runbooks' own steps (or a generic check per symptom). It says what
it could not see.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from knowledge.config import AnalysisConfig
from knowledge.evidence import Evidence
from knowledge.findings import fmt, likely_cause
from knowledge.retrieval import QueryPlan
from knowledge.timewindow import describe

NAME = "extractive"
MODEL = "vigil-extractive-1"
_SEVERITY = {"critical": 2, "warning": 1, "info": 0}
_STEP_SECTIONS = ("mitigate", "diagnose", "immediate", "first", "check")
_GENERIC_STEPS: dict[str, str] = {
    "java_heap_usage": "Take a heap histogram on {host} (jcmd <pid> GC.class_histogram) and "
    "compare it with a healthy host.",
    "java_gc_time": "Read the GC log on {host} for pause times and allocation rate.",
    "memory_usage": "See which process grows on {host} (ps aux --sort=-rss | head).",
    "db_pool_usage": "Look for long-running queries holding connections (pg_stat_activity).",
    "disk_usage": "Find what is growing on {host} (du -xh / | sort -h | tail) and rotate it.",
    "cpu_usage": "See which process uses the CPU on {host} (top -H; a thread dump for Java).",
    "latency_p95_ms": "Open the slowest traces of those minutes and see which span dominates.",
    "error_rate": "Read the error logs of the same minutes; check the latest deploy.",
}


@dataclass
class Draft:
    conclusion: str
    sections: list[tuple[str, list[str]]] = field(default_factory=list)


def compose(
    question: str,
    query_plan: QueryPlan,
    evidence: Sequence[Evidence],
    analysis: AnalysisConfig,
    headings: Sequence[str],
    now: datetime,
    newest: datetime | None = None,
) -> Draft:
    """The answer in the configured structure (what we know / likely causes / next steps /
    what we don't know); ``headings`` are the four section titles from the prompts config."""
    cite = {e.id: n for n, e in enumerate(evidence, start=1)}
    telemetry = [
        e for e in evidence if e.kind in ("metric_window", "log_pattern", "trace_path", "alert")
    ]
    incidents = [e for e in evidence if e.kind == "incident"]
    runbooks = [e for e in evidence if e.kind == "runbook"]
    notes = [e for e in evidence if e.kind == "note"]
    scope = _scope(query_plan)
    when = describe(query_plan.window, now) if query_plan.window else None

    worst = sorted(
        (e for e in telemetry if _alarming(e)),
        key=lambda e: (-_SEVERITY.get(e.severity, 0), -_focus(e, query_plan), -e.score),
    )
    conclusion = _conclusion(worst, telemetry, incidents, runbooks, cite, scope, when)

    known = [f"{_when(e)}{_clip(e.text)} [{cite[e.id]}]" for e in telemetry[:8]]
    known += [f"Past incident: {_clip(e.text)} [{cite[e.id]}]" for e in incidents[:3]]
    if not known:
        known = [f"No metrics, logs or traces in the store match {scope}{_in(when)}."]

    moving = _moving_metrics(worst or telemetry)
    causes = []
    pattern = likely_cause(moving)
    if pattern and worst:
        causes.append(
            f"{pattern} ({', '.join(sorted(moving)[:4])} moved together) [{cite[worst[0].id]}]"
        )
    for e in runbooks[:2]:
        causes.append(f"Runbook {e.title.split(' > ')[0]!r} covers this [{cite[e.id]}]")
    for e in notes:
        if e.payload.get("type") == "domain_knowledge" and _relevant_note(e.text, moving, question):
            causes.append(f"Team knowledge: {_strip_label(e.text)} [{cite[e.id]}]")
    for e in incidents[:1]:
        causes.append(f"It looks like an earlier incident [{cite[e.id]}]")
    causes = causes[:5] or ["The evidence does not point at a cause."]

    steps = _runbook_steps(runbooks, cite)
    host = (worst[0].host or worst[0].service) if worst else ""
    for metric, generic in _GENERIC_STEPS.items():
        if metric in moving and len(steps) < 5:
            steps.append(generic.format(host=host or "the host"))
    if worst:
        steps.append(f"`status {worst[0].service}` to watch it recover.")
    if not steps:
        steps.append("Ask about a longer window (`last 6 hours`) or another service.")

    unknown = _unknowns(query_plan, telemetry, newest, now, when)
    titles = [*list(headings), "What we know", "Likely causes", "Next steps", "What we don't know"]
    return Draft(
        conclusion=conclusion,
        sections=[
            (titles[0], known),
            (titles[1], causes),
            (titles[2], list(dict.fromkeys(steps))[:6]),
            (titles[3], unknown),
        ],
    )


def _alarming(e: Evidence) -> bool:
    """Worth the conclusion: a metric past its baseline or far off its normal, or logs and
    traces bad enough to be marked critical (a few errors are everyday noise)."""
    if e.kind == "metric_window":
        return e.severity != "info"
    return e.severity == "critical"


def _scope(query_plan: QueryPlan) -> str:
    names = sorted(query_plan.hosts) or sorted(query_plan.services)
    return ", ".join(names) if names else "the fleet"


def _in(when: str | None) -> str:
    return f" in {when}" if when else ""


def _focus(e: Evidence, query_plan: QueryPlan) -> int:
    return int(e.host in query_plan.hosts) * 2 + int(e.service in query_plan.services)


def _when(e: Evidence) -> str:
    if e.first is None or e.last is None:
        return ""
    if e.merged:
        return f"{e.first:%H:%M}–{e.last:%H:%M} UTC ({e.merged + 1} windows): "
    return ""


def _clip(text: str, limit: int = 320) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _strip_label(text: str) -> str:
    return re.sub(r"^(Team knowledge|Baseline):\s*", "", text).strip()


def _conclusion(
    worst: list[Evidence],
    telemetry: list[Evidence],
    incidents: list[Evidence],
    runbooks: list[Evidence],
    cite: dict[str, int],
    scope: str,
    when: str | None,
) -> str:
    if worst:
        top = worst[0]
        who = f"{top.host} ({top.service})" if top.host else top.service or scope
        span = ""
        if top.first and top.last:
            span = (
                f" from {top.first:%H:%M} to {top.last:%H:%M} UTC"
                if top.last > top.first
                else f" at {top.first:%H:%M} UTC"
            )
        breached = [
            f"{m} {fmt(v['peak'] if v.get('peak') is not None else v['value'], v.get('unit', ''))}"
            f" (limit {fmt(v['limit'], v.get('unit', ''))})"
            for m, v in top.metrics.items()
            if v.get("breached") and v.get("limit") is not None
        ]
        if breached:
            listed = ", ".join(breached[:3])
            return f"{who} was past the team's baseline{span}: {listed} [{cite[top.id]}]."
        what = {
            "log_pattern": "logged warnings and errors",
            "trace_path": "had slow or failing traces",
        }
        moved = what.get(top.kind, "moved away from its normal range")
        return f"{who} {moved}{span} [{cite[top.id]}]."
    if telemetry:
        return f"Nothing on {scope} was past a baseline{_in(when)}; the closest evidence is below."
    if incidents:
        return f"No telemetry matches, but a past incident looks similar [{cite[incidents[0].id]}]."
    if runbooks:
        first = cite[runbooks[0].id]
        return f"No telemetry matches {scope}{_in(when)}; the closest runbook is [{first}]."
    return f"I found nothing in the knowledge store about {scope}{_in(when)}."


def _moving_metrics(evidence: list[Evidence]) -> set[str]:
    moving: set[str] = set()
    for e in evidence[:3]:
        moving |= set(e.metrics)
    return moving


def _relevant_note(text: str, moving: set[str], question: str) -> bool:
    lowered = text.lower()
    words = {w for m in moving for w in m.split("_") if len(w) > 2 and w not in ("usage", "time")}
    words |= {w for w in re.findall(r"[a-z]{4,}", question.lower())} - {
        "what",
        "why",
        "when",
        "with",
    }
    return any(w in lowered for w in words)


def _runbook_steps(runbooks: list[Evidence], cite: dict[str, int]) -> list[str]:
    """The first commands or bullet points of the matching runbooks' steps."""
    steps = []
    for e in runbooks[:2]:
        heading = e.title.lower()
        if not any(word in heading for word in _STEP_SECTIONS):
            continue
        for line in e.text.splitlines()[1:]:
            line = line.strip()
            item = re.match(r"^(?:[-*]|\d+[.)])\s+(.*)", line)
            if item and len(item.group(1)) > 8:
                steps.append(f"{item.group(1).rstrip()} [{cite[e.id]}]")
            if len(steps) >= 3:
                break
    return steps


def _unknowns(
    query_plan: QueryPlan,
    telemetry: list[Evidence],
    newest: datetime | None,
    now: datetime,
    when: str | None,
) -> list[str]:
    kinds = {e.kind for e in telemetry}
    missing = []
    if "metric_window" not in kinds:
        missing.append("metrics")
    if "log_pattern" not in kinds:
        missing.append("logs")
    if "trace_path" not in kinds:
        missing.append("traces")
    out = []
    if missing:
        out.append(f"No {', '.join(missing)} evidence matched {_scope(query_plan)}{_in(when)}.")
    if newest is not None and (query_plan.window is None or query_plan.window.end > newest):
        lag = now - newest
        if lag.total_seconds() > 600:
            out.append(f"The store's newest telemetry is from {newest:%Y-%m-%d %H:%M} UTC.")
    out.append(
        "Anything that is not in the evidence above (deploys, config changes, other teams' "
        "systems) I cannot see."
    )
    return out
