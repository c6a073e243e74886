"""History import from OpenMetrics or Prometheus text files: samples into ``MetricSeries``, and
the same window documents the Prometheus source makes.

A file that ends with ``# EOF`` is read as OpenMetrics (timestamps in seconds), any other as the
Prometheus text format (timestamps in milliseconds); ``.gz`` files are read compressed. Samples
without a timestamp (a plain ``/metrics`` dump) are put at ``default_time`` (the file's
modification time unless given).

Counters become per-second rates named ``rate(<name>)`` (resets handled), histogram buckets are
left out (their ``_sum`` and ``_count`` become rates), gauges and summary quantiles stay as they
are. The host is the ``host`` label, else ``instance``; the service ``service``, else ``job``.
"""

from __future__ import annotations

import gzip
import io
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TextIO

from prometheus_client.openmetrics.parser import (
    text_fd_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_fd_to_metric_families as prometheus_families
from pydantic import Field

from knowledge.demo.topology import METRICS as DEMO_METRICS
from knowledge.documents import Document
from knowledge.errors import QueryError
from knowledge.metricwindows import DAY, HISTORY, WINDOW, window_documents
from knowledge.sources.base import Fetch, Source, SourceConfig, SourceContext
from knowledge.summarise import windows
from knowledge.telemetry import LogRecord, MetricSeries

HOST_LABELS = ("host", "instance")
SERVICE_LABELS = ("service", "job")
_SUFFIX_UNITS = (
    ("_milliseconds", "ms"),
    ("_ms", "ms"),
    ("_seconds", "s"),
    ("_bytes", "B"),
    ("_percent", "%"),
    ("_ratio", ""),
)
_OM_UNITS = {"milliseconds": "ms", "seconds": "s", "bytes": "B", "percent": "%"}

Key = tuple[str, tuple[tuple[str, str], ...]]
_PARSE_ERRORS = (ValueError, IndexError, KeyError, TypeError, UnicodeDecodeError)


def _open(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open(encoding="utf-8")


def _is_openmetrics(path: Path) -> bool:
    """Whether the file ends with the ``# EOF`` line OpenMetrics requires."""
    if path.suffix == ".gz":
        with _open(path) as fh:
            last = ""
            for line in fh:
                if line.strip():
                    last = line.strip()
            return last == "# EOF"
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 64))
        return fh.read().strip().endswith(b"# EOF")


def unit_of(name: str, declared: str = "") -> str:
    if declared:
        return _OM_UNITS.get(declared, declared)
    if name in DEMO_METRICS:
        return DEMO_METRICS[name].unit
    return next((unit for suffix, unit in _SUFFIX_UNITS if name.endswith(suffix)), "")


def read_series(
    path: str | Path,
    default_time: datetime | None = None,
    host_labels: Sequence[str] = HOST_LABELS,
    service_labels: Sequence[str] = SERVICE_LABELS,
) -> list[MetricSeries]:
    """Every series in the file, sorted by time. Raises ``QueryError`` with the file and the
    parser's complaint when the file is not valid OpenMetrics / Prometheus text."""
    path = Path(path)
    when = default_time or datetime.fromtimestamp(path.stat().st_mtime, UTC)
    parsers = [prometheus_families]
    if _is_openmetrics(path):  # many exporters write "# EOF" without being strict OpenMetrics
        parsers.insert(0, openmetrics_families)
    problem: Exception | None = None
    for parse in parsers:
        points: dict[Key, list[tuple[float, float]]] = defaultdict(list)
        kinds: dict[str, str] = {}
        units: dict[str, str] = {}
        try:
            with _open(path) as fh:
                for family in parse(fh):
                    _collect(family, when.timestamp(), points, kinds, units)
        except _PARSE_ERRORS as exc:
            problem = problem or exc
            continue
        break
    else:
        raise QueryError(f"{path}: not valid OpenMetrics or Prometheus text ({problem})")
    out = []
    for (name, labels), pairs in points.items():
        pairs.sort()
        if kinds.get(name) == "counter":
            series = _rate(name, dict(labels), pairs, host_labels, service_labels)
        else:
            series = _series(name, dict(labels), pairs, units.get(name, ""), host_labels,
                             service_labels)  # fmt: skip
        if series is not None:
            out.append(series)
    return out


def _collect(
    family: Any,
    default_ts: float,
    points: dict[Key, list[tuple[float, float]]],
    kinds: dict[str, str],
    units: dict[str, str],
) -> None:
    for sample in family.samples:
        name = sample.name
        if family.type in ("histogram", "gaugehistogram") and name.endswith(("_bucket", "_gcount")):
            continue
        if name.endswith("_created"):
            continue
        counter = family.type == "counter" or (
            family.type in ("histogram", "summary") and name.endswith(("_sum", "_count"))
        )
        kinds[name] = "counter" if counter else "gauge"
        units[name] = getattr(family, "unit", "") or ""
        ts = float(sample.timestamp) if sample.timestamp is not None else default_ts
        value = float(sample.value)
        if math.isfinite(value) and math.isfinite(ts):
            points[(name, tuple(sorted(sample.labels.items())))].append((ts, value))


def _labelled(
    labels: dict[str, str], host_labels: Sequence[str], service_labels: Sequence[str]
) -> dict[str, str]:
    out = dict(labels)
    out["host"] = next((labels[k] for k in host_labels if labels.get(k)), "")
    out["service"] = next((labels[k] for k in service_labels if labels.get(k)), "")
    return out


def _series(
    name: str,
    labels: dict[str, str],
    pairs: list[tuple[float, float]],
    unit: str,
    host_labels: Sequence[str],
    service_labels: Sequence[str],
) -> MetricSeries | None:
    if not pairs:
        return None
    return MetricSeries(
        name,
        _labelled(labels, host_labels, service_labels),
        [datetime.fromtimestamp(t, UTC) for t, _ in pairs],
        [v for _, v in pairs],
        unit_of(name, unit),
    )


def _rate(
    name: str,
    labels: dict[str, str],
    pairs: list[tuple[float, float]],
    host_labels: Sequence[str],
    service_labels: Sequence[str],
) -> MetricSeries | None:
    """Per-second increase between consecutive samples; a drop is a counter reset."""
    stamps, values = [], []
    for (t0, v0), (t1, v1) in itertools.pairwise(pairs):
        if t1 <= t0:
            continue
        increase = v1 - v0 if v1 >= v0 else v1
        stamps.append(datetime.fromtimestamp(t1, UTC))
        values.append(increase / (t1 - t0))
    if not values:
        return None
    return MetricSeries(
        f"rate({name})", _labelled(labels, host_labels, service_labels), stamps, values, "/s"
    )


# ----------------------------------------------------------------------------- reading history


class OpenMetricsHistory:
    """Series loaded from files, read like live telemetry (a ``TelemetryReader``)."""

    def __init__(self, series: Iterable[MetricSeries]) -> None:
        self.by_metric: dict[str, list[MetricSeries]] = defaultdict(list)
        for s in series:
            self.by_metric[s.metric].append(s)

    @classmethod
    def from_files(
        cls, paths: Iterable[str | Path], default_time: datetime | None = None
    ) -> OpenMetricsHistory:
        return cls(s for p in expand(paths) for s in read_series(p, default_time))

    def all_series(self) -> Iterator[MetricSeries]:
        for group in self.by_metric.values():
            yield from group

    def span(self) -> tuple[datetime, datetime] | None:
        """The first and last sample time, or ``None`` when empty."""
        stamps = [t for s in self.all_series() for t in (s.timestamps[0], s.timestamps[-1])]
        return (min(stamps), max(stamps)) if stamps else None

    def now(self) -> datetime:
        span = self.span()
        return span[1] if span else datetime.now(UTC)

    def hosts(self) -> list[tuple[str, str]]:
        return sorted({(s.service, s.host) for s in self.all_series() if s.host})

    def metric_names(self) -> list[str]:
        return sorted(self.by_metric)

    def unit(self, metric: str) -> str:
        group = self.by_metric.get(metric)
        return group[0].unit if group else ""

    def query_range(
        self,
        metric: str,
        start: datetime,
        end: datetime,
        step_s: int = 60,
        service: str | None = None,
        host: str | None = None,
    ) -> list[MetricSeries]:
        """The raw samples of ``metric`` in ``[start, end]`` (``step_s`` is not applied)."""
        out = []
        for s in self.by_metric.get(metric, []):
            if (service is not None and s.service != service) or (
                host is not None and s.host != host
            ):
                continue
            pairs = [
                (t, v) for t, v in zip(s.timestamps, s.values, strict=True) if start <= t <= end
            ]
            if pairs:
                out.append(
                    MetricSeries(
                        s.metric, s.labels, [t for t, _ in pairs], [v for _, v in pairs], s.unit
                    )
                )
        return out

    def query_range_all(self, start: datetime, end: datetime) -> list[MetricSeries]:
        """Every series over ``[start, end]``."""
        return [s for m in self.by_metric for s in self.query_range(m, start, end)]

    def logs(
        self, start: datetime, end: datetime, service: str | None = None, host: str | None = None
    ) -> list[LogRecord]:
        return []

    def documents(
        self,
        start: datetime,
        end: datetime,
        context: SourceContext,
        window: timedelta = WINDOW,
    ) -> list[Document]:
        """The window documents of ``[start, end)``, as ``PrometheusSource.fetch`` makes them."""
        lo = start - HISTORY
        series = self.query_range_all(lo, end)
        before = self.query_range_all(start - DAY, end - DAY)
        return window_documents(
            series,
            start,
            end,
            context.analysis,
            context.redact,
            source="prometheus",
            name=context.name,
            day_before=before,
            window=window,
        )


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and the ``*.prom``, ``*.om``, ``*.txt`` (and ``.gz``) files in folders."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and re.search(r"\.(prom|om|openmetrics|txt)(\.gz)?$", p.name)
                )
            )
        else:
            out.extend(sorted(Path(p) for p in path.parent.glob(path.name)) or [path])
    return out


class OpenMetricsConfig(SourceConfig):
    """History files to import: ``paths`` are files, folders or globs."""

    paths: tuple[str, ...] = Field(default=(), min_length=0)


class OpenMetricsSource(Source):
    """A source over OpenMetrics / Prometheus text files (for ``vigil import-history``). The
    files are read once, at the first fetch; documents carry ``source="prometheus"``."""

    kind = "prometheus"
    Config = OpenMetricsConfig

    def __init__(
        self,
        config: SourceConfig,
        context: SourceContext,
        history: OpenMetricsHistory | None = None,
    ) -> None:
        """``history``: the files already parsed (the import reads them once for their span)."""
        super().__init__(config, context)
        self.paths: tuple[str, ...] = tuple(getattr(config, "paths", ()))
        self._history = history

    def configured(self) -> bool:
        return bool(self.paths)

    def history(self) -> OpenMetricsHistory:
        if self._history is None:
            files = expand(self.paths)
            missing = [p for p in files if not p.is_file()]
            if missing:
                raise QueryError(f"{missing[0]}: no such file (check the paths to import)")
            self._history = OpenMetricsHistory.from_files(files)
        return self._history

    def health(self) -> tuple[bool, str]:
        try:
            history = self.history()
        except (QueryError, OSError) as exc:
            return False, str(exc)
        series = sum(len(g) for g in history.by_metric.values())
        return True, f"{len(expand(self.paths))} files, {series} series"

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        starts = list(windows(start, end, WINDOW))
        if not starts:
            return Fetch.no_data(None, "less than one whole 5-minute window in the range")
        try:
            history = self.history()
        except (QueryError, OSError) as exc:
            return Fetch.error(str(exc))
        w0, w1 = starts[0], starts[-1] + WINDOW
        docs = history.documents(w0, w1, self.context)
        # samples in [w0, w1): query_range is inclusive at both ends, like Prometheus
        items = sum(t < w1 for s in history.query_range_all(w0, w1) for t in s.timestamps)
        if not docs:
            return Fetch.no_data(w1, "no samples in the range")
        return Fetch(status="ok", documents=docs, watermark=w1, items=items)


def write_openmetrics(
    series: Iterable[MetricSeries], out: IO[str], types: Mapping[str, str] | None = None
) -> None:
    """Write ``series`` as OpenMetrics text with timestamps (what ``promtool tsdb
    create-blocks-from openmetrics`` reads). Series of one metric are written together;
    ``types``: ``counter`` for metrics named ``*_total`` that are counters (default gauge)."""
    by_metric: dict[str, list[MetricSeries]] = defaultdict(list)
    for s in series:
        by_metric[s.metric].append(s)
    for metric, group in by_metric.items():
        kind = (types or {}).get(metric, "gauge")
        family = metric.removesuffix("_total") if kind == "counter" else metric
        out.write(f"# TYPE {family} {kind}\n")
        for s in group:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()) if v)
            head = f"{metric}{{{labels}}}" if labels else metric
            for t, v in zip(s.timestamps, s.values, strict=True):
                out.write(f"{head} {_om_number(v)} {t.timestamp():.3f}\n")
    out.write("# EOF\n")


def _om_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
