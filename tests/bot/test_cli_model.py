"""``vigil model`` and ``vigil anomaly score``, run in-process against a registry in the test's
data dir: train, list, promote, evaluate, and scoring CSVs (good and bad)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.cli import app

COLUMNS = ["cpu", "memory", "latency"]


def _normal(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "cpu": 45 + rng.normal(0, 3, rows),
            "memory": 60 + rng.normal(0, 1.5, rows),
            "latency": 120 + rng.normal(0, 8, rows),
        }
    )


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    _normal(1500, seed=1).to_csv(path, index=False)
    return path


@pytest.fixture
def input_csv(tmp_path: Path) -> Path:
    frame = _normal(600, seed=2)
    frame.loc[450, "memory"] += 15
    stamps = pd.date_range("2026-05-01", periods=len(frame), freq="min", tz="UTC")
    frame.insert(0, "timestamp", stamps.strftime("%Y-%m-%dT%H:%M:%SZ"))
    path = tmp_path / "input.csv"
    frame.to_csv(path, index=False)
    return path


def _one_line_error(result: object) -> str:
    stderr = result.stderr.strip()  # type: ignore[attr-defined]
    assert result.exit_code == 2, (result.exit_code, result.output)  # type: ignore[attr-defined]
    assert len(stderr.splitlines()) == 1 and stderr.startswith("vigil: "), stderr
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return stderr


def test_train_list_promote_then_score(
    cli: CliRunner, data_dir: Path, train_csv: Path, input_csv: Path, tmp_path: Path
) -> None:
    first = cli.invoke(app, ["model", "train", "--csv", str(train_csv)])
    assert first.exit_code == 0, first.output
    assert "model v0001: threshold" in first.stdout and "promoted" in first.stdout
    assert "heldout_alarm_rate" in first.stdout
    second = cli.invoke(app, ["model", "train", "--csv", str(train_csv), "--seed", "5"])
    assert second.exit_code == 0, second.output
    assert "model v0002" in second.stdout and "not promoted" in second.stdout

    listed = cli.invoke(app, ["model", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["version"], r["promoted"]) for r in rows] == [("v0001", True), ("v0002", False)]
    assert rows[1]["seed"] is None or rows[1]["config"]["seed"] == 5
    assert rows[0]["data_hash"] == rows[1]["data_hash"]
    assert 0 <= rows[0]["metrics"]["heldout_alarm_rate"] < 0.2

    promoted = cli.invoke(app, ["model", "promote", "v0002"])
    assert promoted.exit_code == 0, promoted.output
    assert "promoted v0002 (was v0001)" in promoted.stdout
    table = cli.invoke(app, ["model", "list"])
    line = next(r for r in table.stdout.splitlines() if "v0002" in r)
    assert "*" in line and "*" not in next(r for r in table.stdout.splitlines() if "v0001" in r)
    assert json.loads((data_dir / "models" / "promoted.json").read_text())["version"] == "v0002"

    unknown = _one_line_error(cli.invoke(app, ["model", "promote", "v0042"]))
    assert "v0042" in unknown and "v0001, v0002" in unknown

    for extra in ([], ["--fit-on", str(train_csv)]):
        output = tmp_path / "scores.csv"
        scored = cli.invoke(app, ["anomaly", "score", str(input_csv), "-o", str(output), *extra])
        assert scored.exit_code == 0, scored.output
        assert "600 rows x 3 metrics" in scored.stdout
        out = pd.read_csv(output, keep_default_na=False)
        assert len(out) == 600 and out["score"].between(0, 1).all()
        assert set(out["is_anomaly"]) <= {0, 1}
        assert {m for ranked in out["top_metrics"] for m in ranked.split(";")} == set(COLUMNS)
        assert out["top_metrics"].iloc[450].startswith("memory;")
        assert out["score"].iloc[450] > out["score"].iloc[200:450].max()


def test_score_without_a_model_says_to_train(
    cli: CliRunner, input_csv: Path, tmp_path: Path
) -> None:
    result = cli.invoke(app, ["anomaly", "score", str(input_csv), "-o", str(tmp_path / "o.csv")])
    assert "vigil model train" in _one_line_error(result)
    assert not (tmp_path / "o.csv").exists()


def test_score_with_fit_on_and_no_model_trains_on_the_fit_on_data(
    cli: CliRunner, train_csv: Path, input_csv: Path, tmp_path: Path
) -> None:
    output = tmp_path / "o.csv"
    result = cli.invoke(
        app, ["anomaly", "score", str(input_csv), "-o", str(output), "--fit-on", str(train_csv)]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(output)["top_metrics"].iloc[450].startswith("memory;")


BAD_INPUTS = {
    "empty file": ("", "is empty"),
    "header only": ("cpu,memory,latency\n", "no data rows"),
    "no numeric columns": ("host,zone\na,b\nc,d\n", "no numeric metric columns"),
    "NaN cell": ("cpu,memory,latency\n1,2,3\n4,NaN,6\n", "'memory' has an empty or NaN value"),
    "empty cell": ("cpu,memory,latency\n1,2,3\n4,5,\n", "'latency' has an empty or NaN value"),
    "text in numeric": ("cpu,memory,latency\n1,2,3\n4,lots,6\n", "'memory' is numeric but"),
    "mismatched columns": ("cpu,memory,disk\n1,2,3\n4,5,6\n", "train.csv: disk"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(
    cli: CliRunner, train_csv: Path, tmp_path: Path, case: str
) -> None:
    text, expected = BAD_INPUTS[case]
    source = tmp_path / "bad.csv"
    source.write_text(text)
    output = tmp_path / "o.csv"
    args = ["anomaly", "score", str(source), "--output", str(output), "--fit-on", str(train_csv)]
    message = _one_line_error(cli.invoke(app, args))
    assert expected in message and "bad.csv" in message
    assert not output.exists()


def test_missing_files_are_one_line_and_exit_2(
    cli: CliRunner, train_csv: Path, input_csv: Path, tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.csv")
    output = str(tmp_path / "o.csv")
    for args in (
        ["anomaly", "score", missing, "-o", output, "--fit-on", str(train_csv)],
        ["anomaly", "score", str(input_csv), "-o", output, "--fit-on", missing],
        ["model", "train", "--csv", missing],
        ["model", "train", "--dataset", missing],
    ):
        assert "missing.csv" in _one_line_error(cli.invoke(app, args))
    both = cli.invoke(app, ["model", "train", "--csv", str(train_csv), "--dataset", missing])
    assert "not both" in _one_line_error(both)
    assert "no model is promoted" in _one_line_error(cli.invoke(app, ["model", "evaluate"]))
    assert "v0007" in _one_line_error(cli.invoke(app, ["model", "evaluate", "v0007"]))


def _smd(root: Path) -> Path:
    """A tiny labelled machine in the SMD layout, with one anomalous segment in metric 2."""
    rng = np.random.default_rng(4)
    for split in ("train", "test", "test_label", "interpretation_label"):
        (root / split).mkdir(parents=True)
    train = rng.normal(0.5, 0.05, (1500, 4))
    test = rng.normal(0.5, 0.05, (800, 4))
    test[500:530, 1] += 0.6
    labels = np.zeros(800, dtype=int)
    labels[500:530] = 1
    np.savetxt(root / "train" / "machine-1-1.txt", train, delimiter=",", fmt="%.4f")
    np.savetxt(root / "test" / "machine-1-1.txt", test, delimiter=",", fmt="%.4f")
    np.savetxt(root / "test_label" / "machine-1-1.txt", labels, fmt="%d")
    (root / "interpretation_label" / "machine-1-1.txt").write_text("500-530:2\n")
    return root


def test_train_on_a_dataset_and_evaluate(cli: CliRunner, data_dir: Path, tmp_path: Path) -> None:
    from training.metrics_dataset import to_document, write_metrics_dataset
    from training.simulate import simulate_fleet

    frame = simulate_fleet(n_samples=2400, hosts=2, seed=3, anomaly_ratio=0.1)
    write_metrics_dataset(
        data_dir / "datasets" / "metrics_dataset.json", to_document(frame, session_id="t")
    )
    trained = cli.invoke(app, ["model", "train", "--no-promote"])
    assert trained.exit_code == 0, trained.output
    assert "metrics dataset" in trained.stdout and "model v0001" in trained.stdout
    assert "detection:" in trained.stdout and "f1" in trained.stdout
    info = json.loads(cli.invoke(app, ["model", "list", "--json"]).stdout)[0]
    assert not info["promoted"] and "detection" in info["metrics"]

    evaluated = cli.invoke(
        app, ["model", "evaluate", "v0001", "--smd", str(_smd(tmp_path / "smd")), "--json"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    results = json.loads(evaluated.stdout)
    assert results["version"] == "v0001" and "generated" not in results
    machine = results["smd"]["machines"][0]
    assert machine["machine"] == "machine-1-1" and 0 <= machine["f1_best"] <= 1
    assert results["smd"]["mean"]["hitrate_150"] > 0

    readable = cli.invoke(app, ["model", "evaluate", "v0001"])
    assert readable.exit_code == 0, readable.output
    assert "generated:" in readable.stdout and "detection:" in readable.stdout
