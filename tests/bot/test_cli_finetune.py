"""``vigil dataset export`` / ``from-incidents`` and ``vigil finetune start`` / ``status``, run
in-process: incidents to samples, exports, an OpenAI fine-tuning job against a loopback stand-in
(nothing private reaches it), local training of a tiny model, and the ai-config lines that make
Vigil answer with the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from bot.config import load_settings
from knowledge.answer import select_provider
from knowledge.llm.transformers import TransformersProvider
from knowledge.statefile import write_json_atomic
from tests.bot.conftest import ENDPOINTS
from tests.knowledge.tiny_model import build_tiny_model
from tests.standins import openai_api
from training.dataset_paths import DatasetPaths
from training.language_dataset import to_document

KEY = "sk-test-cli-finetune-0123456789"
PASSWORD = "Winter2025!prod"
EMAIL = "dana.kowalski@bank.example"
TOPICS = [
    ("vemkd", "vemkd is the EGO master daemon; it allocates slots to consumers by policy."),
    ("full GC", "A full GC stops every application thread while the heap is compacted."),
    ("tstats", "tstats searches indexed fields and accelerated data models, so it is fast."),
    ("burn rate", "Burn rate is how fast the error budget is spent relative to the window."),
]
INCIDENTS = [
    {
        "id": "INC-311",
        "service": "payments",
        "metrics": {"error_rate": "12%", "db_connections": "200/200"},
        "logs": [
            "ERROR HikariPool-2 - Connection is not available, request timed out after 30000ms",
            f"DEBUG datasource url=jdbc:postgresql://pg-1/pay password={PASSWORD}",
            f"INFO paged {EMAIL}",
        ],
        "root_cause": "A batch job held every pooled connection during the day.",
        "resolution": "Moved the batch to its own pool and night window.",
    }
]


@pytest.fixture
def runner(
    config_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VIGIL_CONFIG_DIR", str(config_dir))
    for key in ENDPOINTS:
        monkeypatch.delenv(key, raising=False)
    return CliRunner()


@pytest.fixture
def paths(data_dir: Path) -> DatasetPaths:
    """A language dataset of 12 samples in the data dir."""
    found = DatasetPaths.in_data_dir(data_dir)
    samples = []
    for n in range(12):
        term, answer = TOPICS[n % len(TOPICS)]
        samples.append(
            {
                "id": f"technical_explanation-{n:016x}-static-template",
                "type": "technical_explanation",
                "prompt": f"Explain {term} to an engineer on call (variant {n}).",
                "response": answer,
                "model": "static-template",
                "model_type": "static_template",
                "session_id": "session_20251121_103000",
                "timestamp": "2025-11-21T10:30:15.123456",
                "generation_batch": n // 4,
                "term": term,
                "category": "platform",
            }
        )
    doc = to_document(
        samples,
        session_id="session_20251121_103000",
        config_hash="abc",
        new_samples_added=12,
        model_pool=["static-template"],
        swap_interval=50,
        questions_processed=12,
    )
    write_json_atomic(found.language, doc)
    return found


@pytest.fixture
def incidents_file(tmp_path: Path) -> Path:
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps(INCIDENTS))
    return path


def one_line_error(result: Any) -> str:
    stderr = result.stderr.strip()
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert len(stderr.splitlines()) == 1 and stderr.startswith("vigil: "), stderr
    assert "Traceback" not in result.output
    return str(stderr)


def set_llm(config_dir: Path, snippet: str) -> None:
    """Merge the ``llm`` lines of ``snippet`` into the test's ai-config.yml."""
    path = config_dir / "ai-config.yml"
    config = yaml.safe_load(path.read_text())
    config["llm"] = {**config.get("llm", {}), **yaml.safe_load(snippet)["llm"]}
    path.write_text(yaml.safe_dump(config))


def set_privacy(config_dir: Path, external_llm: str) -> None:
    path = config_dir / "ai-config.yml"
    config = yaml.safe_load(path.read_text())
    config.setdefault("privacy", {})["external_llm"] = external_llm
    path.write_text(yaml.safe_dump(config))


def snippet_of(output: str) -> str:
    return output.split("put this in data_config/ai-config.yml:\n", 1)[1]


def test_incidents_export_and_an_openai_job_to_the_ft_model(
    runner: CliRunner,
    paths: DatasetPaths,
    incidents_file: Path,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = runner.invoke(
        app, ["dataset", "from-incidents", str(incidents_file), "--output", "inc.jsonl"]
    )
    assert made.exit_code == 0, made.output
    assert "1 new, 0 updated, 0 unchanged" in made.stdout
    again = runner.invoke(app, ["dataset", "from-incidents", str(incidents_file)])
    assert "0 new, 0 updated, 1 unchanged" in again.stdout and "holds 1 sample(s)" in again.stdout
    written = [json.loads(line) for line in (tmp_path / "inc.jsonl").read_text().splitlines()]
    assert written[0]["output"].startswith("Root cause: A batch job")

    exported = runner.invoke(app, ["dataset", "export", "--format", "openai-chat"])
    assert exported.exit_code == 0, exported.output
    export_file = paths.exports / "language_incidents_openai-chat.jsonl"
    assert f"exported 13 samples (openai-chat) to {export_file}" in exported.stdout
    exported_bytes = export_file.read_bytes()

    with openai_api.serve(api_key=KEY) as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        started = runner.invoke(app, ["finetune", "start", "--provider", "openai"])
        assert started.exit_code == 0, started.output
        job_id = next(iter(server.jobs))
        assert f"created fine-tuning job {job_id}" in started.stdout
        statuses = []
        for _ in range(3):
            status = runner.invoke(app, ["finetune", "status", job_id])
            assert status.exit_code == 0, status.output
            statuses.append(status.stdout)
        requests = list(server.requests)
        upload = next(iter(server.files.values()))

    assert upload.content == exported_bytes == export_file.read_bytes()
    sent = repr([r.body for r in requests]) + upload.content.decode()
    assert PASSWORD not in sent and EMAIL not in sent and KEY not in sent
    assert ": running" in statuses[1] and ": succeeded" in statuses[2]
    assert "New fine-tuned model created" in statuses[2]
    ft_model = server.jobs[job_id]["fine_tuned_model"]
    assert f"fine-tuned model: {ft_model}" in statuses[2]
    jobs = json.loads((paths.root / "finetune_jobs.json").read_text())["jobs"]
    assert [(j["id"], j["status"], j["fine_tuned_model"]) for j in jobs] == [
        (job_id, "succeeded", ft_model)
    ]

    set_llm(config_dir, snippet_of(statuses[2]))
    settings = load_settings(config_dir=config_dir, environ={})
    assert settings.ai.llm.provider == "openai"
    assert settings.ai.llm.models == {"simple": ft_model, "complex": ft_model}


def test_privacy_block_refuses_the_upload(
    runner: CliRunner, paths: DatasetPaths, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_privacy(config_dir, "block")
    with openai_api.serve(api_key=KEY) as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        result = runner.invoke(app, ["finetune", "start", "--provider", "openai"])
        assert server.requests == []
    assert "privacy.external_llm is `block`" in one_line_error(result)


def test_local_finetuning_then_serving_the_model(
    runner: CliRunner, paths: DatasetPaths, config_dir: Path, tmp_path: Path
) -> None:
    corpus = [text for pair in TOPICS for text in pair]
    base = build_tiny_model(tmp_path / "tiny-base", corpus, positions=256)
    out = tmp_path / "tuned"
    result = runner.invoke(
        app,
        [
            "finetune", "start", "--provider", "local", "--base-model", str(base),
            "--output", str(out), "--max-steps", "6", "--no-lora", "--learning-rate", "3e-3",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "step 1/6: loss" in result.stdout and "step 6/6: loss" in result.stdout
    assert f"model saved in {out}" in result.stdout
    assert "trained full on 12 examples, 6 steps" in result.stdout

    status = runner.invoke(app, ["finetune", "status"])
    assert status.exit_code == 0, status.output
    assert "(local, " in status.stdout and ": succeeded" in status.stdout

    set_llm(config_dir, snippet_of(result.stdout))
    llm = load_settings(config_dir=config_dir, environ={}).ai.llm
    provider = select_provider(llm, None, None, None)
    assert isinstance(provider, TransformersProvider) and provider.model_dir == out.resolve()


def test_usage_errors_are_one_line(runner: CliRunner, paths: DatasetPaths, tmp_path: Path) -> None:
    assert "unknown export format 'csv'" in one_line_error(
        runner.invoke(app, ["dataset", "export", "--format", "csv"])
    )
    assert "unknown sample type 'gossip'" in one_line_error(
        runner.invoke(app, ["dataset", "export", "--types", "gossip"])
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "INC-9", "logs": ["x"], "resolution": "y"}]))
    assert "incident 0 (id 'INC-9'): field 'root_cause'" in one_line_error(
        runner.invoke(app, ["dataset", "from-incidents", str(bad)])
    )
    assert "--base-model" in one_line_error(
        runner.invoke(app, ["finetune", "start", "--provider", "local"])
    )
    assert "needs OPENAI_API_KEY" in one_line_error(
        runner.invoke(app, ["finetune", "start", "--provider", "openai"])
    )
    assert "no fine-tuning job yet" in one_line_error(runner.invoke(app, ["finetune", "status"]))
    few = tmp_path / "few.jsonl"
    few.write_text(
        "\n".join(
            json.dumps({"messages": [{"role": "assistant", "content": "ok"}]}) for _ in range(3)
        )
    )
    assert "3 example(s); fine-tuning needs at least 10" in one_line_error(
        runner.invoke(app, ["finetune", "start", "--file", str(few)])
    )
