"""Training samples from the team's own incidents (the origin's phase 3): each incident's
metrics, logs, root cause and resolution become one ``incident_analysis`` sample with ``input``
(what was observed), ``context`` (where and when) and ``output`` (the root cause and the fix).

``incidents.json`` is a list of incidents (or ``{"incidents": [...]}``); each one::

    {"id": "INC-1042",                       # optional: derived from title / start when absent
     "title": "Checkout latency after deploy", # optional
     "service": "checkout", "host": "app-3", "severity": "sev2", "started_at": "...",  # optional
     "metrics": {"cpu_usage": "85%", "db_connections": "500/500"} | "CPU 85%, memory 90%",
     "logs": ["ERROR HikariPool-1 - Connection is not available ..."] | "one\\nline each",
     "context": "During peak traffic",        # optional
     "root_cause": "...", "resolution": "..."}

Metrics or logs (at least one), ``root_cause`` and ``resolution`` are required. Every text is
redacted before it becomes a sample, so secrets and personal data never reach the dataset.
Samples are merged into ``incidents_dataset.json`` (the language dataset's shape) by id: a rerun
adds nothing twice, and an incident whose content changed replaces its old sample.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.redaction import Redactor
from knowledge.statefile import load_json_file, write_json_atomic
from training.dataset_paths import INCIDENT_TYPE
from training.language_dataset import parse_language_dataset, to_document
from training.metrics_dataset import DatasetError

MODEL = "incident-record"
MODEL_TYPE = "incident_record"
GENERATOR = "vigil-incidents-v1"
MAX_LOG_LINES = 30
"""Log lines kept per incident (the first ones: usually the onset)."""
SYSTEM = (
    "You are Vigil, an observability assistant. From an incident's metrics, logs and context, "
    "name the most likely root cause and the resolution, briefly and specifically."
)
_TEXT_FIELDS = ("id", "title", "service", "host", "severity", "started_at", "context")
_KNOWN = {*_TEXT_FIELDS, "metrics", "logs", "root_cause", "resolution", "tags"}


class IncidentError(DatasetError):
    """An incidents file is unreadable or an incident is malformed (one line naming the file,
    the incident's index and id, and the field)."""


@dataclass(frozen=True)
class Incident:
    """One validated incident."""

    id: str
    metrics: str
    logs: tuple[str, ...]
    root_cause: str
    resolution: str
    context: str = ""
    title: str = ""
    service: str = ""
    host: str = ""
    severity: str = ""
    started_at: str = ""


@dataclass(frozen=True)
class MergeResult:
    """What ``merge_incident_samples`` did."""

    incidents: int
    added: int
    updated: int
    unchanged: int
    total: int
    samples: list[dict[str, Any]]
    """The samples made from this file (in its order)."""


# ------------------------------------------------------------------------------ reading
def load_incidents(path: Path) -> list[Incident]:
    """The validated incidents in ``path``; ``IncidentError`` (one line) otherwise."""
    path = Path(path)
    raw = load_json_file(path, IncidentError)
    if isinstance(raw, dict) and "incidents" in raw:
        raw = raw["incidents"]
    if not isinstance(raw, list):
        raise IncidentError(f'{path}: expected a list of incidents (or {{"incidents": [...]}})')
    if not raw:
        raise IncidentError(f"{path}: the list of incidents is empty")
    incidents = [parse_incident(i, item, str(path)) for i, item in enumerate(raw)]
    seen: dict[str, int] = {}
    for i, incident in enumerate(incidents):
        if incident.id in seen:
            raise IncidentError(
                f"{path}: incident {i} (id {incident.id!r}): field 'id' repeats incident "
                f"{seen[incident.id]}"
            )
        seen[incident.id] = i
    return incidents


def parse_incident(index: int, item: Any, where: str) -> Incident:
    """One incident from its JSON; ``IncidentError`` naming ``where``, the index, the id and
    the field at the first problem."""
    label = f"{where}: incident {index}"
    if not isinstance(item, dict):
        raise IncidentError(f"{label}: expected an object, got {type(item).__name__}")
    if "id" in item and not (isinstance(item["id"], str | int) and str(item["id"]).strip()):
        raise IncidentError(f"{label}: field 'id' must be a non-empty string")
    if isinstance(item.get("id"), str | int):
        label += f" (id {str(item['id']).strip()!r})"
    unknown = sorted(set(item) - _KNOWN)
    if unknown:
        expected = ", ".join(sorted(_KNOWN))
        raise IncidentError(f"{label}: unknown field {unknown[0]!r} (expected: {expected})")
    texts: dict[str, str] = {}
    for key in _TEXT_FIELDS:
        value = item.get(key, "")
        if key == "id" and isinstance(value, int):
            value = str(value)
        if not isinstance(value, str):
            raise IncidentError(f"{label}: field {key!r} must be a string")
        texts[key] = value.strip()
    for key in ("root_cause", "resolution"):
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise IncidentError(f"{label}: field {key!r} is required: a non-empty string")
        texts[key] = value.strip()
    metrics = _metrics_text(label, item.get("metrics"))
    logs = _log_lines(label, item.get("logs"))
    if not metrics and not logs:
        raise IncidentError(f"{label}: give 'metrics' or 'logs' (or both): what was observed")
    incident_id = texts["id"] or _content_id(item)
    return Incident(
        id=incident_id,
        metrics=metrics,
        logs=logs,
        root_cause=texts["root_cause"],
        resolution=texts["resolution"],
        context=texts["context"],
        title=texts["title"],
        service=texts["service"],
        host=texts["host"],
        severity=texts["severity"],
        started_at=texts["started_at"],
    )


def _metrics_text(label: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, dict):
        parts = []
        for name, reading in value.items():
            if not isinstance(reading, str | int | float) or isinstance(reading, bool):
                raise IncidentError(f"{label}: field 'metrics.{name}' must be a number or a string")
            parts.append(f"{name}={reading}")
        return ", ".join(parts)
    raise IncidentError(f"{label}: field 'metrics' must be an object of readings or a string")


def _log_lines(label: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        lines = value.splitlines()
    elif isinstance(value, list) and all(isinstance(line, str) for line in value):
        lines = list(value)
    else:
        raise IncidentError(f"{label}: field 'logs' must be a list of strings or a string")
    return tuple(line.rstrip() for line in lines if line.strip())[:MAX_LOG_LINES]


def _content_id(item: Mapping[str, Any]) -> str:
    """An id for an incident without one: from what names it (title, service, host, start)
    when it has a title or a start time, so that editing its resolution later updates the
    same sample; else from its whole content."""
    naming = {k: item.get(k) for k in ("title", "service", "host", "started_at")}
    basis = naming if item.get("title") or item.get("started_at") else item
    canonical = json.dumps(basis, sort_keys=True, ensure_ascii=False, default=str)
    return "incident-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------ samples
def sample_id(incident_id: str) -> str:
    """The stable sample id of an incident (same incident id, same sample id)."""
    key = hashlib.sha256(f"{INCIDENT_TYPE}|{incident_id}".encode()).hexdigest()[:16]
    return f"{INCIDENT_TYPE}-{key}-{MODEL}"


def incident_sample(
    incident: Incident, redactor: Redactor, *, session_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """The ``incident_analysis`` sample of ``incident``, every text redacted."""
    observed = []
    if incident.metrics:
        observed.append(f"Metrics: {incident.metrics}")
    if incident.logs:
        observed.append("Logs:\n" + "\n".join(incident.logs))
    where = [
        f"{name}: {value}"
        for name, value in (
            ("Incident", incident.title),
            ("Service", incident.service),
            ("Host", incident.host),
            ("Severity", incident.severity),
            ("Started", incident.started_at),
        )
        if value
    ]
    if incident.context:
        where.append(incident.context)
    input_text = redactor.redact("\n".join(observed))
    context = redactor.redact("\n".join(where))
    output = redactor.redact(
        f"Root cause: {incident.root_cause}\nResolution: {incident.resolution}"
    )
    prompt = input_text + (f"\n\nContext:\n{context}" if context else "")
    stamp = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    return {
        "id": sample_id(incident.id),
        "type": INCIDENT_TYPE,
        "prompt": prompt,
        "response": output,
        "model": MODEL,
        "model_type": MODEL_TYPE,
        "session_id": session_id,
        "timestamp": stamp.isoformat(timespec="microseconds"),
        "generation_batch": 0,
        "term": redactor.redact(incident.id),
        "category": incident.service or "incident",
        "system": SYSTEM,
        "input": input_text,
        "context": context,
        "output": output,
    }


def load_incidents_dataset(path: Path) -> dict[str, Any] | None:
    """The validated ``incidents_dataset.json`` at ``path``; ``None`` when there is none."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the incidents dataset ({exc})") from None
    return parse_language_dataset(text, str(path))


_CONTENT = ("prompt", "response", "input", "context", "output", "category", "system", "term")


def merge_incident_samples(
    incidents: Sequence[Incident],
    dataset: Path,
    redactor: Redactor,
    *,
    now: datetime | None = None,
) -> MergeResult:
    """Make the samples of ``incidents`` and merge them into ``dataset`` by id (atomically):
    new ones are added, changed ones replaced, identical ones left alone."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    session_id = now.strftime("incidents_%Y%m%d_%H%M%S")
    doc = load_incidents_dataset(dataset)
    existing: list[dict[str, Any]] = list(doc["samples"]) if doc else []
    position = {s["id"]: i for i, s in enumerate(existing)}
    made = [incident_sample(i, redactor, session_id=session_id, now=now) for i in incidents]
    added = updated = unchanged = 0
    for sample in made:
        at = position.get(sample["id"])
        if at is None:
            position[sample["id"]] = len(existing)
            existing.append(sample)
            added += 1
        elif all(existing[at].get(k) == sample.get(k) for k in _CONTENT):
            unchanged += 1
        else:
            existing[at] = sample
            updated += 1
    if added or updated or doc is None:
        content = "\n".join(f"{s['id']}\x1f{s['prompt']}\x1f{s['response']}" for s in existing)
        out = to_document(
            existing,
            session_id=session_id,
            config_hash=hashlib.sha256(content.encode()).hexdigest(),
            new_samples_added=added,
            model_pool=[MODEL],
            swap_interval=0,
            questions_processed=len(existing),
            generator=GENERATOR,
            generated_at=now,
        )
        write_json_atomic(dataset, out)
    return MergeResult(
        incidents=len(incidents),
        added=added,
        updated=updated,
        unchanged=unchanged,
        total=len(existing),
        samples=made,
    )
