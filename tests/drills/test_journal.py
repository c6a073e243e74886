"""The dataset journal after a kill cut its last line short, and on a full disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.statefile import StateWriteError
from tests.drills.conftest import Disk
from training.progress import Journal


def event(seq: int, size: int = 10) -> dict[str, object]:
    return {"seq": seq, "kind": "ok", "pad": "x" * size}


def test_a_line_cut_short_by_a_kill_does_not_swallow_the_next_event(tmp_path: Path) -> None:
    path = tmp_path / "language_dataset.journal"
    path.write_text('{"seq":1,"kind":"ok"}\n{"seq":2,"ki')  # killed mid-write
    journal = Journal(path)
    journal.append(event(3))
    journal.close()
    events, bad = Journal(path).read()
    assert [e["seq"] for e in events] == [1, 3] and bad == 1


def test_an_append_on_a_full_disk_leaves_whole_lines_only(small_disk: Disk) -> None:
    path = small_disk.path / "language_dataset.journal"
    journal = Journal(path)
    journal.append(event(1))
    small_disk.fill(leave=8192)
    with pytest.raises(StateWriteError) as err:
        for seq in range(2, 100):
            journal.append(event(seq, size=1000))
    assert "no space left on device" in str(err.value) and str(path) in str(err.value)
    small_disk.free()
    journal.append(event(100))  # the same journal carries on after the failure
    journal.close()
    text = path.read_text()
    assert text.endswith("\n")
    events, bad = Journal(path).read()
    assert bad == 0 and events[-1]["seq"] == 100
    assert [e["seq"] for e in events[:-1]] == list(range(1, len(events)))
