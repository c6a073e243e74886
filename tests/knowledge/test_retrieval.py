"""Retrieval over a store built from the demo world, the runbooks and the domain notes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from knowledge.demo.incidents import Incident
from knowledge.documents import Document
from knowledge.retrieval import Hit, Retriever, collapse, fuse, plan
from knowledge.store import KnowledgeStore, ScoredDocument

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
SERVICES = {"payments", "checkout", "api-gateway", "inventory", "batch"}
HOSTS = {"payments-1", "payments-2", "checkout-2", "gw-1"}


def test_plan_takes_filters_from_the_question() -> None:
    p = plan("why was payment slow on payments-1 between 10:05 and 10:20?", NOW, SERVICES, HOSTS)
    assert p.services == {"payments"} and p.hosts == {"payments-1"}
    assert p.window is not None
    assert (p.window.start, p.window.end) == (
        datetime(2026, 11, 21, 10, 5, tzinfo=UTC),
        datetime(2026, 11, 21, 10, 20, tzinfo=UTC),
    )
    assert plan("show me the checkout logs", NOW, SERVICES, HOSTS).kinds == {"log_pattern"}
    assert plan("slow traces on api gateway", NOW, SERVICES, HOSTS).services == {"api-gateway"}
    assert plan("how do I fix a full disk?", NOW, SERVICES, HOSTS).wants_runbooks
    bare = plan("what is going on", NOW, SERVICES, HOSTS)
    assert bare.window is None and not bare.services and not bare.kinds


def test_the_prefilter_keeps_runbooks_and_drops_other_services(
    demo_store: KnowledgeStore, incident: Incident
) -> None:
    now = incident.end + timedelta(minutes=30)
    p = plan("checkout errors in the last hour", now, SERVICES, HOSTS)
    docs = demo_store.scan(p.where())
    timed = [d for d in docs if d.kind not in ("runbook", "note")]
    assert timed, "the demo store has checkout telemetry in that hour"
    assert {d.service for d in timed} == {"checkout"}
    assert all(now - timedelta(hours=1, minutes=5) < d.ts < now for d in timed)
    assert any(d.kind == "runbook" for d in docs)


def _window(incident: Incident, after: int, until: int) -> str:
    a = incident.start + timedelta(minutes=after)
    b = incident.start + timedelta(minutes=until)
    return f"between {a:%H:%M} and {b:%H:%M}"


def test_hybrid_search_finds_the_incident_host(
    demo_store: KnowledgeStore, incident: Incident
) -> None:
    now = incident.end + timedelta(minutes=30)
    question = f"why was {incident.service} slow {_window(incident, 5, 20)}?"
    hits = Retriever(demo_store).search(question, now, limit=8)
    top = hits[:3]
    assert any(h.document.host == incident.host and h.document.kind == "metric_window" for h in top)
    for hit in hits:
        if hit.document.kind not in ("runbook", "note"):
            assert hit.document.service == incident.service
    # the runbook for what the evidence shows (GC) is among the evidence
    assert any(h.document.kind == "runbook" and "GC" in h.document.title for h in hits)


def test_vector_and_text_modes_each_return_hits(
    demo_store: KnowledgeStore, incident: Incident
) -> None:
    retriever = Retriever(demo_store)
    now = incident.end + timedelta(minutes=30)
    question = f"long GC pauses on {incident.host}"
    for mode in ("vector", "text"):
        hits = retriever.search(question, now, mode=mode)
        assert hits, mode
        assert all(mode in h.via for h in hits)


def test_near_duplicate_windows_collapse_into_one_hit(
    demo_store: KnowledgeStore, incident: Incident
) -> None:
    now = incident.end + timedelta(minutes=30)
    hits = Retriever(demo_store).search(f"{incident.host} {_window(incident, 0, 30)}", now)
    host_hits = [
        h for h in hits if h.document.host == incident.host and h.document.kind == "metric_window"
    ]
    assert len(host_hits) == 1
    assert host_hits[0].related, "the other windows of the incident folded into it"
    assert host_hits[0].last - host_hits[0].first >= timedelta(minutes=10)


def test_each_source_stays_within_its_budget(demo_store: KnowledgeStore) -> None:
    retriever = Retriever(demo_store, budget={"runbook": 1, "domain": 0, "demo": 2})
    hits = retriever.search("how do I fix GC pressure on payments", NOW, limit=10)
    by_source = [h.document.source for h in hits]
    assert by_source.count("runbook") <= 1 and by_source.count("demo") <= 2
    assert "domain" not in by_source


def _scored(i: int) -> ScoredDocument:
    return ScoredDocument(Document(source="runbook", kind="runbook", text=f"doc {i}"), 0.0)


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    a, b, c = _scored(1), _scored(2), _scored(3)
    fused = fuse([a, b], [b, c])
    assert [h.document.text for h in fused] == ["doc 2", "doc 1", "doc 3"]
    assert fused[0].via == {"vector", "text"}
    assert abs(fused[0].score - (1 / 62 + 1 / 61)) < 1e-12


def window(minute: int, score: float = 1.0) -> Hit:
    """A metric window of gw-1 that many minutes after NOW."""
    doc = Document(
        source="demo",
        kind="metric_window",
        host="gw-1",
        ts=NOW + timedelta(minutes=minute),
        text=f"gw-1 at {minute}",
    )
    return Hit(doc, score)


def test_collapse_keeps_the_best_and_remembers_the_rest() -> None:
    hits = collapse([window(0, 1.0), window(5, 1 / 6), window(10, 1 / 11)])
    assert len(hits) == 1
    assert hits[0].document.text == "gw-1 at 0"
    assert hits[0].last == NOW + timedelta(minutes=10)


def test_collapse_never_folds_across_a_gap() -> None:
    hits = collapse([window(m) for m in (0, 5, 600, 605, 24 * 60)])
    assert [len(h.related) for h in hits] == [1, 1, 0]
    assert hits[0].last == NOW + timedelta(minutes=5)


def test_a_bare_question_has_no_prefilter() -> None:
    assert plan("what is going on", NOW, SERVICES, HOSTS).where() is None
