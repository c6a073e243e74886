"""Prometheus: metric windows as documents, firing alerts and rule states, numeric frames for the
anomaly job and live answers.

Reads through prometheus-api-client (``PrometheusConnect``) on a ``requests`` session that carries
the configured basic auth or bearer token and TLS settings. Each configured query has a ``name``
(the metric name the rest of Vigil and the team's baselines use, e.g. ``latency_p95_ms``), a PromQL
expression, a unit, and the labels that name the host and the service. Several queries may share
a name (the node exporter's CPU and the demo world's ``cpu_usage`` both feed ``cpu_usage``).

``fetch(start, end)`` runs range queries over the whole windows of ``[start, end)`` plus an hour of
history (and the same windows a day earlier), in chunks of at most ``MAX_POINTS`` points per
series, and turns them into window documents (``knowledge.metricwindows``), plus one ``alert``
document per firing or pending alert and per alerting rule.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import requests
import urllib3
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from pydantic import Field, SecretStr, field_validator, model_validator
from urllib3.util.retry import Retry

from knowledge.config import StrictModel
from knowledge.documents import Document, content_id
from knowledge.errors import QueryError, SourceUnavailable
from knowledge.metricwindows import DAY, HISTORY, WINDOW, window_documents
from knowledge.sources.base import Duration, Fetch, Source, SourceConfig, SourceContext, one_line
from knowledge.summarise import windows
from knowledge.telemetry import LogRecord, MetricSeries

log = logging.getLogger(__name__)

MAX_POINTS = 10_000
"""Points per series in one range query (Prometheus refuses more than 11,000)."""


# ----------------------------------------------------------------------------- settings


class TLSConfig(StrictModel):
    ca_file: str | None = None
    """A CA bundle that signed Prometheus' certificate (else the system's)."""
    verify: bool = True
    """``false`` skips certificate verification (test setups only)."""
    cert_file: str | None = None
    """A client certificate for mutual TLS, with ``key_file``."""
    key_file: str | None = None


class PromQuery(StrictModel):
    """One PromQL expression whose series feed the metric ``name``."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z_:][A-Za-z0-9_:.-]*$")
    promql: str = Field(min_length=1)
    unit: str = ""
    host_label: str = "instance"
    service_label: str = "job"


def _q(name: str, promql: str, unit: str = "", demo: bool = False) -> PromQuery:
    if demo:
        return PromQuery(
            name=name, promql=promql, unit=unit, host_label="host", service_label="service"
        )
    return PromQuery(name=name, promql=promql, unit=unit)


_BY = "by (job, instance)"
_CPU = "node_cpu_seconds_total"
_FS = 'fstype!~"tmpfs|overlay|squashfs|ramfs"'

DEFAULT_QUERIES: tuple[PromQuery, ...] = (
    # the demo world's exporter (knowledge.sources.exporter): labels service and host
    *(
        _q(name, name, unit, demo=True)
        for name, unit in (
            ("cpu_usage", "%"),
            ("memory_usage", "%"),
            ("disk_usage", "%"),
            ("load_average", ""),
            ("java_heap_usage", "%"),
            ("java_gc_time", "%"),
            ("spectrum_active_jobs", "jobs"),
            ("vemkd_process_count", "processes"),
            ("request_rate", "req/s"),
            ("latency_p95_ms", "ms"),
            ("error_rate", "%"),
            ("db_pool_usage", "%"),
        )
    ),
    # node exporter
    _q(
        "cpu_usage", f'100 * (1 - avg {_BY} (rate(node_cpu_seconds_total{{mode="idle"}}[5m])))', "%"
    ),
    _q(
        "memory_usage",
        "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
        "%",
    ),
    _q(
        "disk_usage",
        f"100 * max {_BY} (1 - node_filesystem_avail_bytes{{{_FS}}} "
        f"/ node_filesystem_size_bytes{{{_FS}}})",
        "%",
    ),
    _q("load_average", "node_load1"),
    _q(
        "network_receive",
        f'sum {_BY} (rate(node_network_receive_bytes_total{{device!="lo"}}[5m]))',
        "B/s",
    ),
    _q(
        "network_transmit",
        f'sum {_BY} (rate(node_network_transmit_bytes_total{{device!="lo"}}[5m]))',
        "B/s",
    ),
    # JVM: Micrometer names, then the JMX exporter's
    _q(
        "java_heap_usage",
        f'100 * sum {_BY} (jvm_memory_used_bytes{{area="heap"}}) '
        f'/ sum {_BY} (jvm_memory_max_bytes{{area="heap"}} > 0) '
        f'or 100 * sum {_BY} (jvm_memory_bytes_used{{area="heap"}}) '
        f'/ sum {_BY} (jvm_memory_bytes_max{{area="heap"}} > 0)',
        "%",
    ),
    _q(
        "java_gc_time",
        f"100 * sum {_BY} (rate(jvm_gc_pause_seconds_sum[5m])) "
        f"or 100 * sum {_BY} (rate(jvm_gc_collection_seconds_sum[5m]))",
        "%",
    ),
    # requests: Prometheus client conventions, then Micrometer's
    _q(
        "request_rate",
        f"sum {_BY} (rate(http_requests_total[5m])) "
        f"or sum {_BY} (rate(http_server_requests_seconds_count[5m]))",
        "req/s",
    ),
    _q(
        "latency_p95_ms",
        "1000 * histogram_quantile(0.95, sum by (job, instance, le) "
        "(rate(http_request_duration_seconds_bucket[5m]))) "
        "or 1000 * histogram_quantile(0.95, sum by (job, instance, le) "
        "(rate(http_server_requests_seconds_bucket[5m])))",
        "ms",
    ),
    _q(
        "error_rate",
        f'100 * sum {_BY} (rate(http_requests_total{{status=~"5.."}}[5m])) '
        f"/ sum {_BY} (rate(http_requests_total[5m]) > 0) "
        f'or 100 * sum {_BY} (rate(http_server_requests_seconds_count{{status=~"5.."}}[5m])) '
        f"/ sum {_BY} (rate(http_server_requests_seconds_count[5m]) > 0)",
        "%",
    ),
)


class PrometheusConfig(SourceConfig):
    """``sources.prometheus`` in ai-config.yml; ``PROMETHEUS_URL`` and friends fill in the
    endpoint and secrets."""

    url: str | None = None
    """``PROMETHEUS_URL`` from the environment fills this in."""
    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None
    tls: TLSConfig = TLSConfig()
    step: Duration = timedelta(seconds=60)
    """Resolution of range queries; window statistics are computed from these points."""
    queries: tuple[PromQuery, ...] = DEFAULT_QUERIES
    alerts: bool = True
    """Also ingest firing alerts and alerting rule states."""
    day_before: bool = True
    """Also fetch the same windows a day earlier, for the comparison."""
    parallel: int = Field(default=4, ge=1, le=32)
    """Range queries in flight at once."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PrometheusConfig:
        if self.bearer_token is not None and (self.username or self.password is not None):
            raise ValueError("set either username/password or bearer_token, not both")
        if (self.password is not None) and not self.username:
            raise ValueError("a password needs a username (PROMETHEUS_USERNAME)")
        if bool(self.tls.cert_file) != bool(self.tls.key_file):
            raise ValueError("tls.cert_file and tls.key_file go together")
        step = self.step.total_seconds()
        if step < 1 or WINDOW.total_seconds() % step:
            raise ValueError("step must be a whole divisor of 5 minutes (e.g. 15s, 30s, 60s)")
        return self


# ----------------------------------------------------------------------------- the source


class PrometheusSource(Source):
    """Metric windows, alerts and rule states from Prometheus; also a ``TelemetryReader`` for
    metrics (``query_range``) and a frame maker for the anomaly job (``frame``)."""

    kind = "prometheus"
    Config = PrometheusConfig

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self.settings: PrometheusConfig = (
            config
            if isinstance(config, PrometheusConfig)
            else PrometheusConfig.model_validate(config.model_dump())
        )
        self._client: PrometheusConnect | None = None
        self._lock = threading.Lock()
        self._hosts: tuple[float, list[tuple[str, str]]] | None = None

    # ------------------------------------------------------------------ plumbing
    def configured(self) -> bool:
        return bool(self.settings.url)

    @property
    def url(self) -> str:
        if not self.settings.url:
            raise SourceUnavailable("PROMETHEUS_URL is not set")
        return self.settings.url

    @property
    def request_timeout(self) -> float:
        return max(1.0, min(self.settings.timeout.total_seconds(), 60.0))

    def _headers(self) -> dict[str, str]:
        token = self.settings.bearer_token
        return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}

    def _auth(self) -> tuple[str, str] | None:
        s = self.settings
        if not s.username:
            return None
        return (s.username, s.password.get_secret_value() if s.password else "")

    def client(self) -> PrometheusConnect:
        """The prometheus-api-client connection (built once)."""
        with self._lock:
            if self._client is None:
                tls = self.settings.tls
                session = requests.Session()
                session.verify = tls.ca_file or tls.verify
                if not tls.verify:
                    # an explicit choice in config: say it once, not at every request
                    log.warning("prometheus %s: TLS certificates are not verified", self.name)
                    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
                if tls.cert_file and tls.key_file:
                    session.cert = (tls.cert_file, tls.key_file)
                retry = Retry(
                    total=2, connect=1, read=1, status=2, backoff_factor=0.2,
                    status_forcelist=(502, 503, 504), allowed_methods=("GET",),
                )  # fmt: skip
                self._client = PrometheusConnect(
                    url=self.url,
                    headers=self._headers(),
                    disable_ssl=not tls.verify,
                    retry=retry,
                    auth=self._auth(),
                    session=session,
                    timeout=self.request_timeout,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client._session.close()
                self._client = None

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """``data`` of a JSON API answer at ``path`` (same session, auth and TLS as the client)."""
        client = self.client()
        response = client._session.get(
            f"{self.url}{path}",
            params=params,
            headers=client.headers,
            auth=client.auth,
            verify=client._session.verify,  # explicit: REQUESTS_CA_BUNDLE would win otherwise
            cert=client._session.cert,
            timeout=self.request_timeout,
        )
        if response.status_code != 200:
            raise QueryError(_http_problem(path, response.status_code, response.content))
        try:
            body = response.json()
        except ValueError:
            raise QueryError(f"{path} answered with something that is not JSON") from None
        if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
            raise QueryError(f"{path} answered JSON without status success and data")
        return body["data"]

    def _range(self, promql: str, start: datetime, end: datetime, step: float) -> list[Any]:
        try:
            result = self.client().custom_query_range(promql, start, end, f"{step:g}s")
        except PrometheusApiClientException as exc:
            raise QueryError(_client_problem(str(exc))) from None
        except (ValueError, KeyError, TypeError) as exc:  # non-JSON, or no data.result
            raise QueryError(f"malformed query_range answer ({type(exc).__name__})") from None
        if not isinstance(result, list):
            raise QueryError("malformed query_range answer (result is not a list)")
        return result

    # ------------------------------------------------------------------ health
    def health(self) -> tuple[bool, str]:
        if not self.settings.url:
            return False, "PROMETHEUS_URL is not set"
        try:
            info = self._get("/api/v1/status/buildinfo")
        except requests.RequestException as exc:
            return False, _connection_problem(self.url, exc)
        except QueryError as exc:
            return False, f"Prometheus at {self.url}: {exc}"
        version = info.get("version", "?") if isinstance(info, dict) else "?"
        names = len({q.name for q in self.settings.queries})
        return True, f"Prometheus {version} at {self.url} ({names} metrics configured)"

    # ------------------------------------------------------------------ fetch
    def fetch(self, start: datetime, end: datetime) -> Fetch:
        start, end = _utc(start), _utc(end)
        starts = list(windows(start, end, WINDOW))
        if not starts:
            return Fetch.no_data(None, "less than one whole 5-minute window in the range")
        watermark = starts[-1] + WINDOW
        docs: list[Document] = []
        items = 0
        try:
            for chunk in self._chunks(starts):
                got, count = self._fetch_chunk(chunk[0], chunk[-1] + WINDOW)
                docs.extend(got)
                items += count
        except requests.RequestException as exc:
            return Fetch.error(_connection_problem(self.url, exc))
        except (QueryError, SourceUnavailable) as exc:
            return Fetch.error(str(exc))
        reason = ""
        if self.settings.alerts:
            try:
                docs.extend(self.alert_documents(datetime.now(UTC)))
            except (requests.RequestException, QueryError) as exc:
                reason = f"alerts and rules not read: {one_line(exc)}"
                log.warning("prometheus %s: %s", self.name, reason)
        if not docs:
            return Fetch.no_data(watermark, reason or "no series for any configured query")
        return Fetch(status="ok", documents=docs, watermark=watermark, items=items, reason=reason)

    def _chunks(self, starts: list[datetime]) -> Iterable[list[datetime]]:
        step = self.settings.step.total_seconds()
        per = max(1, int((MAX_POINTS * step - HISTORY.total_seconds()) // WINDOW.total_seconds()))
        per = min(per, int(timedelta(hours=6) / WINDOW))
        for i in range(0, len(starts), per):
            yield starts[i : i + per]

    def _fetch_chunk(self, w0: datetime, w1: datetime) -> tuple[list[Document], int]:
        series = self.series_all(w0 - HISTORY, w1)
        if not series:
            return [], 0
        before: list[MetricSeries] = []
        if self.settings.day_before:
            answered = {s.metric for s in series}
            before = self.series_all(w0 - DAY, w1 - DAY, only=answered)
        docs = window_documents(
            series,
            w0,
            w1,
            self.context.analysis,
            self.context.redact,
            source=self.kind,
            name=self.name,
            day_before=before,
        )
        return docs, sum(len(s.values) for s in series)

    def series_all(
        self, start: datetime, end: datetime, only: set[str] | None = None, step: float = 0
    ) -> list[MetricSeries]:
        """Every configured query over ``[start, end)`` (``only``: these names), in parallel."""
        queries = [q for q in self.settings.queries if only is None or q.name in only]
        step = step or self.settings.step.total_seconds()
        last = end - timedelta(seconds=1)

        def one(query: PromQuery) -> list[MetricSeries]:
            try:
                raw = self._range(query.promql, start, last, step)
            except QueryError as exc:
                raise QueryError(f"query {query.name!r} failed: {exc}") from None
            return to_series(query, raw)

        if len(queries) <= 1 or self.settings.parallel == 1:
            results = [one(q) for q in queries]
        else:
            with ThreadPoolExecutor(min(self.settings.parallel, len(queries))) as pool:
                results = list(pool.map(one, queries))
        return [s for group in results for s in group]

    # ------------------------------------------------------------------ alerts and rules
    def alert_documents(self, now: datetime) -> list[Document]:
        """Firing and pending alerts, and every alerting rule with its state."""
        alerts = self._get("/api/v1/alerts")
        rules = self._get("/api/v1/rules", {"type": "alert"})
        if not isinstance(alerts, dict) or not isinstance(alerts.get("alerts"), list):
            raise QueryError("/api/v1/alerts answered without a list of alerts")
        if not isinstance(rules, dict) or not isinstance(rules.get("groups"), list):
            raise QueryError("/api/v1/rules answered without a list of groups")
        clean = self.context.redact
        docs = [
            d
            for a in alerts["alerts"]
            if isinstance(a, dict) and (d := self._alert_doc(a, now, clean)) is not None
        ]
        for group in rules["groups"]:
            if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
                continue
            for rule in group["rules"]:
                if isinstance(rule, dict) and rule.get("type", "alerting") == "alerting":
                    docs.append(self._rule_doc(str(group.get("name", "")), rule, now, clean))
        return docs

    def _alert_doc(
        self, alert: dict[str, Any], now: datetime, clean: Callable[[str], str]
    ) -> Document | None:
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        notes = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
        name = labels.get("alertname", "")
        if not name:
            return None
        state = str(alert.get("state", "firing"))
        since = _parse_time(alert.get("activeAt")) or now
        service = labels.get("service") or labels.get("job", "")
        host = labels.get("host") or labels.get("instance", "")
        shown = {k: v for k, v in sorted(labels.items()) if k != "alertname"}
        text = f"Prometheus alert {name} {state} since {since:%H:%M} UTC on {since:%Y-%m-%d}"
        if host or service:
            text += f" on {host or service}" + (f" ({service})" if host and service else "")
        text += "."
        for key in ("summary", "description", "message"):
            if notes.get(key):
                text += f" {notes[key].strip()}"
                text += "" if text.endswith(".") else "."
        value = _number(alert.get("value"))
        if value is not None:
            text += f" Value {value:g}."
        if shown:
            text += " Labels: " + ", ".join(f"{k}={v}" for k, v in shown.items()) + "."
        fingerprint = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return Document(
            id=content_id(self.name, "alert", fingerprint, since.isoformat()),
            source=self.kind,
            kind="alert",
            ts=since,
            service=clean(service),
            host=clean(host),
            severity=_severity(labels.get("severity", ""), state),
            title=f"alert {name}",
            text=clean(text),
            payload={
                "alertname": name,
                "state": state,
                "active_at": since.isoformat(),
                "value": value,
                "labels": {k: clean(v) for k, v in labels.items()},
                "annotations": {k: clean(v) for k, v in notes.items()},
                "seen_at": now.isoformat(),
            },
        )

    def _rule_doc(
        self, group: str, rule: dict[str, Any], now: datetime, clean: Callable[[str], str]
    ) -> Document:
        name = str(rule.get("name", ""))
        state = str(rule.get("state", "inactive"))
        health = str(rule.get("health", "unknown"))
        labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
        active = rule.get("alerts") if isinstance(rule.get("alerts"), list) else []
        duration = _number(rule.get("duration")) or 0
        text = (
            f"Prometheus alert rule {name} (group {group}) is {state} as of {now:%H:%M} UTC on "
            f"{now:%Y-%m-%d}: it fires when `{rule.get('query', '')}` holds"
            + (f" for {duration:g}s" if duration else "")
            + f"; {len(active or [])} active alerts; rule health {health}"
        )
        if rule.get("lastError"):
            text += f" (last error: {rule['lastError']})"
        summary = (rule.get("annotations") or {}).get("summary")
        text += f". {summary}" if summary else "."
        return Document(
            id=content_id(self.name, "alert-rule", group, name),
            source=self.kind,
            kind="alert",
            ts=now,
            service=clean(labels.get("service", "")),
            severity=_severity(labels.get("severity", ""), state)
            if state != "inactive"
            else "info",
            title=f"alert rule {name}",
            text=clean(text),
            payload={
                "rule": name,
                "group": group,
                "state": state,
                "health": health,
                "query": clean(str(rule.get("query", ""))),
                "duration_s": duration,
                "active_alerts": len(active or []),
                "labels": {k: clean(v) for k, v in labels.items()},
            },
        )

    # ------------------------------------------------------------------ TelemetryReader
    def now(self) -> datetime:
        return datetime.now(UTC)

    def metric_names(self) -> list[str]:
        return list(dict.fromkeys(q.name for q in self.settings.queries))

    def unit(self, metric: str) -> str:
        return next((q.unit for q in self.settings.queries if q.name == metric), "")

    def hosts(self) -> list[tuple[str, str]]:
        """``(service, host)`` pairs with a series in the last 10 minutes (cached a minute)."""
        cached = self._hosts
        if cached is not None and time.monotonic() - cached[0] < 60:
            return list(cached[1])
        # up to a little past now (query times are rounded to the second); the last point of
        # a range query is start + k * step, so start is counted back from there
        end = self.now() + timedelta(seconds=2)
        found = self.series_all(end - timedelta(minutes=10), end + timedelta(seconds=1), step=60)
        pairs = sorted({(s.service, s.host) for s in found if s.host})
        self._hosts = (time.monotonic(), pairs)
        return list(pairs)

    def query_range(
        self,
        metric: str,
        start: datetime,
        end: datetime,
        step_s: int = 60,
        service: str | None = None,
        host: str | None = None,
    ) -> list[MetricSeries]:
        """Series of ``metric`` (a query name) over ``[start, end]``, labelled with ``service``
        and ``host``. Raises ``SourceUnavailable`` or ``QueryError``."""
        if metric not in self.metric_names():
            return []
        try:
            found = self.series_all(
                _utc(start), _utc(end) + timedelta(seconds=1), only={metric}, step=step_s
            )
        except requests.RequestException as exc:
            raise SourceUnavailable(_connection_problem(self.url, exc)) from None
        return [
            s
            for s in found
            if (service is None or s.service == service) and (host is None or s.host == host)
        ]

    def logs(
        self,
        start: datetime,
        end: datetime,
        service: str | None = None,
        host: str | None = None,
    ) -> list[LogRecord]:
        return []

    def frame(self, start: datetime, end: datetime, step_s: int = 60) -> pd.DataFrame:
        """One row per (timestamp, service, host), one column per metric name (the largest value
        where several series of one host share a name, e.g. disks). Columns ``ts`` (UTC),
        ``service``, ``host``, then the metric names in configuration order."""
        names = self.metric_names()
        try:
            found = self.series_all(_utc(start), _utc(end) + timedelta(seconds=1), step=step_s)
        except requests.RequestException as exc:
            raise SourceUnavailable(_connection_problem(self.url, exc)) from None
        return series_frame(found, names)


# ----------------------------------------------------------------------------- helpers


def to_series(query: PromQuery, result: Sequence[Any]) -> list[MetricSeries]:
    """``MetricSeries`` from a ``query_range`` result (matrix); NaN, Inf and unreadable points
    are skipped. Labels get ``service`` and ``host`` from the query's labels."""
    out = []
    for item in result:
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            raise QueryError(f"malformed series in the answer to {query.name!r}")
        raw = item.get("metric") or {}
        if not isinstance(raw, dict):
            raise QueryError(f"malformed labels in the answer to {query.name!r}")
        labels = {str(k): str(v) for k, v in raw.items() if k != "__name__"}
        labels["service"] = labels.get(query.service_label, "")
        labels["host"] = labels.get(query.host_label, "")
        stamps, values = [], []
        for point in item["values"]:
            pair = _point(point)
            if pair is not None:
                stamps.append(pair[0])
                values.append(pair[1])
        if values:
            out.append(MetricSeries(query.name, labels, stamps, values, query.unit))
    return out


def _point(point: Any) -> tuple[datetime, float] | None:
    if not isinstance(point, list | tuple) or len(point) != 2:
        return None
    t, v = _number(point[0]), _number(point[1])
    if t is None or v is None:
        return None
    return datetime.fromtimestamp(t, UTC), v


def series_frame(series: Iterable[MetricSeries], names: Sequence[str]) -> pd.DataFrame:
    rows = [
        (t, s.service, s.host, s.metric, v)
        for s in series
        for t, v in zip(s.timestamps, s.values, strict=True)
    ]
    columns = ["ts", "service", "host", *names]
    if not rows:
        return pd.DataFrame(columns=columns)
    long = pd.DataFrame(rows, columns=["ts", "service", "host", "metric", "value"])
    wide = long.pivot_table(
        index=["ts", "service", "host"], columns="metric", values="value", aggfunc="max"
    )
    wide = wide.reindex(columns=list(names)).reset_index()
    wide.columns.name = None
    return wide.sort_values(["ts", "service", "host"], ignore_index=True)[columns]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _severity(label: str, state: str) -> str:
    label = label.lower()
    if label in ("critical", "page", "error", "high"):
        return "critical"
    if label in ("info", "none", "low") or state == "pending":
        return "info"
    return "warning"


def _http_problem(path: str, status: int, content: bytes) -> str:
    if status in (401, 403):
        return (
            f"{path} refused the credentials (HTTP {status}): check PROMETHEUS_USERNAME and "
            "PROMETHEUS_PASSWORD, or PROMETHEUS_BEARER_TOKEN"
        )
    if status == 404:
        return f"{path} not found (HTTP 404): is PROMETHEUS_URL the Prometheus base URL?"
    return f"{path} answered HTTP {status}: {_error_text(content)}"


def _client_problem(message: str) -> str:
    """prometheus-api-client's ``HTTP Status Code 400 (b'{...}')`` as one readable line."""
    match = re.match(r"HTTP Status Code (\d+) \((.*)\)$", message, re.S)
    if not match:
        return message.splitlines()[0][:300] if message else "query failed"
    status = int(match.group(1))
    try:
        content = ast.literal_eval(match.group(2))
    except (ValueError, SyntaxError):
        content = match.group(2).encode()
    problem = _http_problem("/api/v1/query_range", status, content)
    if status == 400:
        try:
            error = json.loads(content).get("error", "")
        except (ValueError, AttributeError):
            error = ""
        return (
            f"Prometheus rejected the PromQL ({error or 'HTTP 400'}): "
            "fix sources.prometheus.queries"
        )
    return problem


def _error_text(content: bytes) -> str:
    try:
        body = json.loads(content)
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])[:200]
    except ValueError:
        pass
    text = content.decode("utf-8", "replace").strip().splitlines()
    return text[0][:200] if text else "(empty body)"


def _connection_problem(url: str, exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return (
            f"TLS to Prometheus at {url} failed ({_tail(text)}): set "
            "sources.prometheus.tls.ca_file (or tls.verify: false for a test setup)"
        )
    if isinstance(exc, requests.Timeout):
        return f"Prometheus at {url} did not answer in time: is it overloaded or the URL wrong?"
    if isinstance(exc, requests.ConnectionError):
        why = "connection refused" if "refused" in text.lower() else _tail(text)
        return (
            f"cannot reach Prometheus at {url} ({why}): is PROMETHEUS_URL right and Prometheus up?"
        )
    return f"Prometheus at {url}: {one_line(exc)}"


def _tail(text: str) -> str:
    """The innermost reason of a requests/urllib3 error chain, shortened."""
    found = re.findall(r"\] ([^\]')]+)|: ([^:()']+)'?\)+$", text)
    for a, b in reversed(found):
        if a or b:
            return (a or b).strip()[:120]
    return text[:120]
