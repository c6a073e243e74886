"""A real Prometheus stopped while the bot's ingestion runner and alerts job keep running, then
started again on the same port and storage: one "down" notice and one "back" notice, no crash,
no alert state change while it is down, and the store catches up with no gap."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from bot.anomaly import ModelService
from bot.ingestion import Ingestion
from handlers import alerts
from handlers.alertbook import AlertBook
from handlers.deps import Deps
from handlers.types import ChatRequest, Reply
from knowledge.embeddings import Embedder
from knowledge.redaction import Redactor
from knowledge.sources.base import SourceContext
from knowledge.sources.prometheus import PrometheusConfig, PrometheusSource
from knowledge.statefile import Watermarks
from knowledge.store import KnowledgeStore
from tests.knowledge.sources.test_prometheus import ANALYSIS, SHOP
from tests.servers import prometheus as prom
from training.live import LiveScorer

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(prom.MISSING), reason=prom.MISSING or "")]
REQUEST = ChatRequest("alerts", platform="scheduler", user="vigil")


@contextmanager
def prometheus_on(workdir: Path, port: int) -> Iterator[prom.PrometheusServer]:
    """A Prometheus on ``port`` with ``workdir/data`` (kept between starts) as its storage."""
    config = workdir / "prometheus.yml"
    prom.write_config(config, (), (), "1s")
    log_path = workdir / "prometheus.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [prom.PROMETHEUS or "prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--storage.tsdb.retention.time=30d", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
        )  # fmt: skip
    server = prom.PrometheusServer(f"http://127.0.0.1:{port}", workdir / "data", process, log_path)
    try:
        prom._wait_ready(server, 60)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=15)


async def test_prometheus_down_and_back_one_notice_each_way_no_gap(
    tmp_path: Path, data_dir: Path, promoted_model: Path, embedder: Embedder
) -> None:
    history = prom.spike_history()
    workdir = tmp_path / "prometheus"
    (workdir / "data").mkdir(parents=True)
    (workdir / "history.om").write_text(history.openmetrics())
    prom.backfill(workdir / "history.om", workdir / "data")
    port = prom.free_port()
    url = f"http://127.0.0.1:{port}"

    config = PrometheusConfig.model_validate(
        {"url": url, "queries": SHOP, "alerts": False, "day_before": False, "settle": "0s",
         "backfill": "1h", "every": "60s"}
    )  # fmt: skip
    context = SourceContext("prometheus", data_dir / "sources" / "prometheus",
                            Redactor().redact, analysis=ANALYSIS)  # fmt: skip
    source = PrometheusSource(config, context)
    clock = [history.end - timedelta(minutes=60)]
    notices: list[tuple[str, bool]] = []

    async def notify(text: str, error: bool) -> None:
        notices.append((text, error))

    store = KnowledgeStore.open(data_dir, embedder)
    ingestion = Ingestion(
        store, [source], Watermarks(data_dir / "watermarks.json"), Redactor().redact,
        now=lambda: clock[0], notify=notify, max_backoff=timedelta(0),
    )  # fmt: skip
    models = ModelService(data_dir)
    scorer = LiveScorer(models.current, source, history=timedelta(hours=2), step_s=60)
    book = AlertBook(path=data_dir / "alerts.json")
    deps = Deps(alerts=book, detect=scorer.detect, clock=lambda: clock[0])
    posts: list[tuple[str, Reply]] = []

    async def post(channel: str, reply: Reply) -> None:
        posts.append((channel, reply))

    with prometheus_on(workdir, port):
        up = await ingestion.run("prometheus")
        assert up is not None and up.status == "ok", up
        await alerts.run(REQUEST, deps, post)  # works while it is up (whatever it finds)
    state = (data_dir / "alerts.json").read_bytes() if (data_dir / "alerts.json").exists() else b""
    seen = len(posts)

    for _ in range(3):  # three runs of each job while Prometheus is stopped
        clock[0] += timedelta(minutes=5)
        down = await ingestion.run("prometheus")
        assert down is not None and down.status == "error"
        assert await alerts.run(REQUEST, deps, post) == 0  # detection fails: run skipped
    assert [e for _, e in notices] == [True]
    assert notices[0][0].startswith("Source `prometheus` is down:")
    assert "\n" not in notices[0][0]
    assert len(posts) == seen  # nothing resolved or fired by a failed read
    after = (data_dir / "alerts.json").read_bytes() if (data_dir / "alerts.json").exists() else b""
    assert after == state

    with prometheus_on(workdir, port):  # back, same port and storage
        clock[0] += timedelta(minutes=5)
        back = await ingestion.run("prometheus")
        assert back is not None and back.status == "ok", back
        await alerts.run(REQUEST, deps, post)
    assert [e for _, e in notices] == [True, False]
    assert "is back after 3 failed run(s)" in notices[1][0] and "no gap" in notices[1][0]
    docs = store.scan("source = 'prometheus'")
    windows = sorted(d.ts for d in docs if d.title == "metrics shop")  # one per 5 minutes
    step = timedelta(minutes=5)
    assert windows == [windows[0] + i * step for i in range(len(windows))]  # no gap, no twice
    assert windows[0] == history.end - timedelta(minutes=120)  # from the first run's backfill
    assert windows[-1] + step == ingestion.watermarks.get("prometheus") == clock[0]
    ingestion.close()
