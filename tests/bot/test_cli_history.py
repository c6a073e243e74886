"""``vigil import-history``: from a real Prometheus over a date range and from OpenMetrics files,
into a real store; progress is recorded per chunk, so a second run resumes where the first
stopped, and ``--restart`` starts over."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from bot.history import IMPORTS_DIR
from tests.servers.prometheus import PrometheusServer, spike_history


def last_line(output: str) -> str:
    return [
        line for line in output.splitlines() if line.startswith(("prometheus:", "openmetrics:"))
    ][-1]


def progress_file(data_dir: Path) -> Path:
    (found,) = (data_dir / IMPORTS_DIR).glob("*/progress.json")
    return found


def test_prometheus_import_in_chunks_resumes_and_restarts(
    cli: CliRunner, prometheus_server: PrometheusServer, data_dir: Path
) -> None:
    history = prometheus_server.history
    args = [
        "import-history", "prometheus", "--url", prometheus_server.url, "--chunk", "1h",
        "--from", history.start.isoformat(), "--to", history.end.isoformat(),
    ]  # fmt: skip
    first = cli.invoke(app, args)
    assert first.exit_code == 0, first.output
    line = last_line(first.output)
    assert " ok; " in line and "documents (" in line
    assert json.loads(progress_file(data_dir).read_text())["done_until"] == history.end.isoformat()
    stats = json.loads(cli.invoke(app, ["kb", "stats", "--json"]).output)
    assert stats["by_source"]["prometheus"] > 10
    found = cli.invoke(app, ["kb", "search", "shop-1 slow responses", "--json"])
    spike = [r for r in json.loads(found.output) if "shop-1" in r["text"]]
    assert spike and "latency_p95_ms" in spike[0]["text"]

    # an import stopped after its first two chunks: the next run does only the last one
    marker = progress_file(data_dir)
    marker.write_text(json.dumps({"done_until": (history.start + timedelta(hours=2)).isoformat()}))
    resumed = cli.invoke(app, args)
    assert resumed.exit_code == 0, resumed.output
    assert "resuming at" in resumed.output
    assert last_line(resumed.output).startswith(
        f"prometheus: {history.start + timedelta(hours=2):%Y-%m-%d %H:%M}–{history.end:%H:%M}"
    )
    again = cli.invoke(app, [*args, "--restart"])
    assert again.exit_code == 0 and "resuming" not in again.output
    assert last_line(again.output).startswith(f"prometheus: {history.start:%Y-%m-%d %H:%M}")
    assert "0 new" in last_line(again.output)  # the same ids as the first run: no duplicates


def test_prometheus_import_says_why_it_cannot_start(cli: CliRunner) -> None:
    no_url = cli.invoke(app, ["import-history", "prometheus", "--from", "2d"])
    assert no_url.exit_code == 2 and "give --url or set PROMETHEUS_URL" in no_url.output
    bad_date = cli.invoke(app, ["import-history", "prometheus", "--from", "last tuesday"])
    assert bad_date.exit_code == 2 and "expected a date (2026-11-01)" in bad_date.output
    down = cli.invoke(
        app, ["import-history", "prometheus", "--from", "2d", "--url", "http://127.0.0.1:9"]
    )
    assert down.exit_code == 1 and "connection refused" in down.output.lower()


def test_openmetrics_import_then_nothing_left_to_do(
    cli: CliRunner, tmp_path: Path, data_dir: Path
) -> None:
    history = spike_history(hours=2)
    path = tmp_path / "history.om"
    path.write_text(history.openmetrics())
    first = cli.invoke(app, ["import-history", "openmetrics", str(path), "--chunk", "30m"])
    assert first.exit_code == 0, first.output
    assert "1 file(s), samples" in first.output
    line = last_line(first.output)
    assert " ok; " in line and f"{len(history.series) * 120} items read" in line
    second = cli.invoke(app, ["import-history", "openmetrics", str(path)])
    assert second.exit_code == 0 and "0 documents" in last_line(second.output)
    missing = cli.invoke(app, ["import-history", "openmetrics", str(tmp_path / "nope.om")])
    assert missing.exit_code == 1 and "nope.om" in missing.output


def test_log_import_from_a_folder_and_a_gz_file_resumes_and_restarts(
    cli: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    lines = []
    for i in range(600):
        ts = (start + timedelta(seconds=3 * i)).isoformat()
        if i % 10 == 0:
            msg = f"HikariPool-1 - Connection is not available, request timed out after {i}ms"
            lines.append(json.dumps({"ts": ts, "level": "ERROR", "msg": msg}))
        else:
            lines.append(json.dumps({"ts": ts, "level": "INFO", "msg": f"charge {i} ok"}))
    (folder / "payments.log").write_text("\n".join(lines[300:]) + "\n")
    with gzip.open(folder / "payments.log.1.gz", "wt") as old:
        old.write("\n".join(lines[:300]) + "\n")
    first = cli.invoke(app, ["import-history", "logs", str(folder)])
    assert first.exit_code == 0, first.output
    line = [x for x in first.output.splitlines() if x.startswith("logs: ")][-1]
    assert line.startswith("logs: 1 path(s), ") and "600 items read" in line
    found = json.loads(
        cli.invoke(app, ["kb", "search", "connection pool timed out", "--json"]).output
    )
    hits = [r for r in found if "HikariPool" in r["text"]]
    assert hits and hits[0]["source"] == "files"
    again = cli.invoke(app, ["import-history", "logs", str(folder)])
    assert "0 items read" in again.output  # resumed: everything was committed
    redo = cli.invoke(app, ["import-history", "logs", str(folder), "--restart"])
    assert "600 items read" in redo.output and " 0 new" in redo.output.replace("(0 new", " 0 new")
    absent = cli.invoke(app, ["import-history", "logs", str(tmp_path / "nowhere")])
    assert absent.exit_code == 1 and "no such file or folder" in absent.output
