"""The knowledge store on real LanceDB with the real embedding model."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from knowledge.documents import Document
from knowledge.embeddings import Embedder
from knowledge.errors import StoreError
from knowledge.store import KnowledgeStore

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def doc(i: int, source: str = "demo", text: str | None = None, **extra: object) -> Document:
    return Document(
        source=source,
        kind="metric_window",
        ts=T0 + timedelta(minutes=5 * i),
        service=str(extra.get("service", "payments")),
        host=str(extra.get("host", f"payments-{i % 2 + 1}")),
        text=text
        or f"payments-{i % 2 + 1} window {i}: db_pool_usage {50 + i} % latency {100 + i} ms",
    )


def test_upsert_is_idempotent_and_never_embeds_a_text_twice(store: KnowledgeStore) -> None:
    docs = [doc(i) for i in range(20)]
    first = store.upsert(docs)
    assert (first.inserted, first.embedded, first.cached) == (20, 20, 0)
    again = store.upsert(docs)
    assert store.count() == 20
    assert again.inserted == 0 and again.embedded == 0 and again.cached == 20
    assert sorted(d.id for d in store.scan()) == sorted(d.id for d in docs)


def test_the_embedding_cache_outlives_the_documents(tmp_path: Path, embedder: Embedder) -> None:
    kb = KnowledgeStore.open(tmp_path, embedder)
    kb.upsert([doc(i) for i in range(5)])
    kb.delete("source = 'demo'")
    reopened = KnowledgeStore.open(tmp_path, embedder)  # a fresh process would do the same
    result = reopened.upsert([doc(i) for i in range(5)])
    assert result.embedded == 0 and result.cached == 5
    assert reopened.count() == 5


def test_changed_text_changes_the_id_and_is_embedded(store: KnowledgeStore) -> None:
    store.upsert([doc(1)])
    result = store.upsert([doc(1, text="payments-2 window 1: something else entirely")])
    assert result.embedded == 1
    assert store.count() == 2


def test_indexes_scalar_fts_and_vector_once_large_enough(
    tmp_path: Path, embedder: Embedder
) -> None:
    kb = KnowledgeStore.open(tmp_path, embedder, vector_index_min_rows=300)
    rng = np.random.default_rng(7)
    docs = [doc(i, text=f"filler document number {i}") for i in range(290)]
    vectors = rng.normal(size=(290, 384)).astype(np.float32)
    kb.upsert(docs, vectors=list(vectors / np.linalg.norm(vectors, axis=1, keepdims=True)))
    created = kb.ensure_indexes()
    assert {"ts (BTree)", "source (BTree)", "service (BTree)", "text (FTS)"} <= set(created)
    assert not any("vector" in name for name in created)  # brute force below the threshold
    kb.upsert([doc(1000 + i, text=f"more filler {i}") for i in range(20)])
    assert "vector (HnswSq)" in kb.ensure_indexes()
    # rows written after the indexes were built are still found, by text and by vector
    late = doc(5000, text="HikariPool-1 connection is not available after 30000ms on payments")
    kb.upsert([late])
    assert kb.text_search("HikariPool connection")[0].document.id == late.id
    vector = kb.embed_query("HikariPool-1 connection is not available after 30000ms on payments")
    assert kb.vector_search(vector, limit=1)[0].document.id == late.id
    assert kb.ensure_indexes() == []


def test_prefilters_apply_to_both_searches(store: KnowledgeStore) -> None:
    store.upsert([doc(i) for i in range(10)] + [doc(99, service="checkout", host="checkout-1")])
    where = "service = 'checkout'"
    assert {s.document.service for s in store.text_search("window", where)} == {"checkout"}
    vector = store.embed_query("db pool")
    assert {s.document.service for s in store.vector_search(vector, where)} == {"checkout"}


def test_retention_deletes_only_old_documents_of_that_source(
    tmp_path: Path, embedder: Embedder
) -> None:
    kb = KnowledgeStore.open(
        tmp_path, embedder, retention={"demo": timedelta(days=1), "runbook": None}
    )
    old = [doc(i) for i in range(3)]
    runbook = Document(source="runbook", kind="runbook", text="How to drain a node", ts=T0)
    kb.upsert([*old, runbook, doc(400)])  # doc 400 is 2000 minutes later
    deleted = kb.apply_retention(T0 + timedelta(days=1, hours=1))
    assert deleted == {"demo": 3}
    assert {d.source for d in kb.scan()} == {"runbook", "demo"}
    report = kb.maintain(T0 + timedelta(days=1, hours=1))
    assert report.compacted and kb.count() == 2


def test_reads_stay_correct_while_another_thread_writes(store: KnowledgeStore) -> None:
    store.upsert([doc(i) for i in range(10)])
    errors: list[BaseException] = []
    counts: list[int] = []

    def writer() -> None:
        try:
            for batch in range(6):
                store.upsert([doc(100 + batch * 5 + j) for j in range(5)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    vector = store.embed_query("db pool usage")
    while thread.is_alive():
        hits = store.vector_search(vector, "service = 'payments'", 50)
        assert all(h.document.service == "payments" for h in hits)
        counts.append(store.count())
    thread.join()
    assert not errors
    assert counts == sorted(counts)  # a reader never sees the table shrink
    assert store.count() == 40


def test_stats_count_sources_and_kinds(store: KnowledgeStore) -> None:
    store.upsert([doc(i) for i in range(4)])
    store.upsert([Document(source="runbook", kind="runbook", text="Restart vemkd")])
    stats = store.stats()
    assert stats.documents == 5
    assert stats.by_source == {"demo": 4, "runbook": 1}
    assert stats.by_kind == {"metric_window": 4, "runbook": 1}
    assert stats.newest == T0 + timedelta(minutes=15)
    assert stats.bytes_on_disk > 0
    assert stats.to_json()["newest"] == "2026-11-21T10:15:00+00:00"


def test_a_corrupt_store_gives_a_clear_error_and_loses_nothing(
    tmp_path: Path, embedder: Embedder
) -> None:
    kb = KnowledgeStore.open(tmp_path, embedder)
    kb.upsert([doc(i) for i in range(3)])
    neighbour = tmp_path / "scheduler.sqlite"
    neighbour.write_bytes(b"other state")
    files = sorted(p for p in (tmp_path / "lancedb").rglob("*") if p.is_file())
    for path in files:
        if path.suffix in (".manifest", ".lance"):
            path.write_bytes(b"\x00garbage\x00" * 8)
    before = {p: p.read_bytes() for p in files}
    with pytest.raises(StoreError) as caught:
        broken = KnowledgeStore.open(tmp_path, embedder)
        broken.vector_search(broken.embed_query("anything"))
    message = str(caught.value)
    assert str(tmp_path / "lancedb") in message and "Nothing was deleted" in message
    assert "\n" not in message
    assert {p: p.read_bytes() for p in files} == before  # nothing rewritten or removed
    assert neighbour.read_bytes() == b"other state"


def test_a_store_built_with_another_model_size_is_refused(
    tmp_path: Path, embedder: Embedder
) -> None:
    KnowledgeStore.open(tmp_path, embedder).upsert([doc(1)])

    class Wider(Embedder):
        @property
        def dim(self) -> int:
            return 768

    with pytest.raises(StoreError, match="384-dimensional"):
        KnowledgeStore.open(tmp_path, Wider())
