"""Retrieval: a question becomes filters and two searches, fused into a short list of evidence.

1. **Plan.** Prefilters come from the question: a time window ("last hour", "between 10:05 and
   10:20", "yesterday"), the services and hosts the store knows, and source hints ("logs",
   "traces", "metrics", "runbook", "incident").
2. **Search.** Vector search (cosine, on the embedding of the question) and full-text search
   (BM25), each with the same prefilter, fused by reciprocal rank (RRF).
3. **Rank.** Telemetry loses weight with age when the question names no window; near-duplicates
   (the same host's consecutive windows with the same symptoms, the same log patterns) collapse
   into one hit that remembers the span they cover.
4. **Budget.** Each source contributes at most its share of hits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from knowledge.config import ContextConfig
from knowledge.documents import TELEMETRY_KINDS, Document
from knowledge.store import KnowledgeStore, ScoredDocument, sql_in, sql_str, sql_ts
from knowledge.timewindow import TimeWindow, parse_window

Mode = Literal["hybrid", "vector", "text"]
DOC_WINDOW = timedelta(minutes=5)
"""How long a telemetry document's window lasts (``knowledge.summarise.WINDOW``)."""
RRF_K = 60
CANDIDATES = 60
RECENCY_HALF_LIFE = timedelta(hours=6)
TIMED_KINDS = frozenset(TELEMETRY_KINDS | {"incident"})
KNOWLEDGE_KINDS = frozenset({"runbook", "note"})
DEFAULT_BUDGET: dict[str, int] = {
    source: count for source, count in ContextConfig().per_source.items() if source != "live"
}

_HINTS: tuple[tuple[str, frozenset[str]], ...] = (
    (r"\blogs?\b|\blog lines?\b|\bexceptions?\b|\bstack ?traces?\b", frozenset({"log_pattern"})),
    (r"\btraces?\b|\bspans?\b|\btracing\b", frozenset({"trace_path"})),
    (r"\bmetrics?\b|\bdashboards?\b|\bgraphs?\b", frozenset({"metric_window"})),
    (r"\balerts?\b|\bpaged?\b|\bpages\b", frozenset({"alert"})),
)
_RUNBOOK_HINT = re.compile(r"\brunbooks?\b|\bplaybooks?\b|\bhow (?:do|to|should)\b|\bfix\b", re.I)
_INCIDENT_HINT = re.compile(r"\bincidents?\b|\bpostmortems?\b|\bhappened before\b", re.I)


@dataclass(frozen=True)
class QueryPlan:
    question: str
    window: TimeWindow | None = None
    services: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    """Telemetry kinds the question asks for (empty: all)."""
    wants_runbooks: bool = False
    wants_incidents: bool = False

    def where(self) -> str | None:
        """The SQL prefilter: timed documents inside the window and about the named targets,
        plus runbooks and team notes (about the named services or about none)."""
        parts = []
        if self.kinds:  # only when asked: an IN over every kind defeats the scalar indexes
            timed = sorted(self.kinds | ({"incident"} if self.wants_incidents else set()))
            parts.append(sql_in("kind", timed))
        if self.window is not None:  # documents whose window overlaps the question's
            start = self.window.start - DOC_WINDOW
            parts.append(f"ts > {sql_ts(start)} AND ts < {sql_ts(self.window.end)}")
        targets = []
        if self.hosts:
            targets.append(sql_in("host", self.hosts))
        if self.services:
            targets.append(sql_in("service", self.services))
        if targets:
            parts.append("(" + " OR ".join(targets) + ")")
        if not parts:
            return None
        clause = "(" + " AND ".join(parts) + ")"
        knowledge = sql_in("kind", KNOWLEDGE_KINDS)
        if self.services:
            knowledge += f" AND ({sql_in('service', self.services)} OR service = {sql_str('')})"
        return f"{clause} OR ({knowledge})"


@dataclass
class Hit:
    """One piece of evidence. ``related``: near-duplicates collapsed into it (same host and
    symptoms in neighbouring windows), which widen the time span it stands for."""

    document: Document
    score: float
    via: set[str] = field(default_factory=set)
    related: list[Document] = field(default_factory=list)

    @property
    def first(self) -> datetime:
        return min([self.document.ts, *(d.ts for d in self.related)])

    @property
    def last(self) -> datetime:
        return max([self.document.ts, *(d.ts for d in self.related)])

    @property
    def ids(self) -> list[str]:
        return [self.document.id, *(d.id for d in self.related)]


def plan(
    question: str,
    now: datetime,
    services: set[str] | frozenset[str],
    hosts: set[str] | frozenset[str],
) -> QueryPlan:
    """Filters taken from the question; names match the store's services and hosts
    (``payment`` finds ``payments``; ``checkout-2`` is a host)."""
    lowered = question.lower()
    words = set(re.findall(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]|[a-z0-9]", lowered))
    named_hosts = frozenset(h for h in hosts if h.lower() in words)
    named_services = frozenset(
        s
        for s in services
        if s.lower() in words
        or s.lower().rstrip("s") in words
        or (s.lower() + "s") in words
        or ("-" in s and s.lower().replace("-", " ") in lowered)
    )
    kinds: set[str] = set()
    for pattern, hinted in _HINTS:
        if re.search(pattern, lowered):
            kinds |= hinted
    return QueryPlan(
        question=question,
        window=parse_window(question, now),
        services=named_services,
        hosts=named_hosts,
        kinds=frozenset(kinds),
        wants_runbooks=bool(_RUNBOOK_HINT.search(question)),
        wants_incidents=bool(_INCIDENT_HINT.search(question)),
    )


class Retriever:
    def __init__(self, store: KnowledgeStore, budget: Mapping[str, int] | None = None) -> None:
        self.store = store
        self.budget = dict(DEFAULT_BUDGET if budget is None else budget)

    def plan(self, question: str, now: datetime) -> QueryPlan:
        services, hosts = self.store.names()
        return plan(question, now, services, hosts)

    def search(
        self,
        question: str,
        now: datetime | None = None,
        limit: int = 12,
        mode: Mode = "hybrid",
        query_plan: QueryPlan | None = None,
        where: str | None = None,
    ) -> list[Hit]:
        """The evidence for ``question``, best first. ``where`` overrides the planned filter."""
        now = now or datetime.now(UTC)
        query_plan = query_plan or self.plan(question, now)
        where = where if where is not None else query_plan.where()
        where = where or None
        vector_hits: list[ScoredDocument] = []
        text_hits: list[ScoredDocument] = []
        if mode in ("hybrid", "vector"):
            vector_hits = self.store.vector_search(
                self.store.embed_query(question), where, CANDIDATES
            )
        if mode in ("hybrid", "text"):
            text_hits = self.store.text_search(question, where, CANDIDATES)
        fused = fuse(vector_hits, text_hits)
        for hit in fused:
            hit.score *= _weight(hit.document, query_plan, now)
        fused.sort(key=lambda h: -h.score)
        hits = collapse(fused)
        if mode == "hybrid":
            hits = self._with_matching_runbooks(hits, query_plan)
        return self.select(hits, limit)

    def _with_matching_runbooks(self, hits: list[Hit], query_plan: QueryPlan) -> list[Hit]:
        """Put the runbook that matches what the top telemetry shows right after it: the
        question says "slow", the evidence says "GC time and heap", and the runbook whose
        front matter lists those metrics is the one. Its best-matching section and its
        "Mitigate" section join the evidence."""
        telemetry = [h for h in hits[:6] if h.document.kind == "metric_window"]
        weights = metric_weights([h.document for h in telemetry[:3]])
        if not weights:
            return hits
        where = sql_in("kind", {"runbook"})
        if query_plan.services:
            where += f" AND ({sql_in('service', query_plan.services)} OR service = '')"
        sections = self.store.scan(where)
        best = best_runbook(sections, weights)
        if best is None:
            return hits
        chosen = [d for d in sections if d.payload.get("path") == best]
        symptoms = " ".join(h.document.text[:400] for h in telemetry[:3])
        root = chosen[0].title.split(" > ")[0]
        in_runbook = f"{where} AND title LIKE {sql_str(root + '%')}"
        ranked = self.store.vector_search(self.store.embed_query(symptoms), in_runbook, 3)
        picks = [s.document for s in ranked[:1]]
        picks += [d for d in chosen if "mitigate" in d.title.lower()][:1]
        top_score = telemetry[0].score
        by_id = {h.document.id: h for h in hits}
        for i, doc in enumerate({d.id: d for d in picks}.values()):
            score = top_score * (0.98 - 0.01 * i)
            if doc.id in by_id:
                by_id[doc.id].score = max(by_id[doc.id].score, score)
                by_id[doc.id].via.add("evidence")
            else:
                hits.append(Hit(doc, score, {"evidence"}))
        hits.sort(key=lambda h: -h.score)
        return hits

    def select(self, hits: list[Hit], limit: int) -> list[Hit]:
        """The best hits within each source's budget."""
        taken: dict[str, int] = {}
        out = []
        for hit in hits:
            source = hit.document.source
            if taken.get(source, 0) >= self.budget.get(source, limit):
                continue
            taken[source] = taken.get(source, 0) + 1
            out.append(hit)
            if len(out) >= limit:
                break
        return out


def metric_weights(docs: list[Document]) -> dict[str, float]:
    """How strongly each metric shows in these metric windows: breached metrics and large
    deviations weigh most, and earlier documents (better ranked) more than later ones."""
    weights: dict[str, float] = {}
    for rank, doc in enumerate(docs):
        metrics = doc.payload.get("metrics", {})
        if not isinstance(metrics, dict):
            continue
        for name, value in metrics.items():
            sigma = abs(float(value.get("sigma") or 0.0)) if isinstance(value, dict) else 0.0
            breached = bool(value.get("breached")) if isinstance(value, dict) else False
            weight = (2.0 if breached else 1.0) * min(sigma, 20.0) / 20.0 / (rank + 1)
            weights[name] = weights.get(name, 0.0) + weight
    return weights


def best_runbook(sections: list[Document], weights: dict[str, float]) -> str | None:
    """The runbook file (``payload.path``) whose front-matter metrics best cover ``weights``."""
    scores: dict[str, float] = {}
    for doc in sections:
        path = doc.payload.get("path")
        metrics = doc.payload.get("metrics") or []
        if not path or not metrics or path in scores:
            continue
        covered = sum(weights.get(m, 0.0) for m in metrics)
        scores[path] = covered / math.sqrt(len(metrics))
    if not scores:
        return None
    path, score = max(scores.items(), key=lambda kv: kv[1])
    return path if score > 0 else None


def fuse(*rankings: list[ScoredDocument]) -> list[Hit]:
    """Reciprocal-rank fusion: each list adds ``1 / (RRF_K + rank)`` to a document's score."""
    names = ("vector", "text")
    hits: dict[str, Hit] = {}
    for index, ranking in enumerate(rankings):
        for rank, scored in enumerate(ranking, start=1):
            hit = hits.setdefault(scored.document.id, Hit(scored.document, 0.0))
            hit.score += 1.0 / (RRF_K + rank)
            hit.via.add(names[index] if index < len(names) else str(index))
    return sorted(hits.values(), key=lambda h: -h.score)


def _weight(doc: Document, query_plan: QueryPlan, now: datetime) -> float:
    weight = 1.0
    if doc.kind in TELEMETRY_KINDS and query_plan.window is None:
        age = max(0.0, (now - doc.ts).total_seconds())
        weight *= 0.4 + 0.6 * math.exp(-age / RECENCY_HALF_LIFE.total_seconds() * math.log(2))
    if doc.kind in TELEMETRY_KINDS and doc.severity != "info":
        weight *= 1.3 if doc.severity == "critical" else 1.15
    if query_plan.hosts and doc.host in query_plan.hosts:
        weight *= 1.2
    if doc.kind == "runbook" and query_plan.wants_runbooks:
        weight *= 1.3
    if doc.kind == "incident" and query_plan.wants_incidents:
        weight *= 1.3
    return weight


def signature(doc: Document) -> tuple[str, ...]:
    """What makes two documents say the same thing, ignoring when and the exact numbers."""
    if doc.kind == "metric_window":
        return (doc.kind, doc.host or doc.service)
    if doc.kind == "log_pattern":
        templates = [p.get("template", "") for p in doc.payload.get("patterns", [])[:1]]
        return (doc.kind, doc.service, *templates)
    if doc.kind == "trace_path":
        return (doc.kind, doc.service, str(doc.payload.get("operation", "")))
    return (doc.kind, doc.service, doc.host, re.sub(r"\d+", "#", doc.text)[:300])


def collapse(hits: list[Hit]) -> list[Hit]:
    """Fold hits with the same signature whose windows follow one another (gaps of at most one
    window) into the best-ranked of them; runs separated by a gap stay separate hits."""
    rank = {id(h): n for n, h in enumerate(hits)}
    groups: dict[tuple[str, ...], list[Hit]] = {}
    for hit in hits:
        groups.setdefault(signature(hit.document), []).append(hit)
    out = []
    for group in groups.values():
        group.sort(key=lambda h: h.document.ts)
        run = [group[0]]
        for hit in group[1:]:
            if hit.document.ts - run[-1].document.ts <= DOC_WINDOW * 2:
                run.append(hit)
                continue
            out.append(_fold(run, rank))
            run = [hit]
        out.append(_fold(run, rank))
    out.sort(key=lambda h: rank[id(h)])
    return out


def _fold(run: list[Hit], rank: dict[int, int]) -> Hit:
    best = min(run, key=lambda h: rank[id(h)])
    for hit in run:
        if hit is not best:
            best.related.append(hit.document)
            best.via |= hit.via
    return best
