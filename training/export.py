"""Fine-tuning exports of the language (and incidents) datasets, redacted on the way out.

Formats (one sample each, ``ids`` unique, dataset order kept):

- ``openai-chat``: JSONL of ``{"messages": [system, user, assistant]}``, what OpenAI
  fine-tuning (and most chat SFT trainers) take;
- ``alpaca``: a JSON array of ``{"instruction", "input", "output"}`` (plus ``system`` when the
  sample has one), as Stanford Alpaca and LLaMA-Factory read it;
- ``jsonl``: JSONL in the origin's shape ``{"id", "type", "input", "context", "output"}``.

Every text passes through the ``Redactor`` first: secrets and personal data never reach an
export, whatever the dataset holds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.redaction import Redactor
from knowledge.statefile import write_bytes_atomic
from training.dataset_paths import INCIDENT_TYPE, SAMPLE_TYPES, DatasetPaths
from training.metrics_dataset import DatasetError

FORMATS: tuple[str, ...] = ("openai-chat", "alpaca", "jsonl")
EXTENSIONS: dict[str, str] = {"openai-chat": "jsonl", "alpaca": "json", "jsonl": "jsonl"}
EXPORT_TYPES: tuple[str, ...] = (*SAMPLE_TYPES, INCIDENT_TYPE)
DEFAULT_SYSTEM = (
    "You are Vigil, an observability assistant for an operations team. Answer precisely and "
    "practically, from monitoring, logs and runbook experience."
)
"""The system message of samples that were generated without one."""


class ExportError(DatasetError):
    """Nothing to export, or a bad format or type (one line)."""


@dataclass(frozen=True)
class ExportResult:
    """What one export wrote."""

    path: Path
    format: str
    count: int
    by_type: dict[str, int] = field(default_factory=dict)
    redacted: int = 0
    """Sample texts that redaction changed."""


def check_format(fmt: str) -> str:
    """``fmt`` when it is one of ``FORMATS``, else ``ExportError``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def check_types(types: Iterable[str] | None) -> tuple[str, ...] | None:
    """The sample types asked for (commas allowed inside an item), checked; None for all."""
    if types is None:
        return None
    wanted = tuple(t.strip() for item in types for t in item.split(",") if t.strip())
    for name in wanted:
        if name not in EXPORT_TYPES:
            raise ExportError(
                f"unknown sample type {name!r}: expected one of {', '.join(EXPORT_TYPES)}"
            )
    return wanted or None


def collect_samples(
    paths: DatasetPaths,
    *,
    types: Sequence[str] | None = None,
    include_incidents: bool = True,
) -> list[dict[str, Any]]:
    """The samples of the language dataset, then (with ``include_incidents``) the incidents
    dataset, of ``types`` (None: all), each id once. Files that do not exist contribute none;
    a file that does not validate raises ``DatasetError``."""
    from training.incidents import load_incidents_dataset
    from training.language_dataset import load_language_dataset

    docs = []
    if paths.language.exists():
        docs.append(load_language_dataset(paths.language))
    if include_incidents and (incidents := load_incidents_dataset(paths.incidents)) is not None:
        docs.append(incidents)
    wanted = set(types) if types else None
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for doc in docs:
        for sample in doc["samples"]:
            if sample["id"] in seen or (wanted is not None and sample["type"] not in wanted):
                continue
            seen.add(sample["id"])
            out.append(sample)
    return out


def default_output(paths: DatasetPaths, fmt: str, samples: Sequence[dict[str, Any]]) -> Path:
    """``exports/<dataset>_<format>.<ext>``: the dataset is ``language``, ``incidents`` or
    ``language_incidents`` after what the samples came from."""
    kinds = {s["type"] == INCIDENT_TYPE for s in samples}
    stem = {
        frozenset({False}): "language",
        frozenset({True}): "incidents",
    }.get(frozenset(kinds), "language_incidents")
    return paths.exports / f"{stem}_{fmt}.{EXTENSIONS[fmt]}"


def _redact(text: str, redactor: Redactor, changed: list[bool]) -> str:
    clean = redactor.redact(text)
    if clean != text:
        changed[0] = True
    return clean


def render_records(
    samples: Iterable[dict[str, Any]], fmt: str, redactor: Redactor
) -> tuple[list[dict[str, Any]], int]:
    """The records of ``samples`` in ``fmt``, redacted, and how many samples redaction
    changed."""
    check_format(fmt)
    records: list[dict[str, Any]] = []
    redacted = 0
    for sample in samples:
        changed = [False]
        prompt = _redact(sample["prompt"], redactor, changed)
        response = _redact(sample["response"], redactor, changed)
        system = _redact(sample.get("system") or "", redactor, changed)
        if fmt == "openai-chat":
            records.append(
                {
                    "messages": [
                        {"role": "system", "content": system or DEFAULT_SYSTEM},
                        {"role": "user", "content": prompt},
                        {"role": "assistant", "content": response},
                    ]
                }
            )
        elif fmt == "alpaca":
            incident = sample["type"] == INCIDENT_TYPE and "input" in sample
            record = {
                "instruction": _redact(sample["input"], redactor, changed) if incident else prompt,
                "input": _redact(sample.get("context", ""), redactor, changed) if incident else "",
                "output": response,
            }
            if system:
                record["system"] = system
            records.append(record)
        else:
            records.append(
                {
                    "id": sample["id"],
                    "type": sample["type"],
                    "input": _redact(sample.get("input", prompt), redactor, changed),
                    "context": _redact(sample.get("context", ""), redactor, changed),
                    "output": _redact(sample.get("output", response), redactor, changed),
                }
            )
        redacted += changed[0]
    return records, redacted


def write_records(records: Sequence[dict[str, Any]], fmt: str, output: Path) -> None:
    """Write ``records`` to ``output`` atomically: JSON lines, or a JSON array for alpaca."""
    if EXTENSIONS[check_format(fmt)] == "json":
        text = json.dumps(list(records), ensure_ascii=False, indent=1) + "\n"
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    write_bytes_atomic(output, text.encode("utf-8"))


def export_samples(
    samples: Sequence[dict[str, Any]], fmt: str, output: Path, redactor: Redactor
) -> ExportResult:
    """Write ``samples`` to ``output`` in ``fmt``, redacted."""
    records, redacted = render_records(samples, fmt, redactor)
    write_records(records, fmt, output)
    by_type = dict(Counter(s["type"] for s in samples).most_common())
    return ExportResult(Path(output), fmt, len(records), by_type, redacted)


def export_dataset(
    paths: DatasetPaths,
    fmt: str,
    redactor: Redactor,
    *,
    output: Path | None = None,
    types: Sequence[str] | None = None,
    include_incidents: bool = True,
) -> ExportResult:
    """Export the datasets in ``paths`` (``vigil dataset export``); ``ExportError`` when there
    is nothing to export."""
    check_format(fmt)
    samples = collect_samples(paths, types=types, include_incidents=include_incidents)
    if not samples:
        which = f" of type {', '.join(types)}" if types else ""
        raise ExportError(
            f"{paths.root}: no samples{which} to export; run `vigil dataset generate` or "
            "`vigil dataset from-incidents FILE` first"
        )
    return export_samples(samples, fmt, output or default_output(paths, fmt, samples), redactor)
