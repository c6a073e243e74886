"""``incident_analysis`` samples from an incidents file: what they hold, redaction, merging by
id (a rerun adds nothing twice), and one-line errors naming the incident and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from knowledge.redaction import Redactor
from training.dataset_paths import INCIDENT_TYPE
from training.incidents import (
    IncidentError,
    load_incidents,
    load_incidents_dataset,
    merge_incident_samples,
    sample_id,
)
from training.language_dataset import validate_document

PASSWORD = "Hunter2-prod-db"
EMAIL = "priya.natarajan@bank.example"

INCIDENTS: list[dict[str, Any]] = [
    {
        "id": "INC-1042",
        "title": "Checkout 5xx after the 14:00 deploy",
        "service": "checkout",
        "host": "app-3",
        "severity": "sev2",
        "metrics": {"error_rate": "15%", "db_connections": "500/500", "p95_latency_ms": 5200},
        "logs": [
            "ERROR HikariPool-1 - Connection is not available, request timed out after 30000ms",
            f"WARN retrying with jdbc:postgresql://db-1/orders password={PASSWORD}",
        ],
        "context": "During peak traffic, right after release 2.14 went out",
        "root_cause": "Connection pool exhaustion: a new query held connections for seconds.",
        "resolution": "Rolled back 2.14, added an index on orders.customer_id, raised the "
        "pool timeout alert.",
    },
    {
        "title": "Spectrum Conductor jobs pending for an hour",
        "service": "grid",
        "metrics": "spectrum_active_jobs 0, pending 3400, vemkd_process_count 0",
        "logs": f"vemkd: lost contact with lim on master-2\nnotified {EMAIL} by mail",
        "root_cause": "vemkd crashed after the master host ran out of memory.",
        "resolution": "Restarted EGO on the master, moved the log shipper off it, added a "
        "memory alert at 90%.",
    },
    {
        "id": 7731,
        "metrics": {"java_heap_usage": 97.5, "java_gc_time": 42},
        "root_cause": "A memory leak in the session cache filled the old generation.",
        "resolution": "Bounded the cache at 10,000 entries and restarted the JVMs.",
    },
]


def write(tmp_path: Path, incidents: Any, name: str = "incidents.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(incidents))
    return path


def test_incidents_become_samples_without_secrets(tmp_path: Path) -> None:
    incidents = load_incidents(write(tmp_path, INCIDENTS))
    dataset = tmp_path / "datasets" / "incidents_dataset.json"
    result = merge_incident_samples(incidents, dataset, Redactor())

    assert (result.added, result.updated, result.unchanged, result.total) == (3, 0, 0, 3)
    doc = json.loads(dataset.read_text())
    validate_document(doc)  # the language dataset's schema
    assert doc["metadata"]["sample_distribution"] == {INCIDENT_TYPE: 3}
    first = doc["samples"][0]
    assert first["id"] == sample_id("INC-1042")
    assert first["type"] == INCIDENT_TYPE and first["model_type"] == "incident_record"
    assert "error_rate=15%" in first["input"] and "HikariPool-1" in first["input"]
    assert "release 2.14" in first["context"] and "Service: checkout" in first["context"]
    assert first["output"].startswith("Root cause: Connection pool exhaustion")
    assert "Resolution: Rolled back 2.14" in first["output"]
    assert first["prompt"].startswith(first["input"]) and first["context"] in first["prompt"]
    assert first["response"] == first["output"]
    assert first["category"] == "checkout" and doc["samples"][2]["term"] == "7731"
    text = dataset.read_text()
    assert PASSWORD not in text and EMAIL not in text
    assert "[REDACTED:" in doc["samples"][0]["input"] + doc["samples"][1]["input"]


def test_a_rerun_adds_nothing_and_a_change_replaces_its_sample(tmp_path: Path) -> None:
    dataset = tmp_path / "incidents_dataset.json"
    source = write(tmp_path, INCIDENTS)
    merge_incident_samples(load_incidents(source), dataset, Redactor())
    before = dataset.read_bytes()

    again = merge_incident_samples(load_incidents(source), dataset, Redactor())
    assert (again.added, again.updated, again.unchanged, again.total) == (0, 0, 3, 3)
    assert dataset.read_bytes() == before  # nothing written

    changed = [dict(i) for i in INCIDENTS]
    changed[1]["resolution"] = "Restarted EGO and added swap on the master host."
    changed.append(
        {
            "id": "INC-2001",
            "logs": ["Splunk indexer disk /opt/splunk/var at 99%"],
            "root_cause": "Retention was set to a year on a 30-day volume.",
            "resolution": "Set frozenTimePeriodInSecs to 30 days and rolled the buckets.",
        }
    )
    result = merge_incident_samples(
        load_incidents(write(tmp_path, changed, "more.json")), dataset, Redactor()
    )
    assert (result.added, result.updated, result.unchanged, result.total) == (1, 1, 2, 4)
    doc = load_incidents_dataset(dataset)
    assert doc is not None
    ids = [s["id"] for s in doc["samples"]]
    assert len(ids) == len(set(ids)) == 4
    assert "added swap" in doc["samples"][1]["output"]  # replaced in place
    assert doc["metadata"]["new_samples_added"] == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"root_cause": ""}, "incident 0 (id 'INC-1042'): field 'root_cause' is required"),
        ({"resolution": 3}, "incident 0 (id 'INC-1042'): field 'resolution' is required"),
        ({"metrics": [1, 2]}, "field 'metrics' must be an object of readings or a string"),
        ({"metrics": {"cpu": [90]}}, "field 'metrics.cpu' must be a number or a string"),
        ({"logs": [1]}, "field 'logs' must be a list of strings or a string"),
        ({"metrics": None, "logs": None}, "give 'metrics' or 'logs'"),
        ({"owner": "sre"}, "unknown field 'owner'"),
        ({"service": ["a"]}, "field 'service' must be a string"),
    ],
)
def test_a_bad_incident_is_named_in_one_line(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    bad = {**INCIDENTS[0], **change}
    bad = {k: v for k, v in bad.items() if v is not None}
    path = write(tmp_path, [bad])
    with pytest.raises(IncidentError) as caught:
        load_incidents(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: incident 0") and expected in message
    assert "\n" not in message


def test_a_bad_file_is_named_in_one_line(tmp_path: Path) -> None:
    cases = {
        "missing.json": None,
        "notjson.json": "{oops",
        "object.json": json.dumps({"items": []}),
        "empty.json": "[]",
        "dupes.json": json.dumps([INCIDENTS[0], INCIDENTS[0]]),
        "scalar.json": json.dumps([INCIDENTS[0], 5]),
    }
    messages = {}
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(IncidentError) as caught:
            load_incidents(path)
        messages[name] = str(caught.value)
        assert messages[name].startswith(str(path)) and "\n" not in messages[name]
    assert "no such file" in messages["missing.json"]
    assert "not valid JSON" in messages["notjson.json"]
    assert "expected a list of incidents" in messages["object.json"]
    assert "empty" in messages["empty.json"]
    assert "incident 1 (id 'INC-1042'): field 'id' repeats incident 0" in messages["dupes.json"]
    assert "incident 1: expected an object" in messages["scalar.json"]


def test_the_wrapped_form_and_derived_ids_are_stable(tmp_path: Path) -> None:
    first = load_incidents(write(tmp_path, {"incidents": INCIDENTS}))
    second = load_incidents(write(tmp_path, INCIDENTS, "again.json"))
    assert [i.id for i in first] == [i.id for i in second]
    assert first[1].id.startswith("incident-")  # no id given: derived from the content
    assert first[2].id == "7731"
