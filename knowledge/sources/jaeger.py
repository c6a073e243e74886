"""Jaeger: services and their operations, slow traces, error spans and critical paths, read
through Jaeger's query HTTP API (the JSON API its UI uses: ``/api/services``,
``/api/services/{service}/operations``, ``/api/traces``).

For each service and 5-minute window (aligned to the clock) the source searches
``/api/traces?service=&start=&end=&limit=`` (times in microseconds). When a search comes back
full (``limit`` traces), the window is busier than the sample, so a second search with
``minDuration`` set to the sample's slow quantile fetches the slow traces the sample missed.
Traces are deduplicated across services and belong to the window their root span starts in.

Documents per window (all ``trace_path``, with stable ids so a re-fetch replaces them):

- one per service: its operations with call counts and p50 / p95 latency. Embedded from a
  stable description (the service's operation names), so a new window costs no new embedding
  unless the service's operations change;
- slow traces (root over its operation's p95, ``slow_factor`` times its median and
  ``slow_floor``; or over ``always_slow``), grouped by the span with the most self time;
- error spans, grouped by service and operation, with their messages and where they came from;
- the critical path of the slowest slow trace: ``api-gateway GET /pay 2.1s → payments POST
  /charge 2.0s → ...``.

Every string that reaches a document passes through ``context.redact``.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr

from knowledge.config import StrictModel
from knowledge.documents import EPOCH, Document, content_id
from knowledge.sources.base import Duration, Fetch, Source, SourceConfig, SourceContext, one_line
from knowledge.summarise import WINDOW, span_text, windows
from knowledge.telemetry import Span

log = logging.getLogger(__name__)

HOST_TAGS = ("hostname", "host.name", "ip")
ERROR_MESSAGE_TAGS = ("error.message", "exception.message", "otel.status_description")
ERROR_LOG_FIELDS = ("message", "error.object", "exception.message", "error.message", "error")
STATEMENT_TAGS = ("db.statement", "db.query.text")
URL_TAGS = ("http.url", "url.full", "http.target")
STATUS_TAGS = ("http.status_code", "http.response.status_code")
PATH_HOPS = 12


class JaegerTLS(StrictModel):
    ca_file: Path | None = None
    """A CA bundle (PEM) to trust for an https ``url`` signed by a private CA."""
    verify: bool = True
    """``false`` skips certificate checks (a lab only)."""


class JaegerConfig(SourceConfig):
    url: str | None = None
    """The query service (the UI's address, port 16686, with its base path if any).
    ``JAEGER_URL`` from the environment fills this in."""
    bearer_token: SecretStr | None = None
    """Sent as ``Authorization: Bearer``; ``JAEGER_BEARER_TOKEN`` fills this in."""
    tls: JaegerTLS = JaegerTLS()
    services: tuple[str, ...] = ()
    """Services to read; empty: every service ``/api/services`` lists, less ``exclude``."""
    exclude: tuple[str, ...] = ("jaeger-query", "jaeger-all-in-one", "jaeger")
    """Services never read (Jaeger traces itself)."""
    limit: int = Field(default=200, ge=1, le=5000)
    """Traces per search (one service, one 5-minute window)."""
    slow_quantile: float = Field(default=0.95, gt=0.5, lt=1.0)
    """A trace is slow when its root is over this quantile of its operation in the window."""
    slow_floor: Duration = timedelta(milliseconds=100)
    """... and at least this long: a 4 ms request is never slow."""
    slow_factor: float = Field(default=2.0, ge=1.0)
    """... and at least this many times its operation's median: by definition 5 % of requests
    are over the p95, and only the ones far out are worth a document."""
    always_slow: Duration = timedelta(seconds=1)
    """A trace at least this long is slow whatever its operation's p95 (a quiet operation has
    too few traces for a p95; in an incident every request is slow)."""
    max_operations: int = Field(default=10, ge=1, le=100)
    """Operations listed per service document (the busiest)."""
    request_timeout: Duration = timedelta(seconds=10)
    concurrency: int = Field(default=4, ge=1, le=32)
    """Requests to Jaeger in flight at once."""


class JaegerError(Exception):
    """A one-line reason why Jaeger could not be read, with what to do."""


# ----------------------------------------------------------------------------- parsing


@dataclass
class Trace:
    trace_id: str
    spans: list[Span]
    root: Span
    sampled: bool = True
    """Found by a plain search (an unbiased sample), not only by a ``minDuration`` one."""
    children: dict[str, list[Span]] = field(default_factory=dict)

    @property
    def end(self) -> datetime:
        return self.root.start + timedelta(milliseconds=self.root.duration_ms)


def _value(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return "" if raw is None else str(raw)


def _tags(items: Any) -> dict[str, str]:
    """Jaeger's ``[{key, type, value}]`` as a plain dict; malformed entries are dropped."""
    if not isinstance(items, list):
        return {}
    return {
        str(t["key"]): _value(t.get("value"))
        for t in items
        if isinstance(t, dict) and isinstance(t.get("key"), str)
    }


def _log_error(logs: Any) -> str:
    """The message of an ``event=error`` log of a span (OpenTracing style), if any."""
    if not isinstance(logs, list):
        return ""
    for entry in logs:
        fields = _tags(entry.get("fields")) if isinstance(entry, dict) else {}
        if fields.get("event") in ("error", "exception") or "exception.message" in fields:
            for key in ERROR_LOG_FIELDS:
                if fields.get(key):
                    return fields[key]
    return ""


def _failed(tags: dict[str, str]) -> bool:
    if tags.get("error", "").lower() in ("true", "1") or tags.get("otel.status_code") == "ERROR":
        return True
    for key in STATUS_TAGS:
        try:
            if int(float(tags.get(key, "0"))) >= 500:
                return True
        except ValueError:
            continue
    return False


def _processes(raw: Any) -> dict[str, tuple[str, str]]:
    """``processID -> (service, host)``."""
    found: dict[str, tuple[str, str]] = {}
    if not isinstance(raw, dict):
        return found
    for pid, process in raw.items():
        if not isinstance(process, dict) or not isinstance(process.get("serviceName"), str):
            continue
        tags = _tags(process.get("tags"))
        host = next((tags[k] for k in HOST_TAGS if tags.get(k)), "")
        found[str(pid)] = (process["serviceName"], host)
    return found


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    return float(raw)


def parse_span(raw: Any, trace_id: str, processes: dict[str, tuple[str, str]]) -> Span | None:
    """One Jaeger JSON span as a ``Span``, or ``None`` when a field it needs is missing."""
    if not isinstance(raw, dict):
        return None
    span_id, start, duration = raw.get("spanID"), _number(raw.get("startTime")), None
    duration = _number(raw.get("duration"))
    process = processes.get(str(raw.get("processID")))
    if not isinstance(span_id, str) or not span_id or start is None or duration is None:
        return None
    if process is None or duration < 0:
        return None
    references = raw.get("references")
    parents = [
        r for r in references or [] if isinstance(r, dict) and isinstance(r.get("spanID"), str)
    ]
    parents.sort(key=lambda r: r.get("refType") != "CHILD_OF")
    tags = _tags(raw.get("tags"))
    message = next((tags[k] for k in ERROR_MESSAGE_TAGS if tags.get(k)), "") or _log_error(
        raw.get("logs")
    )
    if message:
        tags["error.message"] = message
    return Span(
        trace_id=str(raw.get("traceID") or trace_id),
        span_id=span_id,
        parent_id=parents[0]["spanID"] if parents else None,
        service=process[0],
        host=process[1],
        operation=str(raw.get("operationName") or "(unnamed)"),
        start=EPOCH + timedelta(microseconds=start),
        duration_ms=duration / 1000.0,
        status="error" if _failed(tags) else "ok",
        tags=tags,
    )


def parse_trace(raw: Any) -> tuple[Trace | None, int]:
    """A Jaeger JSON trace, and how many of its spans were skipped as malformed."""
    if not isinstance(raw, dict) or not isinstance(raw.get("spans"), list):
        return None, 1
    trace_id = str(raw.get("traceID") or "")
    processes = _processes(raw.get("processes"))
    spans: list[Span] = []
    skipped = 0
    for item in raw["spans"]:
        span = parse_span(item, trace_id, processes)
        if span is None:
            skipped += 1
        else:
            spans.append(span)
    if not spans:
        return None, skipped
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id is None or s.parent_id not in ids]
    root = min(roots or spans, key=lambda s: (s.start, -s.duration_ms))
    children: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        if span.parent_id in ids and span is not root:
            children[span.parent_id].append(span)
    return Trace(trace_id or root.trace_id, spans, root, children=dict(children)), skipped


# ----------------------------------------------------------------------------- numbers


def quantile(values: Iterable[float], q: float) -> float:
    """Nearest-rank quantile: the smallest value with at least ``q`` of the values at or
    under it (with fewer than 1/(1-q) values that is the maximum)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms_text(ms: float) -> str:
    """``2.1s``, ``840ms``, ``3.5ms``."""
    if ms >= 1000:
        return f"{ms / 1000:.1f}s"
    return f"{ms:.0f}ms" if ms >= 10 else f"{ms:.1f}ms"


def self_time(span: Span, trace: Trace) -> float:
    """The span's duration less the time its children cover (overlaps merged)."""
    intervals = sorted(
        (c.start.timestamp() * 1000, c.start.timestamp() * 1000 + c.duration_ms)
        for c in trace.children.get(span.span_id, [])
    )
    lo = span.start.timestamp() * 1000
    hi = lo + span.duration_ms
    covered, cursor = 0.0, lo
    for a, b in intervals:
        a, b = max(a, cursor), min(b, hi)
        if b > a:
            covered += b - a
            cursor = b
    return max(0.0, span.duration_ms - covered)


def dominant(trace: Trace) -> Span:
    """The span with the most self time."""
    return max(trace.spans, key=lambda s: (self_time(s, trace), -len(s.span_id)))


def critical_path(trace: Trace) -> list[Span]:
    """From the root down, at each level the child that finishes last (among those that end
    within their parent, so that a fire-and-forget child does not count), then the longest."""
    path = [trace.root]
    while len(path) < PATH_HOPS:
        parent = path[-1]
        kids = trace.children.get(parent.span_id, [])
        if not kids:
            break
        parent_end = _end(parent) + timedelta(milliseconds=1)
        inside = [k for k in kids if _end(k) <= parent_end] or kids
        path.append(max(inside, key=lambda k: (_end(k), k.duration_ms)))
    return path


def _end(span: Span) -> datetime:
    return span.start + timedelta(milliseconds=span.duration_ms)


def root_cause(span: Span, trace: Trace) -> Span:
    """The deepest failing span under ``span`` (itself when no child failed)."""
    current = span
    for _ in range(64):
        failing = [c for c in trace.children.get(current.span_id, []) if c.status == "error"]
        if not failing:
            break
        current = max(failing, key=lambda c: c.duration_ms)
    return current


def _us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly."""
    return (moment.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)


# ----------------------------------------------------------------------------- the source


@dataclass
class _Collected:
    traces: dict[str, Trace] = field(default_factory=dict)
    skipped: int = 0
    spans: int = 0
    full: set[tuple[str, datetime]] = field(default_factory=set)
    """(service, window) whose search came back with ``limit`` traces."""

    def add(self, raw: list[Any], sampled: bool) -> list[Trace]:
        added = []
        for item in raw:
            known = self.traces.get(item.get("traceID", "")) if isinstance(item, dict) else None
            if known is not None:  # found by another service's search: parsed already
                known.sampled = known.sampled or sampled
                added.append(known)
                continue
            trace, skipped = parse_trace(item)
            self.skipped += skipped
            if trace is None:
                continue
            trace.sampled = sampled
            self.traces[trace.trace_id] = trace
            self.spans += len(trace.spans)
            added.append(trace)
        return added


@dataclass
class _Search:
    """The raw answers for one service and window."""

    service: str
    w0: datetime
    sample: list[Any]
    slow: list[Any] = field(default_factory=list)
    full: bool = False
    """The sample came back with ``limit`` traces (so it is only a sample)."""


def _longest_us(raw: Any, service: str) -> float | None:
    """The longest span of ``service`` in a raw Jaeger trace, in microseconds."""
    if not isinstance(raw, dict) or not isinstance(raw.get("spans"), list):
        return None
    processes = _processes(raw.get("processes"))
    durations = [
        d
        for item in raw["spans"]
        if isinstance(item, dict)
        and processes.get(str(item.get("processID")), ("",))[0] == service
        and (d := _number(item.get("duration"))) is not None
    ]
    return max(durations) if durations else None


class JaegerSource(Source):
    kind = "jaeger"
    Config = JaegerConfig

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self.cfg: JaegerConfig = (
            config
            if isinstance(config, JaegerConfig)
            else JaegerConfig.model_validate(config.model_dump())
        )
        self._client: httpx.Client | None = None

    # ---- plumbing

    def configured(self) -> bool:
        return bool(self.cfg.url)

    @property
    def base(self) -> str:
        """The URL without a trailing slash; ``http://`` when it names no scheme."""
        url = (self.cfg.url or "").strip().rstrip("/")
        return url if not url or "://" in url else f"http://{url}"

    @property
    def where(self) -> str:
        """The URL as reasons show it (credentials in it redacted)."""
        return self.context.redact(self.base)

    def _http(self) -> httpx.Client:
        if self._client is None:
            verify: ssl.SSLContext | bool = self.cfg.tls.verify
            if self.cfg.tls.ca_file is not None and self.cfg.tls.verify:
                try:
                    verify = ssl.create_default_context(cafile=str(self.cfg.tls.ca_file))
                except (OSError, ssl.SSLError) as exc:
                    raise JaegerError(
                        f"tls.ca_file {self.cfg.tls.ca_file} cannot be used ({one_line(exc)}): "
                        "point it at a PEM CA bundle"
                    ) from None
            headers = {"Accept": "application/json"}
            if self.cfg.bearer_token is not None:
                headers["Authorization"] = f"Bearer {self.cfg.bearer_token.get_secret_value()}"
            self._client = httpx.Client(
                headers=headers,
                verify=verify,
                timeout=self.cfg.request_timeout.total_seconds(),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """``data`` of Jaeger's ``{"data": ..., "errors": ...}`` answer to ``GET path``."""
        if not self.base:
            raise JaegerError("JAEGER_URL is not set: set it to the Jaeger query service")
        shown = path.split("?")[0]
        try:
            response = self._http().get(self.base + path, params=params)
        except httpx.TimeoutException:
            raise JaegerError(
                f"Jaeger at {self.where} did not answer {shown} within "
                f"{self.cfg.request_timeout.total_seconds():g}s: is it overloaded? "
                "raise sources.jaeger.request_timeout or lower limit"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise JaegerError(
                f"cannot reach Jaeger at {self.where} ({self.context.redact(one_line(exc))}): "
                "is it running and is JAEGER_URL right?"
            ) from None
        return self._data(response, shown)

    def _data(self, response: httpx.Response, shown: str) -> Any:
        status = response.status_code
        if status in (401, 403):
            raise JaegerError(
                f"Jaeger at {self.where} refused {shown} (HTTP {status}): check JAEGER_BEARER_TOKEN"
            )
        try:
            body = response.json()
        except ValueError:
            snippet = self.context.redact(response.text[:60].strip())
            if status >= 400:
                raise JaegerError(
                    f"Jaeger at {self.where} answered {shown} with HTTP {status} ({snippet!r}): "
                    "is JAEGER_URL the Jaeger query service (port 16686, with its base path)?"
                ) from None
            raise JaegerError(
                f"Jaeger at {self.where} answered {shown} with something that is not JSON "
                f"({snippet!r}): is JAEGER_URL the Jaeger query service (port 16686)?"
            ) from None
        errors = body.get("errors") if isinstance(body, dict) else None
        message = ""
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = self.context.redact(str(errors[0].get("msg", "")))[:200]
        if status >= 400:
            raise JaegerError(
                f"Jaeger at {self.where} answered {shown} with HTTP {status}"
                + (f": {message}" if message else "")
            )
        if not isinstance(body, dict) or "data" not in body:
            raise JaegerError(
                f"Jaeger at {self.where} answered {shown} with JSON that is not Jaeger's "
                '{"data": ...}: is JAEGER_URL the Jaeger query service (port 16686)?'
            )
        if body["data"] is None and message:
            raise JaegerError(f"Jaeger at {self.where} answered {shown} with an error: {message}")
        return body["data"]

    def _list(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        data = self._get(path, params)
        if data is None:
            return []
        if not isinstance(data, list):
            raise JaegerError(
                f"Jaeger at {self.where} answered {path.split('?')[0]} with data that is not "
                "a list: is JAEGER_URL the Jaeger query service (port 16686)?"
            )
        return data

    # ---- health

    def health(self) -> tuple[bool, str]:
        if not self.configured():
            return False, "JAEGER_URL is not set: set it to the Jaeger query service"
        try:
            listed = sorted({s for s in self._list("/api/services") if isinstance(s, str) and s})
        except JaegerError as exc:
            return False, str(exc)
        services = [s for s in listed if s not in self.cfg.exclude]
        if not services:
            return False, (
                f"Jaeger at {self.where} answers but lists no services to read: "
                "are the applications sending traces to it?"
            )
        shown = ", ".join(services[:5]) + (", ..." if len(services) > 5 else "")
        reason = f"Jaeger at {self.where} answers: {len(services)} services ({shown})"
        missing = [s for s in self.cfg.services if s not in listed]
        if missing:
            reason += f"; not listed (no traces yet?): {', '.join(missing)}"
        return True, self.context.redact(reason)

    def _services(self) -> list[str]:
        if self.cfg.services:
            return list(self.cfg.services)
        listed = self._list("/api/services")
        return sorted({s for s in listed if isinstance(s, str) and s and s not in self.cfg.exclude})

    def _operations(self, service: str) -> list[str]:
        listed = self._list(f"/api/services/{quote(service, safe='')}/operations")
        names = {o.get("name") if isinstance(o, dict) else o for o in listed}
        return sorted(n for n in names if isinstance(n, str))

    # ---- fetch

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        starts = list(windows(start, end, WINDOW))
        if not starts:
            return Fetch.no_data(start, "no whole 5-minute window in the range yet")
        last = starts[-1] + WINDOW
        try:
            services = self._services()
        except JaegerError as exc:
            return Fetch.error(str(exc))
        if not services:
            return Fetch.no_data(last, "Jaeger lists no services to read")
        try:
            known_ops, searches = self._read(services, starts)
        except JaegerError as exc:
            return Fetch.error(str(exc))
        collected = _Collected()
        for search in searches:
            collected.add(search.sample, sampled=True)
            collected.add(search.slow, sampled=False)
            if search.full:
                collected.full.add((search.service, search.w0))
        documents, vectors = self._documents(collected, starts, services, known_ops)
        reason = ""
        if collected.skipped:
            reason = f"skipped {collected.skipped} malformed spans or traces"
            log.warning("jaeger source %s: %s", self.name, reason)
        if not documents:
            return Fetch(status="no_data", watermark=last, reason=reason, items=collected.spans)
        return Fetch(
            status="ok",
            documents=documents,
            watermark=last,
            reason=reason,
            items=collected.spans,
            vectors_from=vectors,
        )

    def _read(
        self, services: list[str], starts: list[datetime]
    ) -> tuple[dict[str, list[str]], list[_Search]]:
        """Every service's operations and searches, ``concurrency`` requests at a time; the
        results in a fixed order (so documents do not depend on timing). The first service that
        fails fails the whole read, named."""
        self._http()  # built once, before the threads share it
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            ops = {s: pool.submit(self._operations, s) for s in services}
            searches = {
                (s, w0): pool.submit(self._search, s, w0) for s in services for w0 in starts
            }
            known: dict[str, list[str]] = {}
            found: list[_Search] = []
            try:
                for service in services:
                    try:
                        known[service] = ops[service].result()
                        found += [searches[(service, w0)].result() for w0 in starts]
                    except JaegerError as exc:
                        raise JaegerError(f"Jaeger service {service!r}: {exc}") from None
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        return known, found

    def _search(self, service: str, w0: datetime) -> _Search:
        """One service's traces in one window: the newest ``limit``; when that is all of them
        Jaeger would give, also those over the sample's slow quantile (``minDuration``)."""
        params: dict[str, Any] = {
            "service": service,
            "start": _us(w0),
            "end": _us(w0 + WINDOW),
            "limit": self.cfg.limit,
        }
        sample = self._list("/api/traces", params)
        if len(sample) < self.cfg.limit:
            return _Search(service, w0, sample)
        durations = [d for d in (_longest_us(t, service) for t in sample) if d is not None]
        floor_us = self.cfg.slow_floor.total_seconds() * 1_000_000
        threshold = max(floor_us, quantile(durations, self.cfg.slow_quantile) if durations else 0)
        params["minDuration"] = f"{int(threshold)}us"
        return _Search(service, w0, sample, self._list("/api/traces", params), full=True)

    # ---- documents

    def _documents(
        self,
        collected: _Collected,
        starts: list[datetime],
        services: list[str],
        known_ops: dict[str, list[str]],
    ) -> tuple[list[Document], list[str]]:
        by_window: dict[datetime, list[Trace]] = defaultdict(list)
        step = WINDOW.total_seconds()
        wanted = set(starts)
        for trace in collected.traces.values():
            w0 = datetime.fromtimestamp(trace.root.start.timestamp() // step * step, tz=UTC)
            if w0 in wanted:
                by_window[w0].append(trace)
        docs: list[tuple[Document, str]] = []
        for w0 in starts:
            traces = sorted(by_window.get(w0, []), key=lambda t: t.trace_id)
            if traces:
                docs += _Window(self, w0, traces, collected, services, known_ops).documents()
        return [d for d, _ in docs], [v for _, v in docs]

    def document(
        self,
        label: str,
        w0: datetime,
        service: str,
        operation: str,
        text: str,
        payload: dict[str, Any],
        host: str = "",
        severity: str = "info",
        key: str | None = None,
    ) -> Document:
        """A redacted ``trace_path`` document with an id stable across re-fetches: made of the
        label, the window and ``key`` (default: the service and operation)."""
        redact = self.context.redact
        service, operation, host = redact(service), redact(operation), redact(host)
        title = f"traces {label} {service} {operation}".strip()
        return Document(
            source="jaeger",
            kind="trace_path",
            ts=w0,
            service=service,
            host=host,
            severity=severity,
            title=title[:200],
            text=redact(text),
            payload=_redacted(payload, redact),
            id=content_id(
                self.name,
                "jaeger",
                label,
                w0.isoformat(),
                service if key is None else key,
                operation,
            ),
        )


def _redacted(value: Any, redact: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, redact) for v in value]
    return value


def _hosts(spans: Iterable[Span]) -> list[str]:
    return [h for h, _ in Counter(s.host for s in spans if s.host).most_common(2)]


def _detail(span: Span) -> str:
    """The statement or URL a span carries, shortened."""
    for key in STATEMENT_TAGS:
        if span.tags.get(key):
            return f" Query: {span.tags[key][:160]}"
    for key in URL_TAGS:
        if span.tags.get(key):
            return f" URL: {span.tags[key][:160]}"
    return ""


class _Window:
    """The documents of one window's traces."""

    def __init__(
        self,
        source: JaegerSource,
        w0: datetime,
        traces: list[Trace],
        collected: _Collected,
        services: list[str],
        known_ops: dict[str, list[str]],
    ) -> None:
        self.source, self.cfg, self.w0 = source, source.cfg, w0
        self.when = span_text(w0, w0 + WINDOW)
        self.traces, self.services, self.known_ops = traces, services, known_ops
        self.full = {s for s, w in collected.full if w == w0}
        self.sample = [t for t in traces if t.sampled]
        self.calls: dict[tuple[str, str], list[Span]] = defaultdict(list)
        for trace in self.sample:
            for span in trace.spans:
                self.calls[(span.service, span.operation)].append(span)
        roots: dict[tuple[str, str], list[float]] = defaultdict(list)
        for trace in self.sample:
            roots[(trace.root.service, trace.root.operation)].append(trace.root.duration_ms)
        self.p95 = {k: quantile(v, self.cfg.slow_quantile) for k, v in roots.items()}
        self.p50 = {k: quantile(v, 0.5) for k, v in roots.items()}
        self.root_count = {k: len(v) for k, v in roots.items()}

    def documents(self) -> list[tuple[Document, str]]:
        docs = self.service_docs()
        slow = [t for t in self.traces if self.is_slow(t)]
        docs += self.slow_docs(slow)
        docs += self.error_docs()
        if slow:
            docs.append(self.path_doc(max(slow, key=lambda t: t.root.duration_ms)))
        return docs

    @property
    def q(self) -> str:
        return f"p{self.cfg.slow_quantile * 100:g}"

    def is_slow(self, trace: Trace) -> bool:
        ms = trace.root.duration_ms
        if ms >= self.cfg.always_slow.total_seconds() * 1000:
            return True
        key = (trace.root.service, trace.root.operation)
        return (
            ms > self.p95.get(key, 0.0)
            and ms >= self.p50.get(key, 0.0) * self.cfg.slow_factor
            and ms >= self.cfg.slow_floor.total_seconds() * 1000
        )

    # (a) services and their operations
    def service_docs(self) -> list[tuple[Document, str]]:
        docs = []
        for service in self.services:
            ops = {op: spans for (svc, op), spans in self.calls.items() if svc == service}
            if ops:
                docs.append(self.service_doc(service, ops))
        return docs

    def service_doc(self, service: str, ops: dict[str, list[Span]]) -> tuple[Document, str]:
        busiest = sorted(ops.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        parts: list[str] = []
        numbers: dict[str, dict[str, float]] = {}
        for op, spans in busiest:
            durations = [s.duration_ms for s in spans]
            errors = sum(1 for s in spans if s.status == "error")
            p50, p95 = quantile(durations, 0.5), quantile(durations, 0.95)
            numbers[op] = {
                "calls": len(spans),
                "errors": errors,
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
            }
            if len(parts) < self.cfg.max_operations:
                failing = f", {errors} errors" if errors else ""
                parts.append(
                    f"{op} {len(spans)} calls p50 {ms_text(p50)} p95 {ms_text(p95)}{failing}"
                )
        more = len(busiest) - len(parts)
        text = f"{service} operations {self.when}: " + "; ".join(parts)
        text += f"; and {more} more operations." if more > 0 else "."
        if service in self.full:
            text += f" Jaeger returned its limit of {self.cfg.limit} traces: counts are a sample."
        hosts = _hosts(s for spans in ops.values() for s in spans)
        doc = self.source.document(
            "operations",
            self.w0,
            service,
            "",
            text,
            {
                "window_end": (self.w0 + WINDOW).isoformat(),
                "operations": numbers,
                "sampled": service in self.full,
            },
            host=hosts[0] if hosts else "",
        )
        names = self.known_ops.get(service) or sorted(ops)
        shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
        about = self.source.context.redact(
            f"{service} service operations, call counts and latency (traces): {shown}"
        )
        return doc, about

    # (b) slow traces, grouped by the span that dominates them
    def slow_docs(self, slow: list[Trace]) -> list[tuple[Document, str]]:
        groups: dict[tuple[str, str], list[tuple[Trace, Span]]] = defaultdict(list)
        for trace in slow:
            culprit = dominant(trace)
            groups[(culprit.service, culprit.operation)].append((trace, culprit))
        docs = []
        for (service, operation), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            doc = self.slow_doc(service, operation, items)
            docs.append((doc, doc.text))
        return docs

    def slow_doc(self, service: str, operation: str, items: list[tuple[Trace, Span]]) -> Document:
        items.sort(key=lambda i: -i[0].root.duration_ms)
        roots = Counter((t.root.service, t.root.operation) for t, _ in items)
        root_ms = [t.root.duration_ms for t, _ in items]
        self_ms = [self_time(c, t) for t, c in items]
        shares = [s / r for s, r in zip(self_ms, root_ms, strict=True) if r > 0]
        share = median(shares) if shares else 0.0
        p95s = {
            f"{svc} {op}": {
                "p95_ms": round(self.p95[(svc, op)], 1) if (svc, op) in self.p95 else None,
                "traces": self.root_count.get((svc, op), 0),
                "slow": n,
            }
            for (svc, op), n in roots.most_common()
        }
        against = "; ".join(
            f"{name} {self.q} {ms_text(v['p95_ms'])} over {v['traces']} traces"
            if v["p95_ms"] is not None
            else f"{name} (no sample for a {self.q})"
            for name, v in list(p95s.items())[:3]
        )
        hosts = _hosts(c for _, c in items)
        text = (
            f"Slow traces {self.when}: {len(items)} slow requests ({against}) took "
            f"{ms_text(median(root_ms))} median, {ms_text(max(root_ms))} at worst; most of "
            f"their time was in {service} {operation}"
            + (f" on {', '.join(hosts)}" if hosts else "")
            + f": {ms_text(median(self_ms))} median self time ({share:.0%} of the request)."
        )
        text += _detail(items[0][1])
        text += " Traces: " + ", ".join(t.trace_id for t, _ in items[:3]) + "."
        worst = max(root_ms)
        return self.source.document(
            "slow",
            self.w0,
            service,
            operation,
            text,
            {
                "window_end": (self.w0 + WINDOW).isoformat(),
                "service": service,
                "operation": operation,
                "slow": len(items),
                "root_operations": p95s,
                "median_ms": round(median(root_ms), 1),
                "max_ms": round(worst, 1),
                "self_ms": round(median(self_ms), 1),
                "trace_ids": [t.trace_id for t, _ in items[:5]],
            },
            host=hosts[0] if hosts else "",
            severity="warning",
        )

    # (c) error spans
    def error_docs(self) -> list[tuple[Document, str]]:
        groups: dict[tuple[str, str], list[tuple[Trace, Span]]] = defaultdict(list)
        for trace in self.traces:
            for span in trace.spans:
                if span.status == "error":
                    groups[(span.service, span.operation)].append((trace, span))
        docs = []
        for (service, operation), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            doc = self.error_doc(service, operation, items)
            docs.append((doc, doc.text))
        return docs

    def error_doc(self, service: str, operation: str, items: list[tuple[Trace, Span]]) -> Document:
        redact = self.source.context.redact
        messages = Counter(
            redact(_error_text(s))[:160] for _, s in items
        )  # redacted before grouping
        causes: Counter[str] = Counter()
        for trace, span in items:
            cause = root_cause(span, trace)
            if cause is not span:
                causes[f"{cause.service} {cause.operation}"] += 1
        calls = len(self.calls.get((service, operation), []))
        traces = len({t.trace_id for t, _ in items})
        hosts = _hosts(s for _, s in items)
        share = f" of {calls} calls" if calls else ""
        text = (
            f"Errors {self.when}: {service} {operation} failed {len(items)} times{share} in "
            f"{traces} traces" + (f" on {', '.join(hosts)}" if hosts else "") + ": "
        )
        text += "; ".join(f'"{m}" ({n}x)' for m, n in messages.most_common(3)) + "."
        if causes:
            text += " Propagated from failing " + ", ".join(
                f"{c} ({n}x)" for c, n in causes.most_common(2)
            )
            own = len(items) - sum(causes.values())
            text += f"; {own} started here." if own else "."
        else:
            text += " The errors start here (no failing child span)."
        text += _detail(items[0][1])
        return self.source.document(
            "errors",
            self.w0,
            service,
            operation,
            text,
            {
                "window_end": (self.w0 + WINDOW).isoformat(),
                "service": service,
                "operation": operation,
                "errors": len(items),
                "calls": calls,
                "messages": dict(messages.most_common(5)),
                "caused_by": dict(causes.most_common(5)),
                "trace_ids": sorted({t.trace_id for t, _ in items})[:5],
            },
            host=hosts[0] if hosts else "",
            severity="critical" if len(items) >= 20 else "warning",
        )

    # (d) the critical path of the slowest trace
    def path_doc(self, trace: Trace) -> tuple[Document, str]:
        path = critical_path(trace)
        hops = " → ".join(f"{s.service} {s.operation[:80]} {ms_text(s.duration_ms)}" for s in path)
        last = path[-1]
        root = trace.root
        text = (
            f"Critical path of the slowest trace {self.when} ({trace.trace_id}, {root.service} "
            f"{root.operation} {ms_text(root.duration_ms)}): {hops}. {last.service} "
            f"{last.operation} itself took {ms_text(self_time(last, trace))} of self time."
        )
        text += _detail(last)
        doc = self.source.document(
            "critical-path",
            self.w0,
            root.service,
            "",
            text,
            {
                "window_end": (self.w0 + WINDOW).isoformat(),
                "trace_id": trace.trace_id,
                "duration_ms": round(root.duration_ms, 1),
                "path": [
                    {"service": s.service, "operation": s.operation, "ms": round(s.duration_ms, 1)}
                    for s in path
                ],
            },
            host=last.host,
            severity="warning",
            key="",
        )
        return doc, doc.text


def _error_text(span: Span) -> str:
    if span.tags.get("error.message"):
        return span.tags["error.message"]
    for key in STATUS_TAGS:
        if span.tags.get(key):
            return f"HTTP {span.tags[key]}"
    return "error (no message)"
