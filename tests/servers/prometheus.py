"""The real Prometheus server (Debian's ``prometheus`` package) for integration tests.

``running_prometheus(workdir, ...)`` backfills history with ``promtool tsdb create-blocks-from
openmetrics``, writes a config (scrape targets every second, rule files) and starts Prometheus on
an ephemeral 127.0.0.1 port with its own data dir; it waits for ``/-/ready`` and stops the server
when the block ends. ``spike_history(end)`` makes three hours of known series with a latency spike
at a known time. ``spike_server(workdir)`` runs one server with that history, the alert rules
below and the demo world's exporter as a scrape target; the ``prometheus`` fixture (module scope)
wraps it for test modules that import it (or define their own fixture around ``spike_server``).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from knowledge.demo import DemoWorld
from knowledge.sources.exporter import serve
from knowledge.sources.openmetrics import write_openmetrics
from knowledge.telemetry import MetricSeries
from tests.servers import stop_process

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
MISSING = (
    None
    if PROMETHEUS and PROMTOOL
    else "the prometheus and promtool binaries are not on PATH (apt-get install prometheus)"
)

ALERT_RULES = """\
groups:
  - name: vigil-test
    interval: 1s
    rules:
      - alert: VigilTestAlwaysFiring
        expr: vector(1)
        labels: {severity: critical, service: shop}
        annotations: {summary: "A test alert that always fires."}
      - alert: ShopLatencyHigh
        expr: latency_p95_ms{service="shop"} > 500
        for: 1m
        labels: {severity: warning, service: shop}
        annotations: {summary: "shop p95 latency over 500 ms"}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrometheusServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    history: SpikeHistory | None = None
    exporter_target: str = ""

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a GET on the HTTP API."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            return json.loads(response.read())["data"]

    def wait_until(self, check: Any, timeout: float = 15.0, what: str = "condition") -> Any:
        """Poll ``check()`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prometheus: {what} not reached in {timeout:g}s")
            time.sleep(0.2)

    def wait_scraped(self, metric: str = "up", timeout: float = 30.0) -> None:
        """Wait for the first scrape of the targets (Prometheus' discovery takes about 5 s to
        hand new targets to the scraper) that has ``metric``."""
        self.wait_until(
            lambda: self.api("/api/v1/query", query=f'{metric}{{job="exporter"}}')["result"],
            timeout,
            f"a scrape with {metric}",
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def backfill(openmetrics: Path, data_dir: Path) -> None:
    """``promtool tsdb create-blocks-from openmetrics FILE DATADIR``."""
    assert PROMTOOL, MISSING
    done = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"promtool backfill failed: {(done.stderr or done.stdout)[-600:]}")


def write_config(
    path: Path, targets: Sequence[str], rule_files: Sequence[Path], interval: str
) -> None:
    scrape = [
        {"job_name": "exporter", "static_configs": [{"targets": list(targets)}]}
    ] if targets else []  # fmt: skip
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": scrape,
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML


@contextmanager
def running_prometheus(
    workdir: Path,
    openmetrics: str | Path | None = None,
    rules: str | None = None,
    targets: Sequence[str] = (),
    interval: str = "1s",
    ready_timeout: float = 60.0,
) -> Iterator[PrometheusServer]:
    """A Prometheus on an ephemeral port with ``workdir/data`` as its storage. ``openmetrics``:
    text (or a file) backfilled before start; ``rules``: a rule file's YAML."""
    if MISSING:
        raise RuntimeError(MISSING)
    assert PROMETHEUS
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    if openmetrics is not None:
        source = Path(openmetrics) if isinstance(openmetrics, Path) else workdir / "history.om"
        if not isinstance(openmetrics, Path):
            source.write_text(openmetrics)
        backfill(source, data)
    rule_files = []
    if rules:
        rule_files.append(workdir / "rules.yml")
        rule_files[0].write_text(rules)
    config = workdir / "prometheus.yml"
    write_config(config, targets, rule_files, interval)
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=30d",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    server = PrometheusServer(f"http://127.0.0.1:{port}", data, process, log_path)
    try:
        _wait_ready(server, ready_timeout)
        yield server
    finally:
        stop_process(process, grace_s=15)


def _wait_ready(server: PrometheusServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"prometheus exited at start: {server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"prometheus not ready after {timeout:g}s: {server.log_tail()}")


# ----------------------------------------------------------------------------- known history


@dataclass(frozen=True)
class SpikeHistory:
    """Three hours of minute samples ending at ``end`` (exclusive): ``latency_p95_ms``,
    ``cpu_usage`` and ``error_rate`` for service ``shop`` on hosts ``shop-1`` and ``shop-2``;
    ``shop-1``'s latency is ``SPIKE_MS`` in ``[spike_start, spike_end)``, ``NORMAL_MS`` +- 6
    otherwise."""

    start: datetime
    end: datetime
    spike_start: datetime
    spike_end: datetime
    series: list[MetricSeries] = field(default_factory=list)

    NORMAL_MS = 100.0
    SPIKE_MS = 900.0

    def openmetrics(self) -> str:
        from io import StringIO

        out = StringIO()
        write_openmetrics(self.series, out)
        return out.getvalue()

    def value(self, metric: str, host: str, at: datetime) -> float:
        s = next(s for s in self.series if s.metric == metric and s.host == host)
        return s.values[s.timestamps.index(at)]


def spike_history(end: datetime | None = None, hours: int = 3) -> SpikeHistory:
    """``end``: default 10 minutes before now, floored to 5 minutes. The spike is 15 minutes
    long and starts an hour before ``end``."""
    if end is None:
        now = int(datetime.now(UTC).timestamp())
        end = datetime.fromtimestamp(now // 300 * 300 - 600, UTC)
    start = end - timedelta(hours=hours)
    spike_start = end - timedelta(hours=1)
    spike_end = spike_start + timedelta(minutes=15)
    stamps = [start + timedelta(minutes=i) for i in range(hours * 60)]
    noise = [float((i * 7) % 5 - 2) * 3 for i in range(len(stamps))]  # -6..+6, deterministic
    series = []
    for host, offset in (("shop-1", 0.0), ("shop-2", 10.0)):
        labels = {"service": "shop", "host": host}
        latency = [
            SpikeHistory.SPIKE_MS
            if host == "shop-1" and spike_start <= t < spike_end
            else SpikeHistory.NORMAL_MS + offset + n
            for t, n in zip(stamps, noise, strict=True)
        ]
        series.append(MetricSeries("latency_p95_ms", labels, stamps, latency, "ms"))
        series.append(
            MetricSeries("cpu_usage", labels, stamps, [30.0 + offset + n / 3 for n in noise], "%")
        )
        series.append(
            MetricSeries("error_rate", labels, stamps, [0.2 + n / 100 for n in noise], "%")
        )
    return SpikeHistory(start, end, spike_start, spike_end, series)


@contextmanager
def spike_server(workdir: Path) -> Iterator[PrometheusServer]:
    """A real Prometheus with ``spike_history()`` backfilled, ``ALERT_RULES``, and the demo
    world's exporter scraped every second (``server.history``, ``server.exporter_target``)."""
    history = spike_history()
    with serve(DemoWorld(seed=7)) as exporter, running_prometheus(
        workdir, history.openmetrics(), ALERT_RULES, [exporter.target]
    ) as server:  # fmt: skip
        server.history = history
        server.exporter_target = exporter.target
        yield server


@pytest.fixture(scope="module")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """``spike_server`` once per test module that imports this fixture; skips when Prometheus
    is not installed."""
    if MISSING:
        pytest.skip(MISSING)
    with spike_server(tmp_path_factory.mktemp("prometheus")) as server:
        yield server
