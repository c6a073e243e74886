"""The language dataset on disk while it is being generated: the dataset file, the progress file
and the journal, opened together, kept consistent, and checkpointed.

Opening recovers a damaged dataset or progress file from its newest valid backup, replays the
journal over the last checkpoint, and reconciles the two: a sample the progress does not know is
recorded as done; a pair the progress calls done whose sample is missing (lost with a damaged
file) is forgotten, so it is generated again.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from knowledge.statefile import write_json_atomic
from training.dataset_files import Backups, load_or_recover
from training.dataset_paths import SAMPLE_TYPES, DatasetPaths
from training.language_dataset import check_sample, parse_language_dataset, to_document
from training.metrics_dataset import DatasetError
from training.progress import OK, Journal, Outcome, Progress, parse_progress

log = logging.getLogger(__name__)


def split_id(sample_id: str) -> tuple[str, str, str] | None:
    """``(type, item key, member slug)`` of a generated sample's id, or None for an id in
    another form (a sample from elsewhere)."""
    parts = sample_id.split("-", 2)
    if len(parts) != 3 or parts[0] not in SAMPLE_TYPES:
        return None
    return parts[0], parts[1], parts[2]


def sample_id(type_: str, item: str, member: str) -> str:
    return f"{type_}-{item}-{member}"


@dataclass
class LanguageStore:
    paths: DatasetPaths
    backups: Backups
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)
    messages: list[str] = field(default_factory=list)
    read_only: bool = False

    def __post_init__(self) -> None:
        self.journal = Journal(self.paths.journal)
        self._per_type: Counter[str] = Counter()

    # ------------------------------------------------------------------ opening
    def open(self, *, read_only: bool = False) -> LanguageStore:
        """Load everything (see the module docstring); ``messages`` says what had to be fixed.
        ``read_only`` (status, summary): no file is moved or restored."""
        self.read_only = read_only
        dataset = load_or_recover(
            self.paths.language,
            parse_language_dataset,
            self.backups,
            "language dataset",
            read_only=read_only,
        )
        progress = load_or_recover(
            self.paths.progress, parse_progress, self.backups, "progress", read_only=read_only
        )
        self.messages = [m for m in (dataset.message, progress.message) if m]
        self.samples = {s["id"]: s for s in (dataset.value or {}).get("samples", [])}
        self.progress = progress.value or Progress()
        self._replay()
        self._reconcile()
        self._per_type = Counter(s["type"] for s in self.samples.values())
        return self

    def _replay(self) -> None:
        events, bad = self.journal.read()
        applied = 0
        for event in events:
            if event["kind"] == OK and isinstance(event.get("sample"), dict):
                try:
                    check_sample(0, event["sample"])
                except DatasetError:
                    bad += 1
                    continue
                self.samples.setdefault(event["sample"]["id"], event["sample"])
            if int(event["seq"]) > self.progress.folded_seq:
                self.progress.apply(event)
                applied += 1
        if applied and not self.read_only:
            self.messages.append(
                f"resumed: {applied} result(s) recorded after the last checkpoint were recovered "
                "from the journal"
            )
        if bad and not self.read_only:
            self.messages.append(
                f"{bad} unreadable journal line(s) skipped (a write cut short by a kill); "
                "their prompts are asked again"
            )

    def _reconcile(self) -> None:
        known = 0
        for sid in self.samples:
            parts = split_id(sid)
            if parts is not None and self.progress.outcome(*parts) is None:
                self.progress.record(*parts, Outcome(OK, at=self.samples[sid]["timestamp"]))
                known += 1
        lost = [
            (t, item, member)
            for t, items in self.progress.outcomes.items()
            for item, per in items.items()
            for member, o in per.items()
            if o.status == OK and sample_id(t, item, member) not in self.samples
        ]
        for t, item, member in lost:
            self.progress.forget(t, item, member)
        if known:
            self.messages.append(f"{known} sample(s) missing from the progress file were counted")
        if lost:
            self.messages.append(
                f"{len(lost)} sample(s) lost with the damaged file will be generated again"
            )

    # ------------------------------------------------------------------ changes
    def emit(self, event: dict[str, Any]) -> bool:
        """Record one outcome: journal first (it survives a kill), then memory. False when it
        changes nothing (a sample already there, or a pair already answered)."""
        done = self.progress.outcome(event["type"], event["item"], event["member"])
        if done is not None and done.status == OK:
            return False
        event["seq"] = self.progress.next_seq
        self.journal.append(event)
        self.progress.apply(event)
        if event["kind"] == OK and event["sample"]["id"] not in self.samples:
            self.samples[event["sample"]["id"]] = event["sample"]
            self._per_type[event["sample"]["type"]] += 1
        return True

    def count(self, type_: str) -> int:
        """Samples of ``type_`` in the dataset."""
        return self._per_type[type_]

    def checkpoint(self, **metadata: Any) -> None:
        """Write the dataset and the progress atomically, then empty the journal. ``metadata``:
        the keyword arguments of ``language_dataset.to_document`` other than the samples."""
        self.journal.sync()
        write_json_atomic(self.paths.language, to_document(self.samples.values(), **metadata))
        self.progress.folded_seq = self.progress.next_seq - 1
        self.progress.save(self.paths.progress)
        self.journal.clear()

    def close(self) -> None:
        self.journal.close()
