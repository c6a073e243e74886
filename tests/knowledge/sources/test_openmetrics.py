"""History import from OpenMetrics / Prometheus text files: parsing into series, window documents,
the source over files, and a real exposition dump."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest

from knowledge.config import AnalysisConfig, Baseline
from knowledge.errors import QueryError
from knowledge.sources.base import SourceContext, safe_fetch
from knowledge.sources.openmetrics import (
    OpenMetricsConfig,
    OpenMetricsHistory,
    OpenMetricsSource,
    read_series,
    write_openmetrics,
)
from tests.conftest import SHARED_DATA
from tests.servers.prometheus import SpikeHistory, spike_history

END = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DUMP = SHARED_DATA / "prometheus" / "metrics_dump.prom"
CONTEXT = SourceContext(
    name="history",
    state_dir=Path("."),
    redact=lambda s: s,
    analysis=AnalysisConfig(baselines=(Baseline(metric="latency_p95_ms", max=200),)),
)


@pytest.fixture
def history() -> SpikeHistory:
    return spike_history(END)


@pytest.fixture
def om_file(tmp_path: Path, history: SpikeHistory) -> Path:
    path = tmp_path / "history.om"
    path.write_text(history.openmetrics())
    return path


def test_a_written_file_reads_back_the_same_series(om_file: Path, history: SpikeHistory) -> None:
    series = {(s.metric, s.host): s for s in read_series(om_file)}
    assert len(series) == len(history.series) == 6
    for original in history.series:
        got = series[(original.metric, original.host)]
        assert got.values == original.values and got.timestamps == original.timestamps
        assert got.service == "shop" and got.unit == original.unit


def test_window_documents_from_a_file_report_the_spike(
    om_file: Path, history: SpikeHistory
) -> None:
    reader = OpenMetricsHistory.from_files([om_file])
    assert reader.span() == (history.start, history.end - timedelta(minutes=1))
    assert reader.hosts() == [("shop", "shop-1"), ("shop", "shop-2")]
    docs = reader.documents(history.spike_start, history.spike_end, CONTEXT)
    spikes = [d for d in docs if d.title == "metrics shop-1"]
    assert [d.ts for d in spikes] == [
        history.spike_start + timedelta(minutes=5 * i) for i in range(3)
    ]
    latency = spikes[0].payload["metrics"]["latency_p95_ms"]
    assert latency["value"] == 900 and latency["z"] > 20 and latency["breached"]
    assert spikes[0].severity == "critical"
    # the same numbers as the Prometheus source: same ids for the same windows and source name
    again = OpenMetricsHistory.from_files([om_file]).documents(
        history.spike_start, history.spike_end, CONTEXT
    )
    assert [d.id for d in again] == [d.id for d in docs]


def test_prometheus_text_with_millisecond_timestamps_and_counters(tmp_path: Path) -> None:
    t0 = int(END.timestamp() * 1000)
    lines = ["# TYPE http_requests_total counter"]
    for i, total in enumerate((100, 160, 280, 10)):  # the last one is a reset
        lines.append(
            f'http_requests_total{{job="api",instance="10.0.0.5:80"}} {total} {t0 + i * 60_000}'
        )
    lines += [
        "# TYPE queue_depth gauge",
        f'queue_depth{{job="api"}} 7 {t0}',
        f'queue_depth{{job="api"}} +Inf {t0 + 60_000}',
    ]
    path = tmp_path / "dump.prom.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    series = {s.metric: s for s in read_series(path)}
    rate = series["rate(http_requests_total)"]
    assert rate.values == [1.0, 2.0, 10 / 60] and rate.unit == "/s"
    assert rate.host == "10.0.0.5:80" and rate.service == "api"
    assert rate.timestamps[0] == END + timedelta(minutes=1)
    assert series["queue_depth"].values == [7.0]  # +Inf skipped


def test_a_real_exposition_without_timestamps_parses(tmp_path: Path) -> None:
    if not DUMP.is_file():
        pytest.skip(f"{DUMP} is absent (the shared data set is not mounted)")
    series = read_series(DUMP, default_time=END)
    names = {s.metric for s in series}
    assert len(series) > 100
    assert "go_goroutines" in names and not any(n.endswith("_bucket") for n in names)
    assert all(s.timestamps == [END] for s in series)
    # one sample per counter: no rate yet, so counters are absent rather than wrong
    assert not any(n.startswith("rate(") for n in names)


def test_malformed_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.om"
    bad.write_text('# TYPE x gauge\nx{a="1" 5 10\n# EOF\n')
    with pytest.raises(QueryError, match=r"bad\.om: not valid"):
        read_series(bad)


def test_the_source_over_files(tmp_path: Path, om_file: Path, history: SpikeHistory) -> None:
    source = OpenMetricsSource(OpenMetricsConfig(paths=(str(tmp_path),)), CONTEXT)
    assert source.configured() and source.health() == (True, "1 files, 6 series")
    fetched = safe_fetch(source, history.spike_start + timedelta(seconds=10), history.spike_end)
    assert fetched.status == "ok" and fetched.watermark == history.spike_end
    # the window that holds the start is included (windows are aligned to the clock)
    assert {d.ts for d in fetched.documents} == {
        history.spike_start + timedelta(minutes=5 * i) for i in (0, 1, 2)
    }
    assert fetched.items > 0
    empty = safe_fetch(source, END + timedelta(hours=5), END + timedelta(hours=6))
    assert empty.status == "no_data" and empty.watermark == END + timedelta(hours=6)
    missing = OpenMetricsSource(OpenMetricsConfig(paths=(str(tmp_path / "nope.om"),)), CONTEXT)
    ok, reason = missing.health()
    assert not ok and "nope.om: no such file" in reason
    assert safe_fetch(missing, END, END + timedelta(hours=1)).status == "error"


def test_written_openmetrics_escapes_labels_and_special_values() -> None:
    from knowledge.telemetry import MetricSeries

    out = StringIO()
    write_openmetrics(
        [MetricSeries("reqs_total", {"path": 'a"b'}, [END, END + timedelta(seconds=1)],
                      [1.0, float("nan")])],
        out,
        {"reqs_total": "counter"},
    )  # fmt: skip
    text = out.getvalue()
    assert text.startswith("# TYPE reqs counter\n") and text.endswith("# EOF\n")
    assert 'reqs_total{path="a\\"b"} NaN' in text
