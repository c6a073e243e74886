"""``vigil ask`` and ``vigil kb``, run in-process (the embedding model is loaded once per test
session) against a store filled through the same commands."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app


def test_add_runbooks_then_stats_search_and_ask(cli: CliRunner, config_dir: Path) -> None:
    added = cli.invoke(app, ["kb", "add-runbooks", str(config_dir / "runbooks")])
    assert added.exit_code == 0, added.output
    assert "sections" in added.output

    stats = cli.invoke(app, ["kb", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    figures = json.loads(stats.output)
    assert figures["by_source"]["runbook"] > 20
    assert any("FTS" in name for name in figures["indexes"])

    found = cli.invoke(app, ["kb", "search", "disk full", "--source", "runbook", "--json"])
    assert found.exit_code == 0, found.output
    rows = json.loads(found.output)
    assert rows and all(r["source"] == "runbook" for r in rows)
    assert "Disk" in rows[0]["text"]

    asked = cli.invoke(app, ["ask", "how do I fix a full disk?", "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.output)
    assert answer["provider"] == "extractive" and answer["latency_ms"] > 0
    assert answer["sources"] and {"source", "id", "ts", "snippet", "score"} <= set(
        answer["sources"][0]
    )
    assert "runbook" in answer["answer"].lower()

    again = cli.invoke(app, ["kb", "add-runbooks", str(config_dir / "runbooks")])
    assert "0 new" in again.output and "0 embedded" in again.output


def test_bad_input_is_a_clear_error(cli: CliRunner, data_dir: Path) -> None:
    empty = cli.invoke(app, ["ask", "  "])
    assert empty.exit_code == 2 and "empty" in empty.output
    huge = cli.invoke(app, ["ask", "x" * 100_000])
    assert huge.exit_code == 2 and "4,000" in huge.output
    bad_source = cli.invoke(app, ["kb", "search", "x", "--source", "nope"])
    assert bad_source.exit_code == 2 and "expected one of" in bad_source.output
    bad_since = cli.invoke(app, ["kb", "search", "x", "--since", "yesterday"])
    assert bad_since.exit_code == 2 and "--since" in bad_since.output


def test_a_corrupt_store_fails_with_its_path_and_keeps_other_state(
    cli: CliRunner, config_dir: Path, data_dir: Path
) -> None:
    assert cli.invoke(app, ["kb", "add-runbooks", str(config_dir / "runbooks")]).exit_code == 0
    (data_dir / "scheduler.sqlite").write_bytes(b"keep me")
    for path in (data_dir / "lancedb").rglob("*.manifest"):
        path.write_bytes(b"not a manifest")
    result = cli.invoke(app, ["kb", "stats"])
    assert result.exit_code == 1
    assert str(data_dir / "lancedb") in result.output and "Nothing was deleted" in result.output
    assert (data_dir / "scheduler.sqlite").read_bytes() == b"keep me"
    assert any((data_dir / "lancedb").rglob("*.manifest"))
