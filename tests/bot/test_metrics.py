"""Self-observability: /metrics (requests, latency, jobs, ingestion, LLM tokens and cost, the
leader lease), /healthz and /readyz, in-process and from a real `vigil run`."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import VigilApp
from bot.config import JobSchedule, Settings
from bot.http import HttpServer
from bot.ingestion import Ingestion
from knowledge.config import ModelPrice
from knowledge.embeddings import Embedder
from knowledge.llm.base import Message
from knowledge.llm.openai import OpenAIProvider
from knowledge.llm.usage import USAGE
from knowledge.statefile import Watermarks
from knowledge.store import KnowledgeStore
from tests.bot.test_ingestion import NOW, Clock, Scripted
from tests.standins import openai_api

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``(sample name, labels)`` -> value, parsed with prometheus-client's own parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


async def _serve(app: VigilApp) -> HttpServer:
    http = HttpServer("127.0.0.1", 0)
    app.serve_operations(http)
    await http.start()
    return http


async def test_requests_latency_jobs_and_the_lease_are_counted(
    make_settings: Callable[..., Settings],
) -> None:
    app = VigilApp(make_settings(), knowledge=False)

    async def boom(args: Mapping[str, Any]) -> None:
        raise RuntimeError("the disk is on fire")

    app.scheduler.schedules["boom"] = JobSchedule(every=timedelta(hours=1))
    app.scheduler.jobs = {**app.scheduler.jobs, "boom": boom}
    http = await _serve(app)
    try:
        async with httpx.AsyncClient(base_url=http.url) as client:
            assert (await client.get("/readyz")).status_code == 503  # not started yet
            await app.start()
            http.ready = True
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["components"]["scheduler"]["leader"] is True
            await app.handle("status")
            await app.handle("status", platform="web")
            await app.handle("statsu")  # unknown: refused, no command label of its own
            await app.scheduler.run_job("boom")
            await app.scheduler.run_job("boom")
            page = await client.get("/metrics")
    finally:
        await app.stop()
        await http.stop()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = page.text
    requests = "vigil_chat_requests_total"
    assert value(text, requests, command="status", platform="terminal", outcome="ok") == 1
    assert value(text, requests, command="status", platform="web", outcome="ok") == 1
    assert value(text, requests, command="-", platform="terminal", outcome="refused") == 1
    assert value(text, "vigil_answer_seconds_count", command="status") == 2
    assert value(text, "vigil_job_runs_total", job="boom") == 2
    assert value(text, "vigil_job_failures_total", job="boom") == 2
    assert value(text, "vigil_scheduler_leader") == 1
    assert value(text, "vigil_alerts_open") == 0
    assert any(name == "vigil_build_info" for name, _ in samples(text))


async def test_a_chat_worker_reports_no_lease_and_no_jobs(
    make_settings: Callable[..., Settings],
) -> None:
    app = VigilApp(make_settings(VIGIL_ROLE="chat"), knowledge=False)
    await app.start()
    try:
        text = app.metrics.render().decode()
        health = app._scheduler_health()
    finally:
        await app.stop()
    assert value(text, "vigil_scheduler_leader") == 0
    assert health == {"ok": True, "role": "chat", "jobs": "not run here"}


def test_llm_tokens_and_cost_follow_what_the_provider_reported(
    make_settings: Callable[..., Settings],
) -> None:
    app = VigilApp(make_settings(), knowledge=False)
    app.settings.ai.llm.prices["gpt-4o"] = ModelPrice(input=2.5, output=10.0)
    before = USAGE.snapshot().get(("openai", "gpt-4o-mini"))
    with openai_api.serve(models={"gpt-4o-mini"}) as stand_in:
        provider = OpenAIProvider(api_key="sk-test", base_url=stand_in.url)
        done = [
            provider.complete(
                [Message("user", f"why is checkout slow, take {i}?")],
                "gpt-4o-mini",
                temperature=0,
                timeout_s=10,
            )
            for i in range(2)
        ]
    after = USAGE.snapshot()[("openai", "gpt-4o-mini")]
    prompt = sum(c.prompt_tokens for c in done)
    completion = sum(c.completion_tokens for c in done)
    assert not any(c.estimated for c in done)  # the stand-in reported usage
    base_prompt = before.prompt_tokens if before else 0
    base_completion = before.completion_tokens if before else 0
    assert after.prompt_tokens - base_prompt == prompt
    text = app.metrics.render().decode()
    labels = {"provider": "openai", "model": "gpt-4o-mini"}
    assert value(text, "vigil_llm_tokens_total", kind="prompt", **labels) == after.prompt_tokens
    assert (
        value(text, "vigil_llm_tokens_total", kind="completion", **labels)
        == after.completion_tokens
    )
    # priced by the longest configured name it starts with ("gpt-4o")
    usd = (after.prompt_tokens * 2.5 + after.completion_tokens * 10.0) / 1e6
    assert value(text, "vigil_llm_cost_usd_total", **labels) == pytest.approx(usd)
    assert after.completion_tokens - base_completion == completion


async def test_ingestion_lag_throughput_and_outages(
    make_settings: Callable[..., Settings], tmp_path: Path, embedder: Embedder
) -> None:
    app = VigilApp(make_settings(), knowledge=False)
    clock = Clock(NOW)
    source = Scripted("billing", tmp_path)
    app.ingestion = Ingestion(
        KnowledgeStore.open(tmp_path / "kb", embedder),
        [source],
        Watermarks(tmp_path / "marks.json"),
        str,
        now=clock,
    )
    await app.ingestion.run("billing")
    clock.now = NOW + timedelta(minutes=7)
    text = app.metrics.render().decode()
    mark = app.ingestion.watermarks.get("billing")
    assert mark is not None
    lag = value(text, "vigil_ingestion_lag_seconds", source="billing")
    assert lag == pytest.approx((clock.now - mark).total_seconds())
    assert lag is not None and lag >= 7 * 60
    documents = value(text, "vigil_ingestion_documents_total", source="billing")
    assert documents == app.ingestion.health["billing"].documents > 0
    assert value(text, "vigil_ingestion_items_total", source="billing") == documents * 10
    assert value(text, "vigil_ingestion_source_up", source="billing") == 1
    source.down = True
    await app.ingestion.run("billing")
    text = app.metrics.render().decode()
    assert value(text, "vigil_ingestion_source_up", source="billing") == 0
    app.ingestion.close()


async def test_no_lag_where_nothing_is_ingested(
    make_settings: Callable[..., Settings], tmp_path: Path, embedder: Embedder
) -> None:
    # a chat worker or a standby: the watermark it read at start would give an ever-growing lag
    app = VigilApp(make_settings(VIGIL_ROLE="chat"), knowledge=False)
    marks = Watermarks(tmp_path / "marks.json")
    marks.set("billing", NOW - timedelta(hours=3))
    app.ingestion = Ingestion(
        KnowledgeStore.open(tmp_path / "kb", embedder),
        [Scripted("billing", tmp_path)],
        marks,
        str,
        now=Clock(NOW),
    )
    text = app.metrics.render().decode()
    assert value(text, "vigil_ingestion_lag_seconds", source="billing") is None
    assert value(text, "vigil_ingestion_source_up", source="billing") is None
    assert value(text, "vigil_ingestion_runs_total", source="billing") == 0
    app.ingestion.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_vigil_run_as_scheduler_serves_metrics_and_health_but_no_chat(
    tmp_path: Path, config_dir: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_CONFIG_DIR": str(config_dir),
        "VIGIL_HTTP_PORT": str(port),
        "VIGIL_ROLE": "scheduler",
        "HF_HUB_OFFLINE": "1",
    }
    for key in ("PROMETHEUS_URL", "ELASTICSEARCH_URL", "JAEGER_URL", "SLACK_BOT_TOKEN"):
        env.pop(key, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--duration", "60"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, proc.stderr and proc.stderr.read()
        assert ready.json()["components"]["scheduler"]["jobs"] == "running"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{base}/livez", timeout=5).json() == {"status": "alive"}
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert value(metrics, "vigil_scheduler_leader") == 1
        assert httpx.get(f"{base}/", timeout=5).status_code == 404  # no web console
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "role scheduler" in err and "Traceback" not in err


def test_metrics_is_404_without_a_renderer() -> None:
    async def check() -> int:
        http = HttpServer("127.0.0.1", 0)
        await http.start()
        try:
            async with httpx.AsyncClient(base_url=http.url) as client:
                return (await client.get("/metrics")).status_code
        finally:
            await http.stop()

    assert asyncio.run(check()) == 404
