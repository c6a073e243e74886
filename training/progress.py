"""Progress of the language dataset: what every (prompt, model) pair came to, the rotation, the
targets and the throughput, in ``generation_progress.json`` (JSON with a checksum; the origin's
pickle was unsafe to load).

Between checkpoints, every outcome is also appended to a journal (``language_dataset.journal``,
one JSON event per line, flushed as it happens), so a kill -9 loses nothing that completed: on
the next start the journal is replayed over the last checkpoint. Events carry a sequence number;
the progress file says which were folded in, so a replay applies each one once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.statefile import state_write_error
from training.dataset_files import parse_sealed, write_sealed
from training.metrics_dataset import DatasetError

log = logging.getLogger(__name__)

FORMAT = 1
OK, REJECTED, FAILED = "ok", "rejected", "failed"


@dataclass
class Outcome:
    """What one model's answer to one prompt came to."""

    status: str  # ok | rejected | failed
    reason: str = ""  # why rejected (a quality reason) or failed (the provider's message)
    attempts: int = 1
    at: str = ""  # ISO time

    def to_json(self) -> list[Any]:
        return [self.status, self.reason, self.attempts, self.at]

    @classmethod
    def from_json(cls, raw: Any) -> Outcome:
        status, reason, attempts, at = raw
        if status not in (OK, REJECTED, FAILED):
            raise ValueError(f"unknown outcome {status!r}")
        return cls(str(status), str(reason), int(attempts), str(at))


@dataclass
class Progress:
    """Everything needed to resume, retry and report. ``outcomes[type][item][member]``."""

    config_hash: str = ""
    session_id: str = ""
    known_items: set[str] = field(default_factory=set)
    pending_new: set[str] = field(default_factory=set)
    """Prompts new in the last vocabulary change, still to ask first (survives an interrupted
    run)."""
    targets: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, dict[str, dict[str, Outcome]]] = field(default_factory=dict)
    questions_processed: int = 0
    next_seq: int = 1
    folded_seq: int = 0
    sessions: list[dict[str, Any]] = field(default_factory=list)
    """The last sessions' statistics (newest last): id, started, seconds, generated, rate."""

    # ------------------------------------------------------------------ queries
    def outcome(self, type_: str, item: str, member: str) -> Outcome | None:
        return self.outcomes.get(type_, {}).get(item, {}).get(member)

    def item_outcomes(self, type_: str, item: str) -> dict[str, Outcome]:
        return self.outcomes.get(type_, {}).get(item, {})

    def counts(self, type_: str) -> Counter[str]:
        """Outcomes of ``type_`` by status."""
        return Counter(
            o.status for per in self.outcomes.get(type_, {}).values() for o in per.values()
        )

    def failures(self) -> list[tuple[str, str, str, Outcome]]:
        """Every failed (type, item, member, outcome)."""
        return [
            (t, item, member, o)
            for t, items in self.outcomes.items()
            for item, per in items.items()
            for member, o in per.items()
            if o.status == FAILED
        ]

    def rejected_reasons(self) -> Counter[str]:
        return Counter(
            o.reason.split(":")[0]
            for items in self.outcomes.values()
            for per in items.values()
            for o in per.values()
            if o.status == REJECTED
        )

    def rate(self) -> float | None:
        """Samples per second over the recent sessions that made any."""
        made = [s for s in self.sessions[-5:] if s.get("generated") and s.get("seconds")]
        if not made:
            return None
        return sum(s["generated"] for s in made) / sum(s["seconds"] for s in made)

    # ------------------------------------------------------------------ changes
    def record(self, type_: str, item: str, member: str, outcome: Outcome) -> None:
        self.outcomes.setdefault(type_, {}).setdefault(item, {})[member] = outcome

    def forget(self, type_: str, item: str, member: str) -> None:
        per = self.outcomes.get(type_, {}).get(item)
        if per is not None:
            per.pop(member, None)
            if not per:
                del self.outcomes[type_][item]

    def apply(self, event: dict[str, Any]) -> None:
        """Apply one journal event (idempotent: applying it twice changes nothing more)."""
        kind = event["kind"]
        if kind in (OK, REJECTED, FAILED):
            self.record(
                event["type"],
                event["item"],
                event["member"],
                Outcome(kind, event.get("reason", ""), event.get("attempts", 1), event["at"]),
            )
            self.questions_processed = max(self.questions_processed, int(event["q"]) + 1)
        self.next_seq = max(self.next_seq, int(event["seq"]) + 1)

    # ------------------------------------------------------------------ files
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "config_hash": self.config_hash,
            "session_id": self.session_id,
            "known_items": sorted(self.known_items),
            "pending_new": sorted(self.pending_new),
            "targets": dict(self.targets),
            "outcomes": {
                t: {i: {m: o.to_json() for m, o in per.items()} for i, per in items.items()}
                for t, items in self.outcomes.items()
            },
            "rotation": {"questions_processed": self.questions_processed},
            "next_seq": self.next_seq,
            "folded_seq": self.folded_seq,
            "sessions": self.sessions[-20:],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Progress:
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        return cls(
            config_hash=str(doc["config_hash"]),
            session_id=str(doc["session_id"]),
            known_items=set(doc["known_items"]),
            pending_new=set(doc.get("pending_new", ())),
            targets={str(k): int(v) for k, v in doc["targets"].items()},
            outcomes={
                t: {
                    i: {m: Outcome.from_json(o) for m, o in per.items()} for i, per in items.items()
                }
                for t, items in doc["outcomes"].items()
            },
            questions_processed=int(doc["rotation"]["questions_processed"]),
            next_seq=int(doc["next_seq"]),
            folded_seq=int(doc["folded_seq"]),
            sessions=list(doc["sessions"]),
        )

    def save(self, path: Path) -> None:
        write_sealed(path, self.to_json())


def parse_progress(text: str, where: str) -> Progress:
    """The progress in ``text``; ``DatasetError`` when it is damaged."""
    body = parse_sealed(text, where)
    try:
        return Progress.from_json(body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DatasetError(f"{where}: not a progress file ({type(exc).__name__}: {exc})") from None


# ------------------------------------------------------------------------------ journal
class Journal:
    """Events appended one JSON line at a time and written at once, so they survive the process
    being killed; ``sync()`` also makes them survive a power cut. An append that fails (a full
    disk) takes back what it wrote, so the journal holds whole lines only, and raises
    ``StateWriteError``; a line cut short by a kill is closed before the next append."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._size = 0  # the journal's length up to its last whole line

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise state_write_error(self.path, exc) from exc
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a line cut short by a kill
            try:
                _write_all(fd, b"\n")
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                os.close(fd)
                raise state_write_error(self.path, exc) from exc
            size += 1
        self._fd, self._size = fd, size
        return fd

    def append(self, event: dict[str, Any]) -> None:
        fd = self._fd if self._fd is not None else self._open()
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            _write_all(fd, line)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)  # no half line left behind
            raise state_write_error(self.path, exc) from exc
        self._size += len(line)

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def clear(self) -> None:
        """Empty the journal (after its events were folded into a checkpoint)."""
        self.close()
        with self.path.open("w", encoding="utf-8") as handle:
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """The events in the journal, and how many lines were unreadable (the last line of a
        process killed mid-write; anything else is damage)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return [], 0
        events, bad = [], 0
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                if not isinstance(event, dict) or "seq" not in event or "kind" not in event:
                    raise ValueError("not an event")
            except ValueError:
                bad += 1
                continue
            events.append(event)
        return events, bad


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]
