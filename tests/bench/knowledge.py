"""Knowledge engine benchmarks: retrieval quality, ``ask`` latency, search latency with and
without the vector index, embedding throughput and the embedding cache.

    python -m tests.bench knowledge            # full run (about 11 minutes on 2 idle cores)
    python -m tests.bench knowledge --quick    # smaller sizes: a smoke run (about 2 minutes)

Targets: hybrid recall@5 >= 0.9 on questions that name a time window; ``ask`` p50 <= 1 s at
100k documents; search p50 <= 20 ms at 1M documents with the vector index.

Everything is built in a temporary folder from the demo world (seed 42), the shipped runbooks
and the domain notes; nothing is written to the repository. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Settings, load_settings
from knowledge.answer import Answerer
from knowledge.demo import DemoWorld, Incident
from knowledge.documents import Document
from knowledge.embeddings import Embedder
from knowledge.ingest import (
    ingest_telemetry,
    redacted,
    sync_domain,
    sync_runbooks,
    telemetry_documents,
)
from knowledge.logpatterns import strip_prefix
from knowledge.redaction import Redactor
from knowledge.retrieval import Hit, Mode, Retriever
from knowledge.store import DOCUMENTS, KnowledgeStore
from tests.bench.common import Latency, Summary

REPO = Path(__file__).resolve().parents[2]
WORLD_START = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
BASE_END = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
"""The ingested span ends here; ``now`` for every question. Day two of the world has batch
incidents, day one has none."""
WINDOW = timedelta(minutes=5)
JITTER = 0.1
"""Norm of the Gaussian noise added to a pool vector for a filler document (cosine ~0.995)."""
NO_VECTOR_INDEX = 10**12
BRUTE_FORCE_UP_TO = 100_000
"""Brute-force search is timed (and compared with the index) on stores up to this size."""
SEARCH_QUESTIONS = 40
ASK_QUESTIONS = 40


@dataclass(frozen=True)
class Sizes:
    base: timedelta
    """The span ingested for real (embedded): what the questions are about."""
    pool: timedelta
    """Another stretch of the world, embedded once: the source of every filler document."""
    short_lines: int
    cache_window: timedelta
    stores: tuple[int, ...]
    """Sizes of the stores built from the base documents plus filler."""
    ask_up_to: int
    """``ask`` is timed on stores up to this size."""


FULL = Sizes(
    base=timedelta(hours=24),
    pool=timedelta(hours=24),
    short_lines=2000,
    cache_window=timedelta(hours=2),
    stores=(10_000, 100_000, 1_000_000),
    ask_up_to=1_000_000,
)
QUICK = Sizes(
    base=timedelta(hours=6),
    pool=timedelta(hours=3),
    short_lines=400,
    cache_window=timedelta(hours=1),
    stores=(10_000, 60_000),
    ask_up_to=60_000,
)


@dataclass
class Bench:
    """What the benchmarks share: the model, the world, the configuration, the figures."""

    sizes: Sizes
    folder: Path
    embedder: Embedder
    world: DemoWorld
    settings: Settings
    summary: Summary
    redact: Redactor

    @property
    def now(self) -> datetime:
        return BASE_END

    @property
    def base_start(self) -> datetime:
        return BASE_END - self.sizes.base

    def retriever(self, store: KnowledgeStore) -> Retriever:
        """A retriever with the bot's per-source budget (as ``bot.knowledge.build_answerer``)."""
        per_source = self.settings.ai.knowledge.context.per_source
        return Retriever(store, budget={k: v for k, v in per_source.items() if k != "live"})

    def answerer(self, store: KnowledgeStore) -> Answerer:
        ai = self.settings.ai
        return Answerer(
            self.retriever(store), ai.analysis, ai.prompts, ai.llm, ai.privacy, self.redact
        )

    def documents(self, start: datetime, end: datetime) -> list[Document]:
        """The telemetry documents of ``[start, end)`` as ingest stores them (redacted)."""
        docs = telemetry_documents(
            self.world, self.settings.ai.analysis, start, end, self.redact.redact
        )
        return list({d.id: d for d in (redacted(d, self.redact.redact) for d in docs)}.values())


# ----------------------------------------------------------------------------- questions


@dataclass(frozen=True)
class Question:
    text: str
    gold: frozenset[str]
    incident: Incident


TIMED: dict[str, tuple[str, ...]] = {
    "cpu_spike": (
        "why was {host} CPU pegged between {a} and {b}?",
        "{service} slow around {mid}",
        "what happened on {host} between {a} and {b}?",
        "high load on {service} from {a} to {b}",
    ),
    "memory_leak": (
        "why is {service} memory growing between {a} and {b}?",
        "heap filling up on {host} around {mid}?",
        "what happened on {host} between {a} and {b}?",
        "out of memory errors on {service} around {mid}",
    ),
    "disk_full": (
        "disk filling on {host} between {a} and {b}?",
        "why were {service} writes failing around {mid}?",
        "what happened on {host} between {a} and {b}?",
        "errors on {service} around {mid}",
    ),
    "network_congestion": (
        "why was {service} slow between {a} and {b}?",
        "timeouts calling {service} around {mid}",
        "what happened on {host} between {a} and {b}?",
        "errors on {service} around {mid}",
    ),
    "connection_pool_exhaustion": (
        "why was {service} slow between {a} and {b}?",
        "database timeouts on {service} around {mid}",
        "db connection pool on {host} between {a} and {b}?",
        "errors on {service} around {mid}",
    ),
    "gc_pressure": (
        "why was {host} GC time high between {a} and {b}?",
        "{service} latency spike around {mid}",
        "what happened on {host} between {a} and {b}?",
        "long GC pauses on {service} from {a} to {b}",
    ),
    "batch": (
        "why is the batch cluster behind between {a} and {b}?",
        "why were batch jobs queueing around {mid}?",
        "what happened on {host} between {a} and {b}?",
    ),
}
# No time in the question: ranking (and recency) alone must find the incident. ``{host}``
# questions are about that host's incidents of the type, ``{service}`` ones about the service's.
UNTIMED: dict[str, str] = {
    "cpu_spike": "why is CPU so high on {host}?",
    "memory_leak": "is there a memory leak on {host}?",
    "disk_full": "why is the disk full on {host}?",
    "network_congestion": "why are calls to {service} timing out?",
    "connection_pool_exhaustion": "why is the {service} database connection pool exhausted?",
    "gc_pressure": "why was {host} GC time high?",
    "batch": "why is the batch cluster behind?",
}


def gold_ids(docs: Sequence[Document], incidents: Sequence[Incident]) -> frozenset[str]:
    """Documents about an incident: its host's metric windows, its service's log patterns and
    trace paths, whose window overlaps the incident."""
    out = set()
    for doc in docs:
        for inc in incidents:
            if not (doc.ts < inc.end and doc.ts + WINDOW > inc.start):
                continue
            about_host = doc.kind == "metric_window" and doc.host == inc.host
            about_service = doc.kind in ("log_pattern", "trace_path") and doc.service == inc.service
            if about_host or about_service:
                out.add(doc.id)
    return frozenset(out)


def timed_questions(docs: Sequence[Document], incidents: Sequence[Incident]) -> list[Question]:
    """Every phrasing of its type for every incident, with times taken from the incident."""
    out: dict[str, Question] = {}
    for inc in incidents:
        mid = inc.start + (inc.end - inc.start) / 2
        fields = {
            "host": inc.host,
            "service": inc.service,
            "a": f"{inc.start:%H:%M}",
            "b": f"{inc.end:%H:%M}",
            "mid": f"{mid:%H:%M}",
        }
        gold = gold_ids(docs, [inc])
        key = "batch" if inc.service == "batch" else inc.type
        for template in TIMED[key]:
            text = template.format(**fields)
            out.setdefault(text, Question(text, gold, inc))
    return list(out.values())


def untimed_questions(docs: Sequence[Document], incidents: Sequence[Incident]) -> list[Question]:
    """One question per (type, host or service), about the most recent incident of the pair;
    gold: every incident of that type on that host (or service) in the span."""
    out: dict[str, Question] = {}
    for inc in sorted(incidents, key=lambda i: i.start, reverse=True):
        key = "batch" if inc.service == "batch" else inc.type
        template = UNTIMED[key]
        text = template.format(host=inc.host, service=inc.service)
        if text in out:
            continue
        if key == "batch":  # "behind" is any trouble on the batch cluster
            same = [i for i in incidents if i.service == inc.service]
        elif "{host}" in template:
            same = [i for i in incidents if i.type == inc.type and i.host == inc.host]
        else:
            same = [i for i in incidents if i.type == inc.type and i.service == inc.service]
        out[text] = Question(text, gold_ids(docs, same), inc)
    return list(out.values())


def spread(questions: Sequence[Question], count: int) -> list[Question]:
    """``count`` questions taken evenly through the list (all phrasings, all incidents)."""
    if len(questions) <= count:
        return list(questions)
    step = len(questions) / count
    return [questions[int(i * step)] for i in range(count)]


def latency_questions(
    timed: Sequence[Question], untimed: Sequence[Question], count: int
) -> list[Question]:
    """``count`` distinct questions for latency figures: a fifth without a time window."""
    loose = spread(untimed, count // 5)
    return spread(timed, count - len(loose)) + loose


# ----------------------------------------------------------------------------- quality


@dataclass
class Quality:
    recall5: float
    mrr: float
    failures: list[tuple[Question, list[str]]]
    latency: Latency


def describe_hit(hit: Hit) -> str:
    text = f"{hit.document.label} [{hit.document.severity}]"
    if hit.related:
        span = f"{hit.first:%m-%d %H:%M} to {hit.last:%m-%d %H:%M}"
        text += f" +{len(hit.related)} collapsed into it, {span}"
    return text


def quality(
    retriever: Retriever, questions: Sequence[Question], now: datetime, mode: Mode
) -> Quality:
    ranks: list[int | None] = []
    failures = []
    samples = []
    for q in questions:
        began = time.perf_counter()
        hits = retriever.search(q.text, now, limit=12, mode=mode)
        samples.append((time.perf_counter() - began) * 1000)
        rank = next((n for n, h in enumerate(hits, 1) if q.gold & set(h.ids)), None)
        ranks.append(rank)
        if rank is None or rank > 5:
            failures.append((q, [describe_hit(h) for h in hits[:3]]))
    n = max(1, len(ranks))
    return Quality(
        recall5=sum(1 for r in ranks if r is not None and r <= 5) / n,
        mrr=sum(1 / r for r in ranks if r is not None) / n,
        failures=failures,
        latency=Latency.of(samples),
    )


def report_quality(
    bench: Bench,
    store: KnowledgeStore,
    label: str,
    timed: Sequence[Question],
    untimed: Sequence[Question],
    modes: Sequence[Mode] = ("vector", "text", "hybrid"),
    show_failures: int = 0,
) -> None:
    retriever = bench.retriever(store)
    for name, questions in (("timed", timed), ("untimed", untimed)):
        for mode in modes:
            q = quality(retriever, questions, bench.now, mode)
            print(
                f"  {name:<7} {mode:<6} recall@5 {q.recall5:5.2f}   MRR {q.mrr:5.2f}   "
                f"({len(questions)} questions; search {q.latency})"
            )
            target = ">= 0.9" if (name, mode) == ("timed", "hybrid") else ""
            bench.summary.add(
                f"{label}: {name} {mode} recall@5 / MRR", f"{q.recall5:.2f} / {q.mrr:.2f}", target
            )
            if mode == "hybrid" and q.failures and show_failures:
                print(f"    {name} hybrid misses (gold not in the top 5), top 3 hits:")
                for question, top in q.failures[:show_failures]:
                    print(
                        f"    - {question.text!r}  [{question.incident.type}, "
                        f"{len(question.gold)} gold]"
                    )
                    for line in top:
                        print(f"        {line}")


def bench_retrieval(bench: Bench) -> tuple[KnowledgeStore, list[Question], list[Question]]:
    """Ingest the base span for real, build the question set, measure retrieval quality."""
    start, end = bench.base_start, bench.now
    hours = bench.sizes.base.total_seconds() / 3600
    section(
        f"retrieval quality ({hours:.0f} simulated hours, {start:%Y-%m-%d %H:%M} to "
        f"{end:%Y-%m-%d %H:%M} UTC, now = the end)"
    )
    store = KnowledgeStore.open(bench.folder / "base", bench.embedder)
    analysis = bench.settings.ai.analysis
    began = time.perf_counter()
    docs = bench.documents(start, end)
    summarise_s = time.perf_counter() - began
    report = ingest_telemetry(store, bench.world, analysis, start, end, bench.redact.redact)
    embed_s = max(1e-9, report.seconds - summarise_s)
    print(f"  ingest: {report.line()}")
    print(
        f"    summarise {summarise_s:.1f}s; redact + embed + write ~{embed_s:.1f}s "
        f"({report.embedded / embed_s:.1f} documents/s)"
    )
    bench.summary.add(
        f"ingest {hours:.0f} h of demo telemetry",
        f"{report.documents} docs in {report.seconds:.0f}s ({report.documents / report.seconds:.1f}"
        f" docs/s; summarise {summarise_s:.1f}s)",
    )
    began = time.perf_counter()
    runbooks = sync_runbooks(store, bench.settings.config_dir / "runbooks", bench.redact.redact)
    domain = sync_domain(store, analysis, bench.redact.redact)
    print(f"  {runbooks.line()}\n  {domain.line()}")
    began = time.perf_counter()
    created = store.ensure_indexes()
    print(
        f"  indexes ({', '.join(created)}): {time.perf_counter() - began:.1f}s; "
        f"{store.count()} documents"
    )

    margin = timedelta(minutes=10)
    incidents = [
        i
        for i in bench.world.incidents(start, end)
        if i.start >= start + margin and i.end <= end - WINDOW
    ]
    timed = [q for q in timed_questions(docs, incidents) if q.gold]
    untimed = [q for q in untimed_questions(docs, incidents) if q.gold]
    types = sorted({i.type for i in incidents})
    print(
        f"  {len(incidents)} incidents ({', '.join(types)}); {len(timed)} questions with a "
        f"time, {len(untimed)} without"
    )
    for q in (*timed[:4], *untimed[:2]):
        print(f"    e.g. {q.text!r} ({len(q.gold)} gold documents)")
    report_quality(bench, store, f"{store.count()} docs", timed, untimed, show_failures=8)
    return store, timed, untimed


# ----------------------------------------------------------------------------- embedding


@dataclass
class Pool:
    docs: list[Document]
    vectors: np.ndarray
    start: datetime
    end: datetime


def bench_embedding(bench: Bench) -> Pool:
    """Texts/s for short log lines and for document-length texts; the document-length texts
    are another stretch of the world, and their vectors are the filler's pool."""
    section(f"embedding throughput (batch size {bench.embedder.batch_size}, CPU)")
    start = BASE_END
    lines: dict[str, None] = {}
    while len(lines) < bench.sizes.short_lines and start < BASE_END + timedelta(days=2):
        for record in bench.world.logs(start, start + timedelta(minutes=10)):
            line = bench.redact.redact(strip_prefix(record.message.splitlines()[0]))[:200]
            lines.setdefault(line, None)
        start += timedelta(minutes=10)
    short = list(lines)[: bench.sizes.short_lines]
    bench.embedder.embed(short[:64])  # warm
    began = time.perf_counter()
    bench.embedder.embed(short)
    rate = len(short) / (time.perf_counter() - began)
    chars = sum(map(len, short)) / max(1, len(short))
    print(
        f"  short lines (log messages, {chars:.0f} chars avg): {len(short)} in "
        f"{len(short) / rate:.1f}s = {rate:.0f} texts/s"
    )
    bench.summary.add("embedding, short log lines", f"{rate:.0f} texts/s ({chars:.0f} chars)")

    for what, text in (
        ("one question (~55 chars)", "why was payments-1 GC time high between 10:05 and 10:20?"),
        ("three documents' text (~1200 chars)", " ".join(short)[:1200]),
    ):
        samples = []
        for _ in range(15):
            began = time.perf_counter()
            bench.embedder.embed([text])
            samples.append((time.perf_counter() - began) * 1000)
        latency = Latency.of(samples)
        print(f"  {'query embedding, ' + what:<46} {latency}")
        bench.summary.add(f"query embedding, {what} p50", f"{latency.p50:.1f} ms")

    pool_start, pool_end = BASE_END, BASE_END + bench.sizes.pool
    docs = bench.documents(pool_start, pool_end)
    began = time.perf_counter()
    vectors = bench.embedder.embed([d.text for d in docs])
    rate = len(docs) / (time.perf_counter() - began)
    chars = sum(len(d.text) for d in docs) / max(1, len(docs))
    print(
        f"  documents (telemetry summaries {pool_start:%m-%d %H:%M}–{pool_end:%m-%d %H:%M}, "
        f"{chars:.0f} chars avg): {len(docs)} in {len(docs) / rate:.1f}s = {rate:.1f} texts/s"
    )
    bench.summary.add("embedding, document-length texts", f"{rate:.1f} texts/s ({chars:.0f} chars)")
    return Pool(docs, vectors, pool_start, pool_end)


def bench_cache(bench: Bench) -> None:
    """The same window ingested twice, then into a fresh documents table beside the cache."""
    start = BASE_END + bench.sizes.pool
    end = start + bench.sizes.cache_window
    section(f"embedding cache (ingest {start:%m-%d %H:%M}–{end:%H:%M} UTC)")
    folder = bench.folder / "cache"
    analysis = bench.settings.ai.analysis
    store = KnowledgeStore.open(folder, bench.embedder)
    runs = []
    for label in ("first ingest", "same window again"):
        report = ingest_telemetry(store, bench.world, analysis, start, end, bench.redact.redact)
        runs.append((label, report))
    import lancedb

    lancedb.connect(str(store.path)).drop_table(DOCUMENTS)
    fresh = KnowledgeStore.open(folder, bench.embedder)  # new instance: nothing in memory
    report = ingest_telemetry(fresh, bench.world, analysis, start, end, bench.redact.redact)
    runs.append(("fresh documents table, same cache", report))
    for label, report in runs:
        print(
            f"  {label:<35} {report.seconds:6.1f}s   {report.documents} documents, "
            f"{report.inserted} new, embedded {report.embedded}, from cache {report.cached}"
        )
    bench.summary.add(
        "ingest same window: 1st / 2nd / fresh table",
        " / ".join(f"{r.seconds:.1f}s (embedded {r.embedded})" for _, r in runs),
    )


# ----------------------------------------------------------------------------- big stores


def export(store: KnowledgeStore) -> tuple[list[Document], np.ndarray]:
    """Every document of ``store`` with its stored vector (read with LanceDB directly)."""
    import lancedb

    table = lancedb.connect(str(store.path)).open_table(DOCUMENTS).to_arrow()
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    vectors = np.asarray(flat, dtype=np.float32).reshape(table.num_rows, -1)
    docs = [Document.from_row(row) for row in table.drop_columns(["vector"]).to_pylist()]
    return docs, vectors


def filler(
    pool: Pool, count: int, before: datetime, seed: int = 7, chunk: int = 50_000
) -> Iterator[tuple[list[Document], np.ndarray]]:
    """``count`` documents made from the pool: copy k of each pool document is moved k whole
    days back from the last day before ``before`` (the date in its text and window moved too),
    and its vector is the pool vector plus a little noise, renormalised."""
    rng = np.random.default_rng(seed)
    first_shift = math.ceil((pool.end - before) / timedelta(days=1))
    made = 0
    docs: list[Document] = []
    picks: list[int] = []
    copy = 0
    while made < count:
        shift = timedelta(days=first_shift + copy)
        for index, doc in enumerate(pool.docs):
            if made >= count:
                break
            docs.append(moved(doc, -shift))
            picks.append(index)
            made += 1
            if len(docs) == chunk:
                yield docs, jittered(pool.vectors[picks], rng)
                docs, picks = [], []
        copy += 1
    if docs:
        yield docs, jittered(pool.vectors[picks], rng)


def moved(doc: Document, delta: timedelta) -> Document:
    ts = doc.ts + delta
    text = doc.text.replace(f"{doc.ts:%Y-%m-%d}", f"{ts:%Y-%m-%d}")
    payload = dict(doc.payload)
    if isinstance(payload.get("window_end"), str):
        payload["window_end"] = (datetime.fromisoformat(payload["window_end"]) + delta).isoformat()
    return dataclasses.replace(doc, ts=ts, text=text, payload=payload, id="")


def jittered(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(scale=JITTER / math.sqrt(vectors.shape[1]), size=vectors.shape)
    out = vectors + noise.astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def build_store(
    bench: Bench, size: int, base: tuple[list[Document], np.ndarray], pool: Pool
) -> tuple[KnowledgeStore, float]:
    """The base documents (their real vectors) plus filler up to ``size``. Returns the store and
    the seconds the writes took."""
    store = KnowledgeStore.open(bench.folder / f"store-{size}", bench.embedder)
    docs, vectors = base
    began = time.perf_counter()
    store.upsert(docs, vectors=list(vectors))
    for chunk, chunk_vectors in filler(pool, size - len(docs), before=bench.base_start):
        store.upsert(chunk, vectors=list(chunk_vectors))
    return store, time.perf_counter() - began


def search_latency(
    bench: Bench,
    store: KnowledgeStore,
    questions: Sequence[Question],
    vectors: np.ndarray,
    label: str,
    target: bool,
) -> dict[str, list[list[str]]]:
    """p50/p95 of a raw vector search (the question's vector precomputed), with the retriever's
    prefilter and without, and of a hybrid ``Retriever.search``. Returns the top-10 ids of each
    raw search, to compare an index with the exact answer. ``target``: the 20 ms target applies
    to this store."""
    retriever = bench.retriever(store)
    plans = [retriever.plan(q.text, bench.now) for q in questions]
    timed = [p.window is not None for p in plans]
    runs: dict[str, list[list[str]]] = {"filtered": [], "unfiltered": []}
    for name in runs:
        where = [p.where() if name == "filtered" else None for p in plans]
        for i in range(min(3, len(questions))):  # warm caches
            store.vector_search(vectors[i], where[i], 60)
        samples = []
        for i in range(len(questions)):
            began = time.perf_counter()
            found = store.vector_search(vectors[i], where[i], 60)
            samples.append((time.perf_counter() - began) * 1000)
            runs[name].append([s.document.id for s in found[:10]])
        latency = Latency.of(samples)
        what = "retriever's prefilter" if name == "filtered" else "no filter"
        print(f"    {'vector_search top 60, ' + what:<45} {latency}")
        if name == "filtered":
            by_kind = [
                Latency.of([x for x, t in zip(samples, timed, strict=True) if t == want]).p50
                for want in (True, False)
            ]
            print(
                f"    {'':<45} p50 {by_kind[0]:.1f} ms with a time window, "
                f"{by_kind[1]:.1f} ms without"
            )
        bench.summary.add(
            f"{label}: vector search ({what}) p50 / p95",
            f"{latency.p50:.1f} / {latency.p95:.1f} ms",
            "<= 20 ms" if target and name == "filtered" else "",
        )
    memoised = MemoisedStore.open(store.path.parent, bench.embedder)
    for name, handle in (("", store), (", embeddings memoised", memoised)):
        retriever = bench.retriever(handle)
        for q in questions[:3] if handle is store else questions:  # warm (fills the memo)
            retriever.search(q.text, bench.now)
        samples = []
        for q in questions:
            began = time.perf_counter()
            retriever.search(q.text, bench.now)
            samples.append((time.perf_counter() - began) * 1000)
        latency = Latency.of(samples)
        print(f"    {'Retriever.search hybrid' + name:<45} {latency}")
        bench.summary.add(
            f"{label}: hybrid Retriever.search{name} p50 / p95",
            f"{latency.p50:.1f} / {latency.p95:.1f} ms",
            "<= 20 ms" if target and name else "",
        )
    return runs


class MemoisedStore(KnowledgeStore):
    """A second handle on a store that embeds each query text once: hybrid search timed
    without the model, to see what LanceDB and the retriever cost on their own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.memo: dict[str, np.ndarray] = {}

    def embed_query(self, text: str) -> np.ndarray:
        if text not in self.memo:
            self.memo[text] = super().embed_query(text)
        return self.memo[text]


def overlap(exact: list[list[str]], approx: list[list[str]]) -> float:
    scores = [len(set(a) & set(e)) / len(e) for e, a in zip(exact, approx, strict=True) if e]
    return sum(scores) / max(1, len(scores))


def ask_latency(
    bench: Bench, store: KnowledgeStore, questions: Sequence[Question], label: str, target: bool
) -> None:
    """``Answerer.ask`` with the extractive analyst: a fresh answerer, each question once (cold),
    then all again (answered from the answer cache)."""
    answerer = bench.answerer(store)
    answerer.ask("warm up: how is checkout doing?", bench.now)
    rows = {}
    for name in ("cold", "cached"):
        samples = []
        cached = 0
        for q in questions:
            began = time.perf_counter()
            answer = answerer.ask(q.text, bench.now)
            samples.append((time.perf_counter() - began) * 1000)
            cached += answer.cached
        rows[name] = Latency.of(samples)
        print(f"    {f'ask, {name} ({cached} from the answer cache)':<45} {rows[name]}")
    print("    (a cached answer still pays for retrieval: the cache key holds the evidence ids)")
    bench.summary.add(
        f"{label}: ask p50 / p95 (cold; cached)",
        f"{rows['cold'].p50:.0f} / {rows['cold'].p95:.0f} ms; "
        f"{rows['cached'].p50:.0f} / {rows['cached'].p95:.0f} ms",
        "p50 <= 1 s" if target else "",
    )


def bench_store(
    bench: Bench,
    size: int,
    base: tuple[list[Document], np.ndarray],
    pool: Pool,
    timed: Sequence[Question],
    untimed: Sequence[Question],
) -> None:
    label = f"{size // 1000}k" if size < 1_000_000 else f"{size / 1e6:g}M"
    section(f"store of {label} documents")
    store, write_s = build_store(bench, size, base, pool)
    rows = store.count()
    print(
        f"  wrote {rows} documents in {write_s:.1f}s ({rows / write_s:.0f}/s): {len(base[0])} "
        f"real (base span, runbooks, notes), {rows - len(base[0])} filler"
    )
    store.vector_index_min_rows = NO_VECTOR_INDEX
    began = time.perf_counter()
    created = store.ensure_indexes()
    scalar_s = time.perf_counter() - began
    print(f"  indexes {', '.join(created)}: {scalar_s:.1f}s")
    min_rows = bench.settings.ai.knowledge.vector_index_min_rows
    indexed = size >= min_rows
    brute = not indexed or size <= BRUTE_FORCE_UP_TO
    questions = latency_questions(timed, untimed, SEARCH_QUESTIONS)
    vectors = bench.embedder.embed([q.text for q in questions])
    exact: dict[str, list[list[str]]] = {}
    if brute:
        how = "no vector index yet" if indexed else "below the vector index threshold"
        print(f"  search latency, {len(questions)} questions, brute force ({how}):")
        exact = search_latency(
            bench, store, questions, vectors, f"{label} brute force", size >= 1_000_000
        )
    index_s = 0.0
    if indexed:
        store.vector_index_min_rows = min_rows
        began = time.perf_counter()
        created = store.ensure_indexes()
        index_s = time.perf_counter() - began
        print(f"  vector index {', '.join(created)}: {index_s:.1f}s")
        print(f"  search latency, {len(questions)} questions, with the vector index:")
        approx = search_latency(
            bench, store, questions, vectors, f"{label} indexed", size >= 1_000_000
        )
        if exact:
            found = {name: overlap(exact[name], approx[name]) for name in exact}
            print(
                f"    index recall@10 vs exact: with the prefilter {found['filtered']:.2f}, "
                f"without {found['unfiltered']:.2f}"
            )
            bench.summary.add(
                f"{label}: index recall@10 vs exact (prefilter / none)",
                f"{found['filtered']:.2f} / {found['unfiltered']:.2f}",
            )
    stats = store.stats()
    print(f"  on disk {stats.bytes_on_disk / 1e6:.0f} MB; indexes: {', '.join(stats.indexes)}")
    bench.summary.add(
        f"{label}: build (write / scalar+FTS / vector index), disk",
        f"{write_s:.0f}s / {scalar_s:.0f}s / {index_s:.0f}s, {stats.bytes_on_disk / 1e6:.0f} MB",
    )
    if size <= bench.sizes.ask_up_to:
        asked = latency_questions(timed, untimed, ASK_QUESTIONS)
        print(f"  ask end to end (extractive analyst), {len(asked)} distinct questions:")
        ask_latency(bench, store, asked, label, size >= 100_000)
    print("  retrieval quality with the filler present:")
    report_quality(bench, store, label, timed, untimed, modes=("hybrid",), show_failures=3)
    shutil.rmtree(store.path.parent, ignore_errors=True)


# ----------------------------------------------------------------------------- main


def section(title: str) -> None:
    print(f"\n== knowledge: {title}   [{load()}]")


def load() -> str:
    """The 1-minute load average: on 2 cores, anything else running slows the model many times
    over (its two threads wait on each other), so a figure is only as good as an idle machine."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench knowledge")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run")
    args = parser.parse_args(list(argv or []))
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    print(f"== knowledge{' (quick)' if args.quick else ''}   [{load()}]")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-kb-") as tmp:
        bench = Bench(
            sizes=sizes,
            folder=Path(tmp),
            embedder=Embedder(),
            world=DemoWorld(seed=42, start=WORLD_START),
            settings=load_settings(config_dir=REPO / "data_config", environ={}),
            summary=Summary("knowledge" + (" (quick)" if args.quick else "")),
            redact=Redactor(),
        )
        began = time.perf_counter()
        bench.embedder.embed(["load the model"])
        print(f"  model load: {time.perf_counter() - began:.1f}s")
        pool = bench_embedding(bench)
        bench_cache(bench)
        base_store, timed, untimed = bench_retrieval(bench)
        base = export(base_store)
        print(
            f"\n  Filler for the bigger stores: the {len(pool.docs)} real documents of "
            f"{pool.start:%Y-%m-%d %H:%M}–{pool.end:%H:%M} UTC (summarised from the demo world "
            "and embedded once, above), copied onto earlier days (copy k moved k days before "
            f"the base span, the date in text and window moved with it). Each copy's vector is "
            f"its original's plus Gaussian noise of norm {JITTER}, renormalised (cosine ~0.995). "
            "The base span's documents keep their real vectors."
        )
        for size in sizes.stores:
            bench_store(bench, size, base, pool, timed, untimed)
    bench.summary.add("whole run", f"{time.perf_counter() - started:.0f}s; at the end {load()}")
    bench.summary.print()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
