"""``language_dataset.json``: the language samples distilled from a pool of models, in the
origin's schema, and back.

The document is ``{"metadata": {...}, "samples": [...]}``. ``metadata`` carries
``generated_at``, ``generator``, ``session_id``, ``total_samples``, ``new_samples_added``,
``config_hash``, ``sample_distribution`` (samples per type), ``model_distribution`` (samples per
model) and ``rotation_info`` (``total_models``, ``model_pool``, ``swap_interval``,
``questions_processed``). Each sample carries ``id``, ``type``, ``prompt``, ``response``,
``model``, ``model_type``, ``session_id``, ``timestamp``, ``generation_batch``, ``term`` and
``category`` (and optionally ``system``, the system prompt it was asked with).

``load_language_dataset`` validates before it returns: anything wrong is a ``DatasetError`` of
one line naming the sample and the field. ``incidents_dataset.json`` has the same shape (its
samples add ``input``, ``context`` and ``output``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.metrics_dataset import DatasetError, expect_field, parse_document, show_value

GENERATOR = "vigil-distill-v1"

SAMPLE_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "type": (str,),
    "prompt": (str,),
    "response": (str,),
    "model": (str,),
    "model_type": (str,),
    "session_id": (str,),
    "timestamp": (str,),
    "generation_batch": (int,),
    "term": (str,),
    "category": (str,),
}
OPTIONAL_FIELDS: dict[str, tuple[type, ...]] = {
    "system": (str,),
    "input": (str,),
    "context": (str,),
    "output": (str,),
}
_META: dict[str, tuple[type, ...]] = {
    "generated_at": (str,),
    "generator": (str,),
    "session_id": (str,),
    "total_samples": (int,),
    "new_samples_added": (int,),
    "config_hash": (str,),
    "sample_distribution": (dict,),
    "model_distribution": (dict,),
    "rotation_info": (dict,),
}
_ROTATION: dict[str, tuple[type, ...]] = {
    "total_models": (int,),
    "model_pool": (list,),
    "swap_interval": (int,),
    "questions_processed": (int,),
}
_FAST = {k: frozenset(t) for k, t in SAMPLE_FIELDS.items()}


def to_document(
    samples: Iterable[Mapping[str, Any]],
    *,
    session_id: str,
    config_hash: str,
    new_samples_added: int,
    model_pool: list[str],
    swap_interval: int,
    questions_processed: int,
    generator: str = GENERATOR,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The origin's ``language_dataset.json`` document over ``samples`` (kept in order)."""
    rows = [dict(s) for s in samples]
    when = (generated_at or datetime.now(UTC)).astimezone(UTC)
    return {
        "metadata": {
            "generated_at": when.strftime("%Y-%m-%dT%H:%M:%S"),
            "generator": generator,
            "session_id": session_id,
            "total_samples": len(rows),
            "new_samples_added": new_samples_added,
            "config_hash": config_hash,
            "sample_distribution": dict(Counter(s["type"] for s in rows).most_common()),
            "model_distribution": dict(Counter(s["model"] for s in rows).most_common()),
            "rotation_info": {
                "total_models": len(model_pool),
                "model_pool": list(model_pool),
                "swap_interval": swap_interval,
                "questions_processed": questions_processed,
            },
        },
        "samples": rows,
    }


# ------------------------------------------------------------------------------ validation
def validate_document(doc: Any) -> None:
    """Raise ``DatasetError`` at the first thing in ``doc`` that breaks the schema."""
    if not isinstance(doc, dict):
        raise DatasetError("the top level must be an object with metadata and samples")
    meta = expect_field("top level", doc, "metadata", (dict,))
    for key, types in _META.items():
        expect_field("metadata", meta, key, types)
    for key, types in _ROTATION.items():
        expect_field("metadata.rotation_info", meta["rotation_info"], key, types)
    samples = expect_field("top level", doc, "samples", (list,))
    if meta["total_samples"] != len(samples):
        raise DatasetError(
            f"metadata: field 'total_samples' is {meta['total_samples']} but there are "
            f"{len(samples)} samples"
        )
    seen: set[str] = set()
    for i, sample in enumerate(samples):
        check_sample(i, sample)
        if sample["id"] in seen:
            raise DatasetError(f"samples[{i}] (id {sample['id']!r}): field 'id' repeats")
        seen.add(sample["id"])


def check_sample(i: int, sample: Any) -> None:
    """Raise ``DatasetError`` naming the first field of ``sample`` (at index ``i``) that breaks
    the schema."""
    if sample.__class__ is dict and all(
        sample.get(k).__class__ in t for k, t in _FAST.items()
    ):  # the common case: every field there with its exact JSON type
        _check_values(f"samples[{i}] (id {sample['id']!r})", sample)
        return
    where = f"samples[{i}]"
    if not isinstance(sample, dict):
        raise DatasetError(f"{where}: must be an object, got {show_value(sample)}")
    if isinstance(sample.get("id"), str):
        where += f" (id {sample['id']!r})"
    for key, types in SAMPLE_FIELDS.items():
        expect_field(where, sample, key, types)
    _check_values(where, sample)


def _check_values(where: str, sample: dict[str, Any]) -> None:
    for key, types in OPTIONAL_FIELDS.items():
        if key in sample:
            expect_field(where, sample, key, types)
    for key in ("id", "type", "model", "response"):
        if not sample[key].strip():
            raise DatasetError(f"{where}: field {key!r} is empty")
    try:
        datetime.fromisoformat(sample["timestamp"])
    except ValueError:
        raise DatasetError(
            f"{where}: field 'timestamp' must be an ISO time, got {show_value(sample['timestamp'])}"
        ) from None


# ------------------------------------------------------------------------------ files
def parse_language_dataset(text: str, where: str) -> dict[str, Any]:
    """The validated document in ``text``; ``DatasetError`` naming ``where`` otherwise."""
    return parse_document(text, where, validate_document)


def load_language_dataset(path: Path) -> dict[str, Any]:
    """The validated document at ``path``; ``DatasetError`` (one line) when it is missing, not
    JSON, or off the schema."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(
            f"{path}: no language dataset there; run `vigil dataset generate` first"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the language dataset ({exc})") from None
    return parse_language_dataset(text, str(path))


__all__ = [
    "GENERATOR",
    "OPTIONAL_FIELDS",
    "SAMPLE_FIELDS",
    "check_sample",
    "load_language_dataset",
    "parse_language_dataset",
    "to_document",
    "validate_document",
]
