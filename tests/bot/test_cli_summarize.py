"""``vigil summarize THREAD.json``: reading exported threads (one-line errors), printing the
summary, and remembering it (knowledge store and incidents.json, idempotently)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.summarize import ThreadError, incidents_path, load_thread, parse_ts, run_summarize
from knowledge.embeddings import Embedder
from tests.conftest import REPO
from training.incidents import load_incidents

THREAD = REPO / "tests" / "data" / "incident_thread.json"


def write(tmp_path: Path, content: object, raw: str | None = None) -> Path:
    path = tmp_path / "thread.json"
    path.write_text(raw if raw is not None else json.dumps(content))
    return path


def test_timestamps_are_slack_or_iso() -> None:
    slack = parse_ts("1795267990.000100")
    assert slack == datetime(2026, 11, 21, 13, 33, 10, 100, tzinfo=UTC)
    assert parse_ts("2026-11-21T13:33:10Z") == slack.replace(microsecond=0)
    assert parse_ts("2026-11-21 13:33:10").tzinfo == UTC  # naive: UTC
    assert parse_ts(1795267990) == slack.replace(microsecond=0)


def test_the_exported_thread_loads_oldest_first() -> None:
    messages = load_thread(THREAD)
    assert len(messages) == 50 and messages[0].user == "alice"
    assert [m.ts for m in messages] == sorted(m.ts for m in messages)


@pytest.mark.parametrize(
    ("content", "raw", "expected"),
    [
        (None, "{not json", "not valid JSON"),
        ({"user": "a"}, None, "expected a list of messages"),
        ([], None, "the thread has no messages"),
        ([{"user": "a", "ts": "1700000000.1", "text": "x"}, "hi"], None, "message 1: expected"),
        ([{"user": "a", "text": "x"}], None, "message 0: field 'ts' is missing"),
        ([{"user": "a", "ts": "yesterday", "text": "x"}], None, "message 0: field 'ts' 'yester"),
        ([{"user": "", "ts": "1700000000", "text": "x"}], None, "message 0: field 'user' must"),
        ([{"user": "a", "ts": True, "text": "x"}], None, "message 0: field 'ts' must be"),
        ([{"user": "a", "ts": "1700000000", "text": 3}], None, "message 0: field 'text' must"),
    ],
)
def test_malformed_threads_are_one_line_errors(
    tmp_path: Path, content: object, raw: str | None, expected: str
) -> None:
    path = write(tmp_path, content, raw)
    with pytest.raises(ThreadError) as caught:
        load_thread(path)
    message = str(caught.value)
    assert expected in message and "\n" not in message and message.startswith(str(path))


def test_a_missing_file_exits_2_with_one_line(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_summarize(settings, tmp_path / "nope.json", store=False)
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == f"vigil: {tmp_path / 'nope.json'}: no such file"


def test_summarize_prints_remembers_and_a_rerun_changes_nothing(
    settings: Settings, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_summarize(settings, THREAD) == 0
    out = capsys.readouterr().out
    assert out.startswith("Incident summary: payments: latency and errors")
    assert "Root cause (suspected):" in out and "13:49 alice: restarted payments-2" in out
    assert "Remembered as inc-" in out and "added in" in out
    records = incidents_path(settings)
    incidents = load_incidents(records)  # `vigil dataset from-incidents` reads it as it is
    assert len(incidents) == 1 and "6.2.1" in incidents[0].root_cause

    assert run_summarize(settings, THREAD, as_json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == incidents[0].id and data["remembered"] is True
    assert data["actions"][0] == {
        "time": "2026-11-21T13:47:30.000261+00:00",
        "who": "bob",
        "action": "rolled back payments to 6.2.0 on both hosts",
    }
    assert len(load_incidents(records)) == 1  # merged by id


def test_no_store_prints_without_remembering(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_summarize(settings, THREAD, store=False, as_json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["remembered"] is False and data["evidence"] == []
    assert not incidents_path(settings).exists()
    assert not (Path(settings.data_dir) / "lancedb").exists()


def test_a_failed_write_prints_the_summary_and_one_line(
    settings: Settings, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    incidents_path(settings).parent.parent.mkdir(parents=True, exist_ok=True)
    incidents_path(settings).parent.write_text("a file where the folder should be")
    assert run_summarize(settings, THREAD) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("Incident summary: payments")  # the summary is not lost
    err = captured.err.strip()
    assert err.startswith("vigil: the summary could not be remembered: ") and "\n" not in err
    assert "cannot write it" in err and "Traceback" not in captured.err
