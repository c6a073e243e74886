"""``vigil ingest`` in-process: a custom source named in config by import path is ingested,
resumes at its watermark, and feeds ``vigil ask``; wrong names and no sources exit clearly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from typer.testing import CliRunner

from bot.cli import app


def add_deploys_source(config_dir: Path, log: Path) -> None:
    path = config_dir / "ai-config.yml"
    config = yaml.safe_load(path.read_text())
    config["sources"]["custom"] = {
        "deploys": {
            "class": "knowledge.sources.example_deploys:DeploysSource",
            "settle": "0s",
            "options": {"path": str(log)},
        }
    }
    path.write_text(yaml.safe_dump(config))


def event(minutes_ago: int, **fields: str) -> str:
    ts = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return json.dumps({"ts": ts.isoformat(), **fields}) + "\n"


def result_line(output: str) -> str:
    """The command's own result line (log lines share the captured output)."""
    return [line for line in output.splitlines() if line.startswith("deploys: ")][-1]


def test_ingest_a_custom_source_then_ask_about_it(
    cli: CliRunner, config_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "deploys.jsonl"
    log.write_text(
        event(50, service="payments", version="2.7.0", who="ci", note="HikariCP pool 10 -> 4")
        + event(40, service="checkout", version="9.1.3", who="ci")
    )
    add_deploys_source(config_dir, log)
    first = cli.invoke(app, ["ingest"])
    assert first.exit_code == 0, first.output
    assert "2 documents (2 new" in result_line(first.output)

    again = cli.invoke(app, ["ingest", "--source", "deploys"])
    assert again.exit_code == 0, again.output
    assert result_line(again.output) in ("deploys: nothing due yet",) or (
        "0 documents" in result_line(again.output)
    )  # resumed at the watermark

    redo = cli.invoke(app, ["ingest", "--since", "3h"])
    assert redo.exit_code == 0, redo.output
    assert "2 documents (0 new, 2 updated, 0 embedded)" in result_line(redo.output)  # same ids

    asked = cli.invoke(app, ["ask", "what was deployed to payments recently?", "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.output)
    assert any("Deploy of payments version 2.7.0" in s["snippet"] for s in answer["sources"])


def test_ingest_names_unknown_sources_and_missing_configuration(
    cli: CliRunner, config_dir: Path, tmp_path: Path
) -> None:
    nothing = cli.invoke(app, ["ingest"])
    assert nothing.exit_code == 1
    assert "no source is configured: set PROMETHEUS_URL" in nothing.output
    add_deploys_source(config_dir, tmp_path / "deploys.jsonl")
    unknown = cli.invoke(app, ["ingest", "--source", "prometheus"])
    assert unknown.exit_code == 2
    assert "--source prometheus: not configured; configured: deploys" in unknown.output
    bad = cli.invoke(app, ["ingest", "--since", "yesterday"])
    assert bad.exit_code == 2 and "--since yesterday: expected a duration" in bad.output
    down = cli.invoke(app, ["ingest"])  # the deploy log does not exist yet
    assert down.exit_code == 1
    assert result_line(down.output).startswith("deploys: error: cannot read")
