"""Leak tests: seeded secrets and personal data go through ingest and ask, and appear nowhere:
not in the store, not in what the LLM stand-in received, not in the logs. Pseudonyms come back
in the answer the user sees."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from knowledge.answer import Answerer
from knowledge.config import AnalysisConfig, LLMConfig, PrivacyConfig, PromptsConfig
from knowledge.embeddings import Embedder
from knowledge.ingest import ingest_telemetry, sync_domain, sync_runbooks
from knowledge.llm.openai import OpenAIProvider
from knowledge.redaction import Redactor
from knowledge.retrieval import Retriever
from knowledge.store import KnowledgeStore
from knowledge.telemetry import LogRecord, MetricSeries
from tests.standins import openai_api

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SECRETS = {
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "slack": "xoxb-123456789012-abcdefghijklmnop",
    "github": "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "password": "hunter2-Sup3rSecret",
    "api_key": "live_9f8e7d6c5b4a",
    "email": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "ip": "10.1.2.3",
    "private_key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
}
LINES = [
    f"ERROR login failed for {SECRETS['email']} from {SECRETS['ip']}",
    f"ERROR s3 upload denied for key {SECRETS['aws']}",
    f"WARN posting to slack with token {SECRETS['slack']} failed",
    f"ERROR git clone https://{SECRETS['github']}@github.com/acme/app failed",
    f"ERROR auth header Bearer {SECRETS['jwt']} rejected",
    f"ERROR db connect password={SECRETS['password']} refused",
    f"WARN retrying with api_key={SECRETS['api_key']}",
    f"ERROR charge failed for card {SECRETS['card']}",
    "ERROR bad key -----BEGIN PRIVATE KEY-----\n"
    f"{SECRETS['private_key']}\n-----END PRIVATE KEY-----",
]


class LeakyReader:
    """A telemetry source whose payments logs are full of secrets."""

    def now(self) -> datetime:
        return NOW

    def hosts(self) -> list[tuple[str, str]]:
        return [("payments", "payments-1")]

    def metric_names(self) -> list[str]:
        return ["error_rate"]

    def unit(self, metric: str) -> str:
        return "%"

    def query_range(self, metric, start, end, step_s=60, service=None, host=None):  # type: ignore[no-untyped-def]
        stamps = []
        t = start
        while t < end:
            stamps.append(t)
            t += timedelta(minutes=1)
        values = [0.2 if ts < NOW - timedelta(minutes=20) else 6.0 for ts in stamps]
        labels = {"service": "payments", "host": "payments-1"}
        return [MetricSeries(metric, labels, tuple(stamps), tuple(values), "%")]

    def logs(self, start, end, service=None, host=None):  # type: ignore[no-untyped-def]
        out = []
        t = start
        i = 0
        while t < end:
            level = "ERROR" if "ERROR" in LINES[i % len(LINES)] else "WARN"
            message = f"{t:%Y-%m-%d %H:%M:%S} {LINES[i % len(LINES)]}"
            out.append(LogRecord(t, "payments", "payments-1", level, message))  # type: ignore[arg-type]
            t += timedelta(seconds=20)
            i += 1
        return out


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def test_secrets_never_reach_the_store_the_llm_or_the_logs(
    tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    redactor = Redactor()
    store = KnowledgeStore.open(tmp_path, embedder)
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "creds.md").write_text(
        "# Rotating credentials\n\n## Mitigate\n\n"
        f"- the old key was {SECRETS['aws']}, owner {SECRETS['email']}\n"
        f"- admin password: {SECRETS['password']}\n",
        encoding="utf-8",
    )
    analysis = AnalysisConfig(domain_knowledge=(f"Escalate to {SECRETS['email']} at night.",))
    ingest_telemetry(store, LeakyReader(), analysis, NOW - timedelta(hours=1), NOW, redactor.redact)
    sync_runbooks(store, runbooks, redactor.redact)
    sync_domain(store, analysis, redactor.redact)

    stored = store.scan()
    assert stored, "something was stored"
    everything = "\n".join(d.text + d.title + str(d.payload) for d in stored)
    assert _leaks(everything) == []
    assert "[REDACTED:" in everything
    raw = b"".join(p.read_bytes() for p in (tmp_path / "lancedb").rglob("*") if p.is_file())
    assert [n for n, v in SECRETS.items() if v.encode() in raw] == []

    question = f"why does {SECRETS['email']} get payments errors from 192.168.7.9?"

    def echo(request: openai_api.OpenAIRequest) -> str:
        import re

        user = request.body["messages"][-1]["content"]
        return "Errors on payments-1.\nTell " + " ".join(re.findall(r"\[EMAIL_\d+\]", user))

    with openai_api.serve(answer=echo, models={"m"}) as server:
        engine = Answerer(
            Retriever(store),
            analysis,
            PromptsConfig(),
            LLMConfig(models={"simple": "m", "complex": "m"}),
            PrivacyConfig(external_llm="redact"),
            redactor,
            provider=OpenAIProvider("sk-test", server.url),
        )
        answer = engine.ask(question, NOW)
        sent = "\n".join(str(r.body) for r in server.requests)
    assert _leaks(sent) == [] and "192.168.7.9" not in sent
    assert "[EMAIL_1]" in sent
    assert SECRETS["email"] in answer.body  # restored for the user
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert _leaks(logged) == [] and "192.168.7.9" not in logged
