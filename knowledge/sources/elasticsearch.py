"""Elasticsearch source: log lines from index patterns, mined into patterns per window.

``fetch(start, end)`` reads the hits of ``[start, end)`` over the configured index patterns in
timestamp order, with deep pagination: a point in time (PIT) plus ``search_after`` sorted on
the timestamp and ``_shard_doc``; where the server has no PIT (a 400, 404 or 405 from
``open_point_in_time``, or ``point_in_time: false``), plain ``search_after`` on the index
patterns sorted on the timestamp and a tiebreaker field. Hits become ``LogLine`` through the
field mapping (dotted paths into ``_source``, each with fallbacks); documents that have no
message or no usable timestamp are skipped and counted. The lines go through the shared
``LogMiner`` (Drain3 state under the source's state dir) and come out as one pattern document
per window, service and template.

A fetch reads at most ``max_lines_per_fetch`` lines (plus the rest of the window it is in),
and for at most ``TIME_SHARE`` of the run's timeout: past either it stops at the start of the
next window and returns that as the watermark, so the next run continues there. Miner state
changes are kept only when the runner calls ``Fetch.commit``; a failed or uncommitted fetch is
rolled back, so reading the same range again gives the same documents.

The client is the official ``elasticsearch`` one. The 9.x client asks for the REST API of
Elasticsearch 9, which Elasticsearch 8 clusters refuse: those need the 8.x client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator, Mapping
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, SerializationError, TransportError
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
    NotFoundError,
    UnsupportedProductError,
)
from pydantic import BeforeValidator, Field, SecretStr, field_validator

from knowledge.config import StrictModel
from knowledge.documents import EPOCH
from knowledge.logmining import LogLine, LogMiner, MinerConfig
from knowledge.sources.base import (
    Duration,
    Fetch,
    Source,
    SourceConfig,
    SourceContext,
    one_line,
)

log = logging.getLogger(__name__)

NOT_SET = "ELASTICSEARCH_URL is not set: set it to read logs from Elasticsearch"
TIME_SHARE = 0.6
"""A fetch stops at a window boundary once it has used this share of the run's timeout, so a
run that cannot read its whole range in time still makes progress."""
CREDENTIALS_HINT = "check ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME / ELASTICSEARCH_PASSWORD"


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Paths = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]
"""One dotted path into ``_source`` or several, tried in order (a string is a list of one)."""


class FieldMapping(StrictModel):
    """Where each part of a log line is in a hit's ``_source``: dotted paths that match nested
    objects (``{"log": {"level": ...}}``) and flat keys (``{"log.level": ...}``) alike."""

    timestamp: str = "@timestamp"
    """The date field that the time range and the sort use."""
    message: Paths = Field(default_factory=lambda: ["message", "event.original", "msg"])
    level: Paths = Field(
        default_factory=lambda: ["log.level", "level", "severity", "log.syslog.severity.name"]
    )
    service: Paths = Field(
        default_factory=lambda: [
            "service.name",
            "kubernetes.container.name",
            "container.name",
            "app",
        ]
    )
    host: Paths = Field(
        default_factory=lambda: [
            "host.name",
            "host.hostname",
            "kubernetes.node.name",
            "agent.hostname",
        ]
    )


class TlsConfig(StrictModel):
    ca_file: Path | None = None
    """A PEM bundle to verify the cluster's certificate with (a private CA)."""
    verify: bool = True
    """``false`` skips certificate verification (test clusters only)."""


class ElasticsearchConfig(SourceConfig):
    """``sources.elasticsearch`` in ai-config.yml; URL and secrets come from the environment."""

    url: str | None = None
    """``ELASTICSEARCH_URL`` from the environment fills this in."""
    api_key: SecretStr | None = None
    """``ELASTICSEARCH_API_KEY``: the encoded key, or ``id:key``. Wins over basic auth."""
    username: str | None = None
    """``ELASTICSEARCH_USERNAME``."""
    password: SecretStr | None = None
    """``ELASTICSEARCH_PASSWORD``."""
    tls: TlsConfig = TlsConfig()
    indices: list[str] = Field(default=["logs-*", "filebeat-*"], min_length=1)
    """Index patterns, data streams or aliases to read."""
    fields: FieldMapping = FieldMapping()
    query: str | dict[str, Any] | None = None
    """An extra filter: a query string (``service.name:payments AND NOT log.level:debug``) or a
    query DSL clause (``{"term": {"event.dataset": "nginx.access"}}``)."""
    page_size: int = Field(default=1000, ge=1, le=10_000)
    max_lines_per_fetch: int = Field(default=200_000, ge=1)
    """Bounds one run; a range with more lines is finished by the next runs."""
    point_in_time: bool = True
    """``false``: never open a PIT (plain ``search_after``), for servers or keys without it."""
    keep_alive: Duration = timedelta(minutes=1)
    """How long the cluster keeps a PIT between two pages."""
    tiebreaker: str = "_doc"
    """Second sort key without a PIT: a field unique per document is best (``event.id``)."""
    mining: MinerConfig = MinerConfig()

    @field_validator("indices")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not p.strip() or "," in p]
        if bad:
            raise ValueError(f"index pattern {bad[0]!r}: one non-empty pattern per entry")
        return [p.strip() for p in value]


class MalformedResponse(Exception):
    """Elasticsearch answered something that is not a search result."""


@dataclass
class Progress:
    """What one fetch read."""

    until: datetime
    lines: int = 0
    skipped: int = 0
    pages: int = 0
    stopped: str = ""
    """Why the fetch stopped before ``end`` (``""``: it did not)."""
    pit: bool = False


# ----------------------------------------------------------------------------- hits to lines


def lookup(source: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``source``: flat keys, nested objects or a mix."""
    if path in source:
        return source[path]
    dot = path.find(".")
    while dot != -1:
        inner = source.get(path[:dot])
        if isinstance(inner, Mapping):
            value = lookup(inner, path[dot + 1 :])
            if value is not None:
                return value
        dot = path.find(".", dot + 1)
    return None


def scalar(value: Any) -> str | None:
    """A string for a scalar (the first of a list); ``None`` for objects and missing values."""
    if isinstance(value, list):
        value = next((v for v in value if v is not None), None)
    if isinstance(value, bool) or value is None or isinstance(value, Mapping | list):
        return None
    text = str(value).strip()
    return text or None


def first(source: Mapping[str, Any], paths: list[str]) -> str | None:
    for path in paths:
        value = scalar(lookup(source, path))
        if value is not None:
            return value
    return None


_LEVELS = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "information": "INFO",
    "informational": "INFO",
    "notice": "INFO",
    "warn": "WARN",
    "warning": "WARN",
    "error": "ERROR",
    "err": "ERROR",
    "severe": "ERROR",
    "critical": "FATAL",
    "crit": "FATAL",
    "fatal": "FATAL",
    "alert": "FATAL",
    "emerg": "FATAL",
    "emergency": "FATAL",
    "panic": "FATAL",
}
_SYSLOG = {
    0: "FATAL",
    1: "FATAL",
    2: "FATAL",
    3: "ERROR",
    4: "WARN",
    5: "INFO",
    6: "INFO",
    7: "DEBUG",
}


def level_of(value: str | None) -> str:
    """DEBUG, INFO, WARN, ERROR, FATAL (names or syslog numbers), or ``""``."""
    if not value:
        return ""
    if value.isdigit():
        return _SYSLOG.get(int(value), "")
    return _LEVELS.get(value.lower(), "")


def parse_ts(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string or epoch milliseconds."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return EPOCH + timedelta(milliseconds=value)
        except OverflowError:
            return None
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, tail = text.partition(".")
    if dot:  # more than microseconds (nanosecond dates) is more than fromisoformat takes
        digits = len(tail) - len(tail.lstrip("0123456789"))
        if digits > 6:
            text = f"{head}.{tail[:6]}{tail[digits:]}"
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return parse_ts(int(value)) if value.isdigit() else None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def to_line(hit: Any, fields: FieldMapping) -> LogLine | None:
    """A hit as a ``LogLine``; ``None`` when it has no message or no usable timestamp."""
    if not isinstance(hit, Mapping):
        return None
    source = hit.get("_source")
    if not isinstance(source, Mapping):
        return None
    message = first(source, fields.message)
    ts = parse_ts(lookup(source, fields.timestamp))
    if ts is None:
        sort = hit.get("sort")
        ts = parse_ts(sort[0]) if isinstance(sort, list) and sort else None
    if message is None or ts is None:
        return None
    return LogLine(
        ts=ts,
        message=message,
        level=level_of(first(source, fields.level)),
        service=first(source, fields.service) or "",
        host=first(source, fields.host) or "",
    )


def window_of(ts: datetime, size: timedelta) -> datetime:
    """The start of the epoch-aligned window of ``size`` that holds ``ts``."""
    return EPOCH + (ts - EPOCH) // size * size


def es_time(ts: datetime) -> str:
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------- errors


def api_reason(exc: ApiError) -> str:
    """``type: reason`` from an Elasticsearch error body."""
    body = exc.body if isinstance(exc.body, Mapping) else {}
    error = body.get("error")
    if isinstance(error, Mapping):
        kind, reason = error.get("type", ""), error.get("reason", "")
        return f"{kind}: {reason}".strip(": ") or str(exc.message)
    return str(error or exc.message)


def is_index_missing(exc: ApiError) -> bool:
    return isinstance(exc, NotFoundError) and "index_not_found" in api_reason(exc)


def explain(exc: BaseException, url: str, indices: str) -> str:
    """A one-line reason that names the problem and what to do."""
    if isinstance(exc, AuthenticationException):
        return (
            f"Elasticsearch at {url} rejected the credentials (401, {api_reason(exc)}): "
            f"{CREDENTIALS_HINT}"
        )
    if isinstance(exc, AuthorizationException):
        return (
            f"Elasticsearch at {url} refused access (403, {api_reason(exc)}): "
            f"the user or key needs read on {indices}"
        )
    if isinstance(exc, ApiError) and is_index_missing(exc):
        return f"index missing on {url} ({api_reason(exc)}): check sources.elasticsearch.indices"
    if isinstance(exc, UnsupportedProductError):
        return f"the server at {url} is not Elasticsearch ({exc.message}): check ELASTICSEARCH_URL"
    if isinstance(exc, ApiError):
        return f"Elasticsearch at {url} answered {exc.status_code} ({api_reason(exc)})"[:400]
    if isinstance(exc, ConnectionTimeout):
        return f"Elasticsearch at {url} did not answer in time: is the cluster overloaded?"
    if isinstance(exc, TransportConnectionError):
        detail = f"{exc.message} {exc.__cause__ or ''}"
        cause = "connection refused" if "refused" in detail.lower() else exc.message[:200]
        return f"cannot reach Elasticsearch at {url} ({cause}): check ELASTICSEARCH_URL"[:400]
    if isinstance(exc, MalformedResponse | SerializationError):
        return f"malformed response from Elasticsearch at {url}: {exc}"[:400]
    if isinstance(exc, TransportError):
        return f"Elasticsearch at {url}: {one_line(exc)}"
    return f"Elasticsearch source failed: {one_line(exc)}"


def page_hits(response: Any) -> list[Any]:
    """The hits of one search response; raises ``MalformedResponse`` when there are none to
    be had or some shards failed (a partial page would skip lines)."""
    body = getattr(response, "body", response)
    if not isinstance(body, Mapping):
        raise MalformedResponse(f"expected a JSON object, got {type(body).__name__}")
    if body.get("timed_out") is True:
        raise MalformedResponse("the search timed out on the cluster")
    shards = body.get("_shards")
    if isinstance(shards, Mapping) and shards.get("failed"):
        raise MalformedResponse(f"{shards.get('failed')} of {shards.get('total')} shards failed")
    outer = body.get("hits")
    hits = outer.get("hits") if isinstance(outer, Mapping) else None
    if not isinstance(hits, list):
        raise MalformedResponse("no hits.hits list in the search response")
    return hits


# ----------------------------------------------------------------------------- the source


class ElasticsearchSource(Source):
    kind = "elasticsearch"
    Config = ElasticsearchConfig
    config: ElasticsearchConfig

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self._client: Elasticsearch | None = None
        self._miner: LogMiner | None = None
        self._uncommitted = False
        self._pit_works: bool | None = None  # None: not tried yet
        self.last: Progress | None = None
        """What the latest fetch read (for status and tests)."""

    @property
    def url(self) -> str:
        return (self.config.url or "").rstrip("/")

    @property
    def index(self) -> str:
        return ",".join(self.config.indices)

    def configured(self) -> bool:
        return bool(self.config.url)

    # ---------------------------------------------------------------- client

    def client(self) -> Elasticsearch:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> Elasticsearch:
        config = self.config
        options: dict[str, Any] = {
            "request_timeout": config.timeout.total_seconds(),
            "max_retries": 0,
            "retry_on_timeout": False,
        }
        if config.api_key is not None:
            key = config.api_key.get_secret_value()
            key_id, colon, secret = key.partition(":")
            options["api_key"] = (key_id, secret) if colon else key
        elif config.username:
            password = config.password.get_secret_value() if config.password else ""
            options["basic_auth"] = (config.username, password)
        if config.tls.ca_file is not None:
            options["ca_certs"] = str(config.tls.ca_file)
        if not config.tls.verify:
            options["verify_certs"] = False
            options["ssl_show_warn"] = False
        return Elasticsearch(self.url, **options)

    def close(self) -> None:
        if self._client is not None:
            with suppress(Exception):
                self._client.close()
            self._client = None

    # ---------------------------------------------------------------- health

    def health(self) -> tuple[bool, str]:
        if not self.configured():
            return False, NOT_SET
        es = self.client()
        try:
            version = self._version(es)
            empty = [p for p in self.config.indices if not self._matches(es, p)]
        except Exception as exc:
            return False, explain(exc, self.url, self.index)
        where = f"Elasticsearch {version} at {self.url}"
        if len(empty) == len(self.config.indices):
            return False, (
                f"{where}: no index matches {', '.join(empty)}: check sources.elasticsearch.indices"
            )
        if empty:
            return True, f"{where}; {', '.join(empty)} matched nothing (the others did)"
        return True, f"{where}; {', '.join(self.config.indices)} matched"

    @staticmethod
    def _version(es: Elasticsearch) -> str:
        try:
            info = es.info()
        except AuthorizationException:  # a read-only key may lack cluster monitor rights
            return "(version not readable)"
        version = info.get("version")
        return str(version.get("number", "?")) if isinstance(version, Mapping) else "?"

    @staticmethod
    def _matches(es: Elasticsearch, pattern: str) -> bool:
        """Whether ``pattern`` names at least one index (empty indices count)."""
        response = es.search(
            index=pattern,
            size=0,
            track_total_hits=False,
            allow_no_indices=True,
            ignore_unavailable=True,
        )
        shards = response.get("_shards")
        if not isinstance(shards, Mapping):
            raise MalformedResponse("no _shards in the search response")
        return int(shards.get("total") or 0) > 0

    # ---------------------------------------------------------------- fetch

    def miner(self) -> LogMiner:
        if self._miner is None:
            self._miner = LogMiner(
                self.kind, self.context.state_dir, self.context.redact, self.config.mining
            )
        return self._miner

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        if not self.configured():
            return Fetch.error(NOT_SET)
        if end <= start:
            return Fetch.no_data(watermark=end)
        try:
            miner = self.miner()
            if self._uncommitted:  # the previous fetch's documents never reached the store
                miner.rollback()
                self._uncommitted = False
        except Exception as exc:
            return Fetch.error(f"log miner state under {self.context.state_dir}: {one_line(exc)}")
        try:
            progress = self._read(start, end, miner)
            documents, embed = miner.close(progress.until)
        except Exception as exc:
            with suppress(Exception):
                miner.rollback()
            log.debug("elasticsearch fetch failed", exc_info=True)
            return Fetch.error(explain(exc, self.url, self.index))
        self.last = progress
        self._uncommitted = True
        reason = self._summary(progress)
        if not documents and progress.lines == 0:
            result = Fetch.no_data(watermark=progress.until, reason=reason)
            result.commit = self._commit
            return result
        return Fetch(
            status="ok",
            documents=documents,
            watermark=progress.until,
            reason=reason,
            items=progress.lines,
            commit=self._commit,
            vectors_from=embed,
        )

    def _commit(self) -> None:
        self.miner().save()
        self._uncommitted = False

    def _summary(self, progress: Progress) -> str:
        parts = [f"{progress.lines} lines in {progress.pages} pages"]
        if not progress.pit:
            parts.append("without point in time")
        if progress.skipped:
            parts.append(f"skipped {progress.skipped} hits without a message or timestamp")
        if progress.stopped:
            parts.append(
                f"stopped at {es_time(progress.until)} after {progress.stopped}; "
                "the next run continues there"
            )
        return "; ".join(parts)

    def _read(self, start: datetime, end: datetime, miner: LogMiner) -> Progress:
        """Mine the lines of ``[start, end)``, stopping at a window boundary past the budget."""
        size = self.config.mining.window
        deadline = time.monotonic() + self.config.timeout.total_seconds() * TIME_SHARE
        progress = Progress(until=end)
        batch: list[LogLine] = []
        current: datetime | None = None
        with closing(self._hits(start, end, progress)) as hits:
            for hit in hits:
                line = to_line(hit, self.config.fields)
                if line is None or not start <= line.ts < end:
                    progress.skipped += 1
                    continue
                window = max(window_of(line.ts, size), start)
                if window != current:
                    if current is not None:
                        progress.stopped = self._stop(progress.lines, deadline)
                        if progress.stopped:
                            progress.until = window
                            break
                    current = window
                batch.append(line)
                progress.lines += 1
                if len(batch) >= self.config.page_size:
                    miner.add(batch)
                    batch = []
        if batch:
            miner.add(batch)
        if progress.skipped:
            log.warning(
                "elasticsearch %s: skipped %d hits without a message or timestamp",
                self.name,
                progress.skipped,
            )
        return progress

    def _stop(self, lines: int, deadline: float) -> str:
        """Why to stop at this window boundary, or ``""`` to go on."""
        if lines >= self.config.max_lines_per_fetch:
            return f"max_lines_per_fetch ({self.config.max_lines_per_fetch})"
        if time.monotonic() > deadline:
            share = self.config.timeout.total_seconds() * TIME_SHARE
            return f"{share:.0f}s ({TIME_SHARE:.0%} of the timeout)"
        return ""

    # ---------------------------------------------------------------- pagination

    def _query(self, start: datetime, end: datetime) -> dict[str, Any]:
        window = {
            "range": {
                self.config.fields.timestamp: {
                    "gte": es_time(start),
                    "lt": es_time(end),
                    "format": "strict_date_optional_time",
                }
            }
        }
        filters: list[dict[str, Any]] = [window]
        extra = self.config.query
        if isinstance(extra, str) and extra.strip():
            filters.append({"query_string": {"query": extra}})
        elif isinstance(extra, dict) and extra:
            filters.append(extra)
        return {"bool": {"filter": filters}}

    def _sort(self, tiebreaker: str) -> list[dict[str, Any]]:
        stamp = {"order": "asc", "unmapped_type": "date"}
        return [{self.config.fields.timestamp: stamp}, {tiebreaker: "asc"}]

    def _source_fields(self) -> list[str]:
        fields = self.config.fields
        return sorted(
            {fields.timestamp, *fields.message, *fields.level, *fields.service, *fields.host}
        )

    def _hits(
        self, start: datetime, end: datetime, progress: Progress
    ) -> Generator[Any, None, None]:
        """Every hit of ``[start, end)`` in timestamp order, page by page."""
        es = self.client()
        query = self._query(start, end)
        pit_id = self._open_pit(es) if self.config.point_in_time else None
        if pit_id is None:
            yield from self._pages(es, query, progress, pit=None)
            return
        progress.pit = True
        pit = {"id": pit_id, "keep_alive": self._keep_alive()}
        try:
            yield from self._pages(es, query, progress, pit=pit)
        finally:
            with suppress(Exception):
                es.close_point_in_time(id=pit["id"])

    def _keep_alive(self) -> str:
        return f"{max(1, int(self.config.keep_alive.total_seconds()))}s"

    def _open_pit(self, es: Elasticsearch) -> str | None:
        """A PIT id, or ``None`` where the server has none (remembered) or no index matches
        (the plain search then tells a missing index from an empty pattern)."""
        if self._pit_works is False:
            return None
        try:
            response = es.open_point_in_time(index=self.index, keep_alive=self._keep_alive())
        except ApiError as exc:
            if is_index_missing(exc):
                return None
            if exc.status_code not in (400, 404, 405):
                raise
            log.info(
                "elasticsearch %s: no point in time (%s %s); paginating with search_after",
                self.name,
                exc.status_code,
                api_reason(exc),
            )
            self._pit_works = False
            return None
        pit_id = response.get("id")
        if not isinstance(pit_id, str) or not pit_id:
            raise MalformedResponse("open_point_in_time answered without an id")
        self._pit_works = True
        return pit_id

    def _pages(
        self,
        es: Elasticsearch,
        query: dict[str, Any],
        progress: Progress,
        pit: dict[str, str] | None,
    ) -> Iterator[Any]:
        size = self.config.page_size
        request: dict[str, Any] = {
            "query": query,
            "size": size,
            "sort": self._sort("_shard_doc" if pit else self.config.tiebreaker),
            "source_includes": self._source_fields(),
            "track_total_hits": False,
        }
        if pit is None:
            request["index"] = self.index
            request["allow_no_indices"] = True
        # Without a PIT the tiebreaker may change between pages (merges renumber _doc), so a
        # hit can come again, always with the timestamp of the page boundary: remember the
        # hits of the latest timestamp only.
        seen: set[tuple[str, str]] = set()
        stamp: Any = None
        search_after: list[Any] | None = None
        while True:
            if pit is not None:
                request["pit"] = pit
            if search_after is not None:
                request["search_after"] = search_after
            response = es.search(**request)
            hits = page_hits(response)
            progress.pages += 1
            if pit is not None and isinstance(response.get("pit_id"), str):
                pit["id"] = response["pit_id"]
            for hit in hits:
                if pit is None and isinstance(hit, Mapping):
                    sort = hit.get("sort")
                    if not isinstance(sort, list) or not sort or sort[0] != stamp:
                        seen.clear()
                        stamp = sort[0] if isinstance(sort, list) and sort else None
                    key = (str(hit.get("_index")), str(hit.get("_id")))
                    if key in seen:
                        continue
                    seen.add(key)
                yield hit
            if len(hits) < size:
                return
            last = hits[-1].get("sort") if isinstance(hits[-1], Mapping) else None
            if not isinstance(last, list) or not last:
                raise MalformedResponse("a full page whose last hit has no sort values")
            search_after = last
