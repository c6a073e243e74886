"""The knowledge store: documents and their vectors in LanceDB, in a folder (by default
``VIGIL_DATA_DIR/lancedb``) or on object storage (``s3://bucket/prefix``, ``gs://``, ``az://``).

- ``upsert`` is idempotent (``merge_insert`` on the content-hash id); texts are embedded in
  batches, and a content-hash cache (its own table) means the same text is never embedded twice.
- Scalar indexes on ``ts``, ``source``, ``service`` and ``kind``, a full-text index on ``text``,
  and a vector index once the table has ``vector_index_min_rows`` rows (brute force is exact and
  fast enough below that). Rows written after an index was built are still searched (LanceDB
  scans the unindexed tail); ``maintain`` folds them in.
- Retention deletes telemetry older than its source's age; ``maintain`` also compacts files and
  drops old versions.
- Reads see the newest committed version and stay correct while another thread writes: LanceDB
  versions every write, and writes in this process are serialised by a lock.
- On object storage a reader looks for a newer version at most every
  ``REMOTE_READ_CONSISTENCY`` (5 s): a replica sees another process's writes that much later,
  and a read costs one or two requests instead of about seven. A process sees its own writes
  at once.
- On object storage, several processes (chat replicas) may read while one (the scheduler leader)
  writes: a commit writes a new manifest with a conditional put (``If-None-Match: *``, which S3,
  MinIO, R2, GCS and Azure honour), so a reader only ever sees whole versions. Two writers at once
  do not lose updates either (the loser of a commit race retries or fails with a conflict), but
  Vigil keeps to one writer. A store that ignores ``If-None-Match`` would let concurrent commits
  overwrite each other: with such a store, keep strictly to one writer.

Every LanceDB failure surfaces as ``StoreError`` with the location (never a credential) and what
to do; nothing is deleted to "recover".
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from knowledge.documents import EPOCH, TELEMETRY_KINDS, Document, text_hash
from knowledge.embeddings import Embedder
from knowledge.errors import StoreError

log = logging.getLogger(__name__)

DOCUMENTS = "documents"
EMBEDDINGS = "embedding_cache"
STORE_DIR = "lancedb"
REMOTE_READ_CONSISTENCY = timedelta(seconds=5)
"""How often a store on object storage looks for a newer version (a local one: every read)."""
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_SECRET_OPTION = re.compile(r"secret|token|password|sas|key", re.IGNORECASE)
SCALAR_COLUMNS = ("ts", "source", "service", "host", "kind")
_OUTPUT = ["id", "ts", "source", "kind", "service", "host", "severity", "title", "text", "payload"]


def documents_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("ts", pa.timestamp("us")),
            ("source", pa.string()),
            ("kind", pa.string()),
            ("service", pa.string()),
            ("host", pa.string()),
            ("severity", pa.string()),
            ("title", pa.string()),
            ("text", pa.string()),
            ("payload", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def embeddings_schema(dim: int) -> pa.Schema:
    return pa.schema([("hash", pa.string()), ("vector", pa.list_(pa.float32(), dim))])


def is_remote(location: str | Path) -> bool:
    """Whether ``location`` is an object-store URI (``s3://``, ``gs://``, ``az://``, ...)."""
    match = _SCHEME.match(str(location))
    return match is not None and match.group(1).lower() != "file"


def display_location(location: str) -> str:
    """``location`` without user info or query (where a credential could hide)."""
    match = _SCHEME.match(location)
    if match is None:
        return location
    rest = location[match.end() :].split("?", 1)[0].split("#", 1)[0]
    host, _, path = rest.partition("/")
    host = host.rpartition("@")[2]
    return f"{match.group(0)}{host}/{path}".rstrip("/")


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_ts(value: datetime) -> str:
    """A SQL timestamp literal in UTC (the store keeps naive UTC timestamps)."""
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return f"timestamp '{naive:%Y-%m-%d %H:%M:%S.%f}'"


def sql_in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(sql_str(v) for v in sorted(set(values)))})"


@dataclass(frozen=True)
class UpsertResult:
    inserted: int
    updated: int
    embedded: int
    """Texts the model embedded in this call."""
    cached: int
    """Texts whose vector came from the content-hash cache."""


@dataclass(frozen=True)
class ScoredDocument:
    document: Document
    score: float
    """Cosine distance for vector search (lower is better); BM25 for text (higher is better)."""


@dataclass(frozen=True)
class StoreStats:
    documents: int
    by_source: dict[str, int]
    by_kind: dict[str, int]
    newest: datetime | None
    newest_by_source: dict[str, datetime]
    bytes_on_disk: int
    """Every file of the folder; on object storage, the data and index files of the current
    versions (older versions and manifests are not listed)."""
    indexes: list[str]
    embedding_cache: int
    path: str
    """The folder, or the object-store URI (without credentials)."""
    version: int

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "by_source": self.by_source,
            "by_kind": self.by_kind,
            "newest": self.newest.isoformat() if self.newest else None,
            "newest_by_source": {k: v.isoformat() for k, v in self.newest_by_source.items()},
            "bytes_on_disk": self.bytes_on_disk,
            "indexes": self.indexes,
            "embedding_cache": self.embedding_cache,
            "path": self.path,
            "version": self.version,
        }


@dataclass
class MaintenanceReport:
    deleted: dict[str, int] = field(default_factory=dict)
    indexes_created: list[str] = field(default_factory=list)
    compacted: bool = False


MEMORY_VECTORS = 20_000
"""Embeddings kept in memory (about 1.5 KB each); the rest are read back from the cache table."""


class VectorMemory:
    """A bounded least-recently-used map of text hash to vector."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> np.ndarray | None:
        vector = self._items.get(key)
        if vector is not None:
            self._items.move_to_end(key)
        return vector

    def put(self, key: str, vector: np.ndarray) -> None:
        self._items[key] = vector
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


class KnowledgeStore:
    """Documents with vectors, in LanceDB. Open with ``KnowledgeStore.open(data_dir, embedder)``
    (the folder ``data_dir/lancedb``) or ``KnowledgeStore.at(location, embedder)`` (a folder or
    an object-store URI; ``storage_options`` for the object store, such as ``aws_endpoint``)."""

    def __init__(
        self,
        location: str | Path,
        embedder: Embedder,
        *,
        storage_options: Mapping[str, str] | None = None,
        vector_index_min_rows: int = 50_000,
        retention: Mapping[str, timedelta | None] | None = None,
        read_consistency: timedelta | None = None,
    ) -> None:
        self.remote = is_remote(location)
        default = REMOTE_READ_CONSISTENCY if self.remote else timedelta(0)
        self.read_consistency = default if read_consistency is None else read_consistency
        """Reads look for a newer version (another process's writes) at most this often."""
        text = str(location)
        self.path: Path | None = None
        """The folder of a local store; ``None`` on object storage."""
        if not self.remote:
            self.path = Path(text[len("file://") :] if text.startswith("file://") else text)
            self.path = self.path.expanduser()
        self.uri = text if self.remote else str(self.path)
        self.location = display_location(self.uri)
        """Where the store is, fit to show (no credentials)."""
        self._storage_options = dict(storage_options or {})
        self.embedder = embedder
        self.vector_index_min_rows = vector_index_min_rows
        self.retention = dict(retention or {})
        self._write_lock = threading.Lock()
        self._names: tuple[set[str], set[str]] | None = None
        self._db: Any = None
        self._docs: Any = None
        self._cache: Any = None
        self._cache_memory = VectorMemory(MEMORY_VECTORS)
        self._newest: tuple[float, datetime | None] | None = None

    @classmethod
    def open(cls, data_dir: Path, embedder: Embedder, **options: Any) -> KnowledgeStore:
        """The store in the folder ``data_dir/lancedb``."""
        return cls.at(Path(data_dir) / STORE_DIR, embedder, **options)

    @classmethod
    def at(cls, location: str | Path, embedder: Embedder, **options: Any) -> KnowledgeStore:
        """The store at ``location`` itself: a folder or an object-store URI."""
        store = cls(location, embedder, **options)
        store._connect()
        return store

    # ------------------------------------------------------------------ connection
    def _fail(self, action: str, exc: BaseException) -> StoreError:
        if self.remote:
            reason, access = self._remote_reason(exc)
            advice = f" {self._remote_advice()}" if access else ""
            return StoreError(
                f"the knowledge store at {self.location} could not {action} ({reason}). "
                f"Nothing was deleted.{advice}"
            )
        if _no_space(exc):
            return StoreError(
                f"the knowledge store at {self.path} could not {action}: no space left on "
                "device. It keeps what it had (nothing was deleted); free some space on that "
                "disk and run it again."
            )
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = re.sub(r",? ?/\S+\.rs:\d+:\d+", "", reason)[:200]
        return StoreError(
            f"the knowledge store at {self.path} could not {action} ({reason}). Nothing was "
            f"deleted. If the folder is damaged, move it aside (mv {self.path} "
            f"{self.path}.broken) and rebuild it with `vigil kb add-runbooks` and an ingest pass."
        )

    def _remote_reason(self, exc: BaseException) -> tuple[str, bool]:
        """What went wrong with the object store, in a few words and without a secret, and
        whether it is about reaching it (endpoint, bucket, credentials)."""
        text = str(exc) or type(exc).__name__
        access = True
        code = re.search(r"<Code>(\w+)</Code>", text)
        status = re.search(r"status: (\d{3})", text)
        if code and code.group(1) == "NoSuchBucket":
            reason = "the bucket does not exist"
        elif code and code.group(1) in _CREDENTIAL_CODES:
            reason = f"the credentials were refused: {code.group(1)}"
        elif code:
            reason = f"the object store answered {code.group(1)}"
        elif status and status.group(1) in ("401", "403"):
            reason = f"the credentials were refused: HTTP {status.group(1)}"
        elif re.search(r"ConnectionRefused|Connection refused", text):
            reason = "the endpoint refused the connection"
        elif re.search(r"dns error|failed to lookup address", text, re.IGNORECASE):
            reason = "the endpoint's host name does not resolve"
        elif re.search(r"kind: Connect|tcp connect error|error trying to connect", text):
            reason = "the endpoint could not be reached"
        elif re.search(r"timed? ?out", text, re.IGNORECASE):
            reason = "the endpoint did not answer in time"
        elif status:
            reason = f"the object store answered HTTP {status.group(1)}"
        else:
            reason = re.sub(r",? ?/\S+\.rs:\d+:\d+", "", text.splitlines()[0])[:200]
            access = False
        for key, value in self._storage_options.items():
            if value and len(value) >= 4 and _SECRET_OPTION.search(key):
                reason = reason.replace(value, "***")
        return reason, access

    def _remote_advice(self) -> str:
        scheme = self.location.split("://", 1)[0].lower()
        if scheme.startswith("s3"):
            endpoint = self._storage_options.get("aws_endpoint")
            where = f" ({endpoint})" if endpoint else ""
            return (
                f"Check that the endpoint{where} is reachable (AWS_ENDPOINT_URL), that the bucket "
                "exists, and that the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                "AWS_SESSION_TOKEN) may list, read and write under the prefix."
            )
        return (
            "Check that the object store is reachable, that the bucket or container exists, and "
            "that the credentials in the environment may list, read and write under the prefix."
        )

    def _connect(self) -> None:
        import lancedb

        try:
            if self.path is not None:
                self.path.mkdir(parents=True, exist_ok=True)
            self._db = lancedb.connect(
                self.uri,
                read_consistency_interval=self.read_consistency,
                storage_options=self._storage_options or None,
            )
            names = set(self._db.list_tables().tables)
            dim = self.embedder.dim
            if DOCUMENTS in names:
                self._docs = self._db.open_table(DOCUMENTS)
                self._check_schema(self._docs, dim)
                self._docs.count_rows()  # reads the manifest: fails here on a damaged table
            else:
                self._docs = self._db.create_table(DOCUMENTS, schema=documents_schema(dim))
            if EMBEDDINGS in names:
                self._cache = self._db.open_table(EMBEDDINGS)
                self._cache.count_rows()
            else:
                self._cache = self._db.create_table(EMBEDDINGS, schema=embeddings_schema(dim))
        except StoreError:
            raise
        except Exception as exc:
            raise self._fail("be opened", exc) from exc

    def _check_schema(self, table: Any, dim: int) -> None:
        vector = table.schema.field("vector").type
        stored = getattr(vector, "list_size", None)
        if stored != dim:
            raise StoreError(
                f"the knowledge store at {self.location} holds {stored}-dimensional vectors but "
                f"the embedding model {self.embedder.name} makes {dim}-dimensional ones. Use the "
                "model the store was built with, or move the store aside and rebuild it."
            )

    # ------------------------------------------------------------------ writing
    def upsert(
        self,
        documents: Sequence[Document],
        vectors: Sequence[np.ndarray] | None = None,
        embed_texts: Sequence[str] | None = None,
    ) -> UpsertResult:
        """Insert new documents and update changed ones (matched on id). Returns counts.

        ``vectors``: precomputed embeddings, one per document (bulk imports, benchmarks);
        without them, texts are embedded (or taken from the content-hash cache).
        ``embed_texts``: one per document, the text whose embedding the document gets instead
        of its own (a log pattern's stable description: new counts cost no new embedding)."""
        if embed_texts is not None and vectors is None:
            if len(embed_texts) != len(documents):
                raise ValueError("give one embed text per document")
            by_text = {d.id: (d, t) for d, t in zip(documents, embed_texts, strict=True)}
            documents = [d for d, _ in by_text.values()]
            vectors, embedded, cached = self._vectors([t for _, t in by_text.values()])
            result = self.upsert(documents, vectors)
            return UpsertResult(result.inserted, result.updated, embedded, cached)
        if vectors is not None:
            if len(vectors) != len(documents):
                raise ValueError("give one vector per document")
            by_id = {d.id: (d, v) for d, v in zip(documents, vectors, strict=True)}
            unique = [d for d, _ in by_id.values()]
            given = [np.asarray(v, dtype=np.float32) for _, v in by_id.values()]
        else:
            unique = list({d.id: d for d in documents}.values())
        if not unique:
            return UpsertResult(0, 0, 0, 0)
        if vectors is not None:
            vectors, embedded, cached = given, 0, 0
        else:
            vectors, embedded, cached = self._vectors([d.text for d in unique])
        rows = []
        for doc, vector in zip(unique, vectors, strict=True):
            row = doc.to_row()
            row["vector"] = vector
            rows.append(row)
        table = pa.Table.from_pylist(rows, schema=documents_schema(self.embedder.dim))
        with self._write_lock:
            try:
                result = (
                    self._docs.merge_insert("id")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute(table)
                )
            except Exception as exc:
                raise self._fail("be written", exc) from exc
        self._newest = None
        if self._names is not None:
            self._names[0].update(d.service for d in unique if d.service)
            self._names[1].update(d.host for d in unique if d.host)
        inserted = int(getattr(result, "num_inserted_rows", 0))
        updated = int(getattr(result, "num_updated_rows", 0))
        return UpsertResult(inserted, updated, embedded, cached)

    def _vectors(self, texts: list[str]) -> tuple[list[np.ndarray], int, int]:
        """A vector per text: from memory, from the cache table, or embedded now."""
        hashes = [text_hash(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        wanted = []
        for h in dict.fromkeys(hashes):
            vector = self._cache_memory.get(h)
            if vector is None:
                wanted.append(h)
            else:
                found[h] = vector
        for chunk_start in range(0, len(wanted), 2000):
            chunk = wanted[chunk_start : chunk_start + 2000]
            try:
                rows = (
                    self._cache.search()
                    .where(sql_in("hash", chunk))
                    .select(["hash", "vector"])
                    .limit(len(chunk))
                    .to_arrow()
                )
            except Exception as exc:
                raise self._fail("read the embedding cache", exc) from exc
            for h, v in zip(
                rows.column("hash").to_pylist(), rows.column("vector").to_pylist(), strict=True
            ):
                found[h] = np.asarray(v, dtype=np.float32)
                self._cache_memory.put(h, found[h])
        missing = {h: t for h, t in zip(hashes, texts, strict=True) if h not in found}
        if missing:
            fresh = self.embedder.embed(list(missing.values()))
            new_rows = [
                {"hash": h, "vector": v.tolist()} for h, v in zip(missing, fresh, strict=True)
            ]
            with self._write_lock:
                try:
                    self._cache.merge_insert("hash").when_not_matched_insert_all().execute(new_rows)
                except Exception as exc:
                    raise self._fail("write the embedding cache", exc) from exc
            for h, v in zip(missing, fresh, strict=True):
                found[h] = v
                self._cache_memory.put(h, v)
        unique_texts = len(set(hashes))
        return [found[h] for h in hashes], len(missing), unique_texts - len(missing)

    def delete(self, where: str) -> int:
        """Delete documents matching the SQL filter ``where``; returns how many went."""
        with self._write_lock:
            try:
                before = self._docs.count_rows()
                self._docs.delete(where)
                after = self._docs.count_rows()
            except Exception as exc:
                raise self._fail("delete documents", exc) from exc
        self._names = None
        return before - after

    # ------------------------------------------------------------------ reading
    def count(self, where: str | None = None) -> int:
        try:
            return int(self._docs.count_rows(where))
        except Exception as exc:
            raise self._fail("be read", exc) from exc

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    def vector_search(
        self, vector: np.ndarray, where: str | None = None, limit: int = 50
    ) -> list[ScoredDocument]:
        try:
            query = self._docs.search(vector, query_type="vector").distance_type("cosine")
            if where:
                query = query.where(where, prefilter=True)
            rows = query.select([*_OUTPUT, "_distance"]).limit(limit).to_list()
        except Exception as exc:
            raise self._fail("be searched", exc) from exc
        return [ScoredDocument(Document.from_row(r), float(r["_distance"])) for r in rows]

    def text_search(
        self, text: str, where: str | None = None, limit: int = 50
    ) -> list[ScoredDocument]:
        terms = _fts_terms(text)
        if not terms:
            return []
        try:
            query = self._docs.search(terms, query_type="fts", fts_columns="text")
            if where:
                query = query.where(where, prefilter=True)
            rows = query.select([*_OUTPUT, "_score"]).limit(limit).to_list()
        except Exception as exc:
            raise self._fail("be searched", exc) from exc
        return [ScoredDocument(Document.from_row(r), float(r["_score"])) for r in rows]

    def get(self, ids: Iterable[str]) -> list[Document]:
        ids = list(ids)
        if not ids:
            return []
        try:
            rows = self._docs.search().where(sql_in("id", ids)).select(_OUTPUT).to_list()
        except Exception as exc:
            raise self._fail("be read", exc) from exc
        return [Document.from_row(r) for r in rows]

    def scan(self, where: str | None = None, limit: int | None = None) -> list[Document]:
        """Documents matching ``where`` (no ranking), newest first."""
        try:
            query = self._docs.search()
            if where:
                query = query.where(where)
            rows = query.select(_OUTPUT).limit(limit or self.count(where) or 1).to_list()
        except Exception as exc:
            raise self._fail("be read", exc) from exc
        docs = [Document.from_row(r) for r in rows]
        docs.sort(key=lambda d: d.ts, reverse=True)
        return docs

    def names(self) -> tuple[set[str], set[str]]:
        """The services and hosts the store knows (for filters taken from a question)."""
        if self._names is None:
            try:
                table = (
                    self._docs.search()
                    .select(["service", "host"])
                    .limit(max(1, self._docs.count_rows()))
                    .to_arrow()
                )
            except Exception as exc:
                raise self._fail("be read", exc) from exc
            services = {s for s in pa.compute.unique(table.column("service")).to_pylist() if s}
            hosts = {h for h in pa.compute.unique(table.column("host")).to_pylist() if h}
            self._names = (services, hosts)
        return self._names

    def newest_telemetry(self, max_age_s: float = 30.0) -> datetime | None:
        """The newest telemetry timestamp in the store (remembered for ``max_age_s``)."""
        now = time.monotonic()
        if self._newest is not None and now - self._newest[0] < max_age_s:
            return self._newest[1]
        try:
            where = sql_in("kind", TELEMETRY_KINDS)
            table = (
                self._docs.search()
                .where(where)
                .select(["ts"])
                .limit(max(1, self._docs.count_rows(where)))
                .to_arrow()
            )
        except Exception as exc:
            raise self._fail("be read", exc) from exc
        newest = pa.compute.max(table.column("ts")).as_py() if table.num_rows else None
        value = newest.replace(tzinfo=UTC) if newest is not None else None
        self._newest = (now, value)
        return value

    def stats(self) -> StoreStats:
        try:
            table = (
                self._docs.search()
                .select(["source", "kind", "ts"])
                .limit(max(1, self._docs.count_rows()))
                .to_arrow()
            )
            indexes = sorted(f"{i.name} ({i.index_type})" for i in self._docs.list_indices())
            cache_rows = self._cache.count_rows()
            version = int(self._docs.version)
            size = self._size()
        except Exception as exc:
            raise self._fail("be read", exc) from exc
        sources = table.column("source").to_pylist()
        stamps = table.column("ts").to_pylist()
        newest_by_source: dict[str, datetime] = {}
        undated = EPOCH.replace(tzinfo=None)  # runbooks without a date, domain notes
        for source, ts in zip(sources, stamps, strict=True):
            if (
                ts is not None
                and ts != undated
                and (source not in newest_by_source or ts > newest_by_source[source])
            ):
                newest_by_source[source] = ts
        newest_by_source = {k: v.replace(tzinfo=UTC) for k, v in newest_by_source.items()}
        telemetry_newest = [v for k, v in newest_by_source.items() if k not in ("runbook",)]
        return StoreStats(
            documents=table.num_rows,
            by_source=dict(Counter(sources).most_common()),
            by_kind=dict(Counter(table.column("kind").to_pylist()).most_common()),
            newest=max(telemetry_newest) if telemetry_newest else None,
            newest_by_source=newest_by_source,
            bytes_on_disk=size,
            indexes=indexes,
            embedding_cache=cache_rows,
            path=self.location,
            version=version,
        )

    def _size(self) -> int:
        """Bytes of the folder; on object storage, of the current versions' files (listing
        every object of a bucket prefix would cost a request per thousand objects)."""
        if self.path is not None:
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        total = 0
        for table in (self._docs, self._cache):
            stats = table.stats()  # a dict from the synchronous API, an object from the async one
            total += int(stats["total_bytes"] if isinstance(stats, dict) else stats.total_bytes)
        return total

    # ------------------------------------------------------------------ upkeep
    def ensure_indexes(self) -> list[str]:
        """Create the indexes that are missing; returns the names of those created."""
        from lancedb.index import FTS, BTree, HnswSq

        with self._write_lock:
            try:
                present = {next(iter(i.columns)) for i in self._docs.list_indices()}
                rows = self._docs.count_rows()
                created = []
                if rows == 0:
                    return []
                for column in SCALAR_COLUMNS:
                    if column not in present:
                        self._docs.create_index(column, config=BTree())
                        created.append(f"{column} (BTree)")
                if "text" not in present:
                    self._docs.create_index("text", config=FTS())
                    created.append("text (FTS)")
                if "vector" not in present and rows >= self.vector_index_min_rows:
                    partitions = max(1, rows // 100_000)
                    self._docs.create_index(
                        "vector",
                        config=HnswSq(distance_type="cosine", num_partitions=partitions),
                    )
                    created.append("vector (HnswSq)")
                if not self._cache.list_indices() and self._cache.count_rows() > 0:
                    self._cache.create_index("hash", config=BTree())
                    created.append("embedding_cache.hash (BTree)")
            except Exception as exc:
                raise self._fail("build its indexes", exc) from exc
        if created:
            log.info("knowledge store: created indexes %s", ", ".join(created))
        return created

    def apply_retention(self, now: datetime) -> dict[str, int]:
        """Delete each source's documents older than its retention; returns counts per source."""
        deleted = {}
        for source, age in self.retention.items():
            if age is None:
                continue
            where = f"source = {sql_str(source)} AND ts < {sql_ts(now - age)}"
            gone = self.delete(where)
            if gone:
                deleted[source] = gone
        return deleted

    def optimize(self, keep_versions_for: timedelta = timedelta(hours=1)) -> None:
        """Compact small files, fold new rows into the indexes and drop old versions."""
        with self._write_lock:
            try:
                self._docs.optimize(cleanup_older_than=keep_versions_for)
                self._cache.optimize(cleanup_older_than=keep_versions_for)
            except Exception as exc:
                raise self._fail("be compacted", exc) from exc

    def maintain(self, now: datetime) -> MaintenanceReport:
        """The periodic job: retention, missing indexes, compaction."""
        report = MaintenanceReport()
        report.deleted = self.apply_retention(now)
        report.indexes_created = self.ensure_indexes()
        self.optimize()
        report.compacted = True
        return report


_CREDENTIAL_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AuthorizationHeaderMalformed",
}


def _fts_terms(text: str) -> str:
    """The question as plain terms for full-text search (query syntax characters dropped)."""
    words = re.findall(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", text)
    return " ".join(w.strip(".-") for w in words if w.strip(".-"))[:1000]


def _no_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk; LanceDB says so only in its text."""
    import errno

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen) or "os error 28" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
