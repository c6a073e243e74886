"""Fine-tuning exports of the language and incidents datasets: the three formats, redaction,
type filters, default file names, and the errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from knowledge.redaction import Redactor
from knowledge.statefile import write_json_atomic
from training.dataset_paths import INCIDENT_TYPE, DatasetPaths
from training.export import (
    DEFAULT_SYSTEM,
    ExportError,
    check_types,
    export_dataset,
)
from training.finetune import check_chat_file
from training.incidents import load_incidents, merge_incident_samples
from training.language_dataset import to_document

API_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx"
EMAIL = "oncall.lead@bank.example"


def sample(n: int, type_: str, prompt: str, response: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{type_}-{n:016x}-static-template",
        "type": type_,
        "prompt": prompt,
        "response": response,
        "model": "static-template",
        "model_type": "static_template",
        "session_id": "session_20251121_103000",
        "timestamp": "2025-11-21T10:30:15.123456",
        "generation_batch": 0,
        "term": "cpu_usage",
        "category": "system_metrics",
        **extra,
    }


LANGUAGE = [
    sample(
        1,
        "technical_explanation",
        "Explain java_gc_time to a new on-call engineer.",
        "java_gc_time is the share of wall time the JVM spends collecting garbage; above 10% "
        "the application is starved of CPU and latency climbs.",
        system="You are a patient senior SRE.",
    ),
    sample(
        2,
        "error_troubleshooting",
        f"Our Splunk alert mails {EMAIL} about 'HikariPool-1 - Connection is not available'.",
        f"Check the pool: the logs show api_key={API_KEY} in a stack trace too, rotate it. "
        "Then raise maximumPoolSize only after finding the slow query holding connections.",
    ),
    sample(
        3,
        "banking_scenario",
        "What does impact tolerance mean under operational resilience rules?",
        "Impact tolerance is the maximum tolerable disruption of an important business "
        "service, measured in time or volume, that a bank must stay within in a severe "
        "but plausible scenario.",
    ),
]


@pytest.fixture
def paths(tmp_path: Path) -> DatasetPaths:
    found = DatasetPaths.in_data_dir(tmp_path / "var")
    doc = to_document(
        LANGUAGE,
        session_id="session_20251121_103000",
        config_hash="abc",
        new_samples_added=len(LANGUAGE),
        model_pool=["static-template"],
        swap_interval=50,
        questions_processed=len(LANGUAGE),
    )
    write_json_atomic(found.language, doc)
    incidents = tmp_path / "incidents.json"
    incidents.write_text(
        json.dumps(
            [
                {
                    "id": "INC-7",
                    "metrics": {"disk_usage": "99%"},
                    "logs": ["Splunk indexer: /opt/splunk/var is full"],
                    "context": "Month-end batch",
                    "root_cause": "Retention longer than the volume holds.",
                    "resolution": "Shortened retention and rolled the frozen buckets.",
                }
            ]
        )
    )
    merge_incident_samples(load_incidents(incidents), found.incidents, Redactor())
    return found


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_openai_chat_export_is_redacted_and_uploadable(paths: DatasetPaths) -> None:
    result = export_dataset(paths, "openai-chat", Redactor())

    assert result.path == paths.exports / "language_incidents_openai-chat.jsonl"
    assert result.count == 4 and result.redacted == 1
    assert result.by_type == {
        "technical_explanation": 1,
        "error_troubleshooting": 1,
        "banking_scenario": 1,
        INCIDENT_TYPE: 1,
    }
    records = lines(result.path)
    assert [[m["role"] for m in r["messages"]] for r in records] == [
        ["system", "user", "assistant"]
    ] * 4
    assert records[0]["messages"][0]["content"] == "You are a patient senior SRE."
    assert records[2]["messages"][0]["content"] == DEFAULT_SYSTEM
    assert records[0]["messages"][2]["content"] == LANGUAGE[0]["response"]
    assert records[3]["messages"][1]["content"].startswith("Metrics: disk_usage=99%")
    assert records[3]["messages"][2]["content"].startswith("Root cause: Retention")
    text = result.path.read_text()
    assert API_KEY not in text and EMAIL not in text
    assert "[REDACTED:email]" in text and "[REDACTED:" in records[1]["messages"][2]["content"]
    assert check_chat_file(result.path, min_examples=4) == 4


def test_alpaca_and_jsonl_exports(paths: DatasetPaths, tmp_path: Path) -> None:
    alpaca = export_dataset(paths, "alpaca", Redactor(), output=tmp_path / "a.json")
    rows = json.loads(alpaca.path.read_text())
    assert len(rows) == 4 and all({"instruction", "input", "output"} <= set(r) for r in rows)
    assert rows[0] == {
        "instruction": LANGUAGE[0]["prompt"],
        "input": "",
        "output": LANGUAGE[0]["response"],
        "system": "You are a patient senior SRE.",
    }
    assert rows[3]["instruction"].startswith("Metrics: disk_usage=99%")
    assert "Month-end batch" in rows[3]["input"] and "system" in rows[3]
    assert rows[3]["output"].startswith("Root cause:")

    plain = export_dataset(paths, "jsonl", Redactor(), output=tmp_path / "p.jsonl")
    records = lines(plain.path)
    assert [set(r) for r in records] == [{"id", "type", "input", "context", "output"}] * 4
    assert records[0]["input"] == LANGUAGE[0]["prompt"] and records[0]["context"] == ""
    assert records[3]["context"] == "Month-end batch" and records[3]["type"] == INCIDENT_TYPE
    assert len({r["id"] for r in records}) == 4
    assert API_KEY not in plain.path.read_text() + alpaca.path.read_text()


def test_type_filters_and_leaving_incidents_out(paths: DatasetPaths) -> None:
    only = export_dataset(paths, "jsonl", Redactor(), types=check_types(["banking_scenario"]))
    assert only.by_type == {"banking_scenario": 1}
    assert only.path == paths.exports / "language_jsonl.jsonl"

    incidents = export_dataset(paths, "jsonl", Redactor(), types=[INCIDENT_TYPE])
    assert incidents.path == paths.exports / "incidents_jsonl.jsonl" and incidents.count == 1

    without = export_dataset(paths, "openai-chat", Redactor(), include_incidents=False)
    assert without.count == 3 and INCIDENT_TYPE not in without.by_type
    assert check_types(["conversation,english_pattern", " banking_scenario "]) == (
        "conversation",
        "english_pattern",
        "banking_scenario",
    )


def test_export_errors_are_one_line(paths: DatasetPaths, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown export format 'sharegpt'"):
        export_dataset(paths, "sharegpt", Redactor())
    with pytest.raises(ExportError, match="unknown sample type 'gossip'"):
        check_types(["conversation,gossip"])
    empty = DatasetPaths.in_data_dir(tmp_path / "empty")
    with pytest.raises(ExportError) as caught:
        export_dataset(empty, "openai-chat", Redactor())
    assert "no samples to export" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ExportError, match="of type conversation"):
        export_dataset(paths, "jsonl", Redactor(), types=["conversation"])
