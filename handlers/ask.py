"""``ask``: answers a question from the knowledge store and live telemetry, with sources.

The question goes to the answerer (retrieval over the store, then an LLM or the embedded
extractive analyst). When the question is about now (no window, or one that reaches the present),
the live metrics and logs of the services it names are read first and go in as evidence too.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from knowledge.timewindow import parse_window

from handlers import messages
from handlers.deps import Deps
from handlers.registry import Command
from handlers.types import ChatRequest, Context, Part, Reply, Section
from knowledge import logpatterns
from knowledge.answer import Answer
from knowledge.errors import QueryError, StoreError
from knowledge.evidence import Evidence, from_log_pattern
from knowledge.findings import scan
from knowledge.retrieval import plan

DEFAULT_WINDOW = timedelta(minutes=30)
LIVE_SLACK = timedelta(minutes=5)


def live_evidence(question: str, deps: Deps, now: datetime) -> list[Evidence]:
    """Findings and log patterns read from telemetry now, when the question is about now."""
    reader = deps.telemetry
    if reader is None:
        return []
    window = parse_window(question, now)
    if window is not None and window.end < now - LIVE_SLACK:
        return []  # a question about the past: the store answers it
    span = min(window.end - window.start, timedelta(hours=6)) if window else DEFAULT_WINDOW
    pairs = reader.hosts()
    target = plan(question, now, {s for s, _ in pairs}, {h for _, h in pairs})
    services = set(target.services)
    hosts = set(target.hosts)
    findings = scan(
        reader,
        deps.analysis,
        now,
        window=span,
        history=max(span * 2, timedelta(hours=1)),
        services=services,
        hosts=hosts,
    )
    notable = [f for f in findings if f.breached or abs(f.deviation) >= 6][:6]
    records = [
        r
        for r in reader.logs(now - span, now)
        if (not services or r.service in services) and (not hosts or r.host in hosts)
    ]
    patterns = logpatterns.group(records, redact=deps.redactor.redact)[:3]
    return [Evidence.from_finding(f) for f in notable] + [
        from_log_pattern(p, deps.redactor.redact) for p in patterns
    ]


async def handle(req: ChatRequest, deps: Deps) -> Reply:
    question = req.args.strip()
    if not question:
        return Reply(messages.ASK_USAGE, ephemeral=True)
    if deps.telemetry is None and deps.answerer.retriever is None:
        return Reply(messages.NO_TELEMETRY, ephemeral=True)
    now = deps.now()
    try:
        live = await asyncio.to_thread(live_evidence, question, deps, now)
        answer = await asyncio.to_thread(deps.answerer.ask, question, now, live)
    except QueryError as exc:
        return Reply(f"I can't answer that: {exc}", ephemeral=True, error=True)
    except StoreError as exc:
        return Reply(messages.STORE_UNAVAILABLE.format(reason=exc), error=True)
    return render(answer)


def render(answer: Answer) -> Reply:
    """The answer as a reply: the conclusion, its sections, then sources and how it was made."""
    parts: list[Part] = []
    if answer.body:
        parts.append(Section(answer.body))
    for heading, lines in answer.sections:
        parts.append(Section("\n".join(f"- {line}" for line in lines), heading))
    sources = "; ".join(f"[{n}] {e.label}" for n, e in enumerate(answer.evidence, start=1))
    made = (
        f"{answer.provider} ({answer.model}), {answer.latency_ms:,.0f} ms, "
        f"{answer.prompt_tokens:,} tokens in / {answer.completion_tokens:,} out"
        + (" (estimated)" if answer.tokens_estimated else "")
        + (", cached" if answer.cached else "")
    )
    parts.append(Context(f"Sources: {sources}" if sources else "Sources: none matched"))
    for note in answer.notes:
        parts.append(Context(f"Note: {note}"))
    parts.append(Context(f"Answered by {made}"))
    return Reply(answer.conclusion, parts=tuple(parts))


COMMAND = Command(
    name="ask",
    summary="ask about your systems; answered from metrics, logs, traces, runbooks and "
    "incidents, with sources",
    usage="ask QUESTION",
    handler=handle,
    examples=(
        "ask why is payments slow?",
        "ask what happened on checkout-2 in the last hour?",
        "ask errors in the inventory logs between 10:05 and 10:20",
    ),
)
