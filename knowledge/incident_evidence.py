"""Evidence for an incident summary: the knowledge store's documents from the incident's
window about its services and hosts, plus matching runbooks."""

from __future__ import annotations

from datetime import timedelta

from knowledge.evidence import Evidence
from knowledge.incident_model import IncidentSummary
from knowledge.retrieval import Retriever
from knowledge.store import sql_in, sql_str, sql_ts

MAX_EVIDENCE = 5
EVIDENCE_LEAD = timedelta(minutes=30)
"""Evidence is searched from this long before the thread's first message (the onset)."""
EVIDENCE_TAIL = timedelta(minutes=10)


def find_evidence(retriever: Retriever, summary: IncidentSummary) -> list[Evidence]:
    """Store documents from the incident's window about its services and hosts (metric
    windows, log patterns, traces, alerts), plus matching runbooks; earlier incidents excluded."""
    start = summary.start - EVIDENCE_LEAD
    end = summary.end + EVIDENCE_TAIL
    timed = f"kind != {sql_str('incident')} AND ts >= {sql_ts(start)} AND ts <= {sql_ts(end)}"
    targets = []
    if summary.services:
        targets.append(sql_in("service", summary.services))
    if summary.hosts:
        targets.append(sql_in("host", summary.hosts))
    if targets:
        timed += " AND (" + " OR ".join(targets) + ")"
    where = f"({timed}) OR ({sql_in('kind', {'runbook'})})"
    question = " ".join(
        [*summary.services, *summary.hosts, summary.root_cause, *summary.impact[:2]]
    )[:1000]
    query_plan = retriever.plan(question or summary.title, end)
    hits = retriever.search(question or summary.title, end, limit=8, query_plan=query_plan,
                            where=where)  # fmt: skip
    evidence = [Evidence.from_hit(h) for h in hits]
    telemetry = [e for e in evidence if e.kind != "runbook"]
    runbooks = [e for e in evidence if e.kind == "runbook"]
    return (telemetry[: MAX_EVIDENCE - min(2, len(runbooks))] + runbooks[:2])[:MAX_EVIDENCE]
