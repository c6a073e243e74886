"""Reading, checking and scoring a CSV of metrics (``vigil anomaly score``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.csvscore import (
    InputError,
    check_columns,
    read_metrics_csv,
    read_metrics_table,
    score_csv,
)
from training.model import AnomalyModel, ModelConfig

COLUMNS = ("cpu", "memory", "latency", "errors")


def _normal(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return pd.DataFrame(
        {
            "cpu": 40 + 8 * np.sin(t / 50) + rng.normal(0, 2, rows),
            "memory": 60 + rng.normal(0, 1.5, rows),
            "latency": 120 + rng.normal(0, 10, rows),
            "errors": rng.poisson(3, rows).astype(float),
        }
    )


@pytest.fixture(scope="module")
def model() -> AnomalyModel:
    config = ModelConfig.model_validate({"n_estimators": 80})
    return AnomalyModel.train(_normal(3000, seed=1), config)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------------- reading


def test_reads_numeric_columns_and_keeps_the_timestamp_aside(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "in.csv",
        "timestamp,cpu,host,mem\n2026-01-01T00:00:00Z,1.5,a,10\n2026-01-01T00:01:00Z,2,b,11\n",
    )
    table = read_metrics_table(path)
    assert list(table.frame.columns) == ["cpu", "mem"]
    assert table.frame["cpu"].tolist() == [1.5, 2.0]
    assert table.timestamp is not None and table.timestamp.iloc[1] == "2026-01-01T00:01:00Z"
    assert table.ignored == ("host",)
    assert list(read_metrics_csv(path).columns) == ["cpu", "mem"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("cpu,mem\n", "no data rows"),
        ("host,zone\na,b\nc,d\n", "no numeric metric columns"),
        ("cpu,mem\n1,2\n3,\n", "column 'mem' has an empty or NaN value at row 2"),
        ("cpu,mem\n1,2\nNaN,4\n", "column 'cpu' has an empty or NaN value at row 2"),
        ("cpu,mem\n1,2\n3,high\n5,6\n", "column 'mem' is numeric but has text at row 2: 'high'"),
        ("cpu,mem\n1,inf\n", "column 'mem' has an infinite value at row 1"),
        ("cpu,mem,cpu\n1,2,3\n", "duplicate column name(s): cpu"),
        ("cpu,,mem\n1,2,3\n", "column 2 has no name"),
        ("timestamp,cpu\n2026-01-01T00:02:00,1\n2026-01-01T00:01:00,2\n", "back in time at row 2"),
        ("timestamp,cpu\n100,1\n,2\n", "'timestamp' is empty at row 2"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(InputError) as caught:
        read_metrics_table(path)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message and "\n" not in message


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_metrics_csv(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="not a file"):
        read_metrics_csv(tmp_path)


def test_check_columns_names_missing_and_extra() -> None:
    train = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]})
    check_columns(train, pd.DataFrame({"c": [1.0], "a": [1.0], "b": [1.0]}))
    with pytest.raises(InputError) as caught:
        check_columns(train, pd.DataFrame({"a": [1.0], "d": [2.0]}))
    assert "missing from INPUT: b, c" in str(caught.value)
    assert "not in --fit-on: d" in str(caught.value)


# ---------------------------------------------------------------------- scoring


def _spiked_input(tmp_path: Path, column: str, row: int, rows: int = 700) -> Path:
    frame = _normal(rows, seed=5)
    frame.loc[row, column] += 12 * frame[column].std()
    stamps = pd.date_range("2026-03-01", periods=rows, freq="min", tz="UTC")
    frame.insert(0, "timestamp", stamps.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame.to_csv(tmp_path / "input.csv", index=False)
    return tmp_path / "input.csv"


@pytest.mark.parametrize("column", ["latency", "memory"])
@pytest.mark.parametrize("fitted", [True, False])
def test_scores_one_row_per_input_row_and_ranks_the_spiked_metric_first(
    model: AnomalyModel, tmp_path: Path, column: str, fitted: bool
) -> None:
    spike = 1000
    source = _spiked_input(tmp_path, column, spike, rows=1200)
    train = tmp_path / "train.csv"
    _normal(2000, seed=3).to_csv(train, index=False)
    output = tmp_path / "out.csv"
    summary = score_csv(model, source, output, fit_on=train if fitted else None)

    out = pd.read_csv(output, keep_default_na=False)
    given = pd.read_csv(source)
    assert len(out) == len(given) == summary.rows
    assert list(out.columns) == ["timestamp", "score", "is_anomaly", "top_metrics", "explanation"]
    assert out["timestamp"].tolist() == given["timestamp"].tolist()
    assert out["score"].between(0, 1).all()
    assert set(out["is_anomaly"].unique()) <= {0, 1}
    assert summary.anomalies == int(out["is_anomaly"].sum()) >= 1
    for ranked in out["top_metrics"]:
        assert sorted(ranked.split(";")) == sorted(COLUMNS)  # all columns when fewer than 40
    row = out.iloc[spike]
    assert row["top_metrics"].split(";")[0] == column
    assert row["is_anomaly"] == 1 and column in row["explanation"]
    # the rows before it, once the causal baseline has seen a full cycle of the sine in cpu
    before = out["score"].iloc[spike - 400 : spike]
    assert row["score"] > max(before.max(), 0.5)
    assert (out["explanation"] == "").sum() >= len(out) - 3 * summary.anomalies


def test_with_fit_on_a_rows_score_depends_only_on_the_rows_before_it(
    model: AnomalyModel, tmp_path: Path
) -> None:
    source = _spiked_input(tmp_path, "cpu", 300, rows=600)
    train = tmp_path / "train.csv"
    _normal(2000, seed=3).to_csv(train, index=False)
    head = tmp_path / "head.csv"
    pd.read_csv(source).iloc[:350].to_csv(head, index=False)
    score_csv(model, source, tmp_path / "full_out.csv", fit_on=train)
    score_csv(model, head, tmp_path / "head_out.csv", fit_on=train)
    full = pd.read_csv(tmp_path / "full_out.csv")
    part = pd.read_csv(tmp_path / "head_out.csv")
    pd.testing.assert_series_equal(full["score"].iloc[:350], part["score"])


def test_without_fit_on_a_rows_score_depends_only_on_the_rows_before_it(
    model: AnomalyModel, tmp_path: Path
) -> None:
    source = _spiked_input(tmp_path, "cpu", 900, rows=1200)
    head = tmp_path / "head.csv"
    pd.read_csv(source).iloc[:1000].to_csv(head, index=False)
    score_csv(model, source, tmp_path / "full_out.csv")
    score_csv(model, head, tmp_path / "head_out.csv")
    full = pd.read_csv(tmp_path / "full_out.csv")
    part = pd.read_csv(tmp_path / "head_out.csv")
    pd.testing.assert_series_equal(full["score"].iloc[:1000], part["score"])


def test_fit_on_columns_are_matched_by_name(model: AnomalyModel, tmp_path: Path) -> None:
    source = _spiked_input(tmp_path, "errors", 400, rows=500)
    train = tmp_path / "train.csv"
    _normal(2000, seed=3)[["errors", "latency", "memory", "cpu"]].to_csv(train, index=False)
    score_csv(model, source, tmp_path / "out.csv", fit_on=train)
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["top_metrics"].iloc[400].split(";")[0] == "errors"


def test_mismatched_fit_on_columns_are_an_input_error(model: AnomalyModel, tmp_path: Path) -> None:
    source = _spiked_input(tmp_path, "cpu", 100, rows=200)
    train = tmp_path / "train.csv"
    _normal(500, seed=3).drop(columns=["errors"]).to_csv(train, index=False)
    output = tmp_path / "out.csv"
    with pytest.raises(InputError, match=r"not in --fit-on .*train\.csv: errors"):
        score_csv(model, source, output, fit_on=train)
    assert not output.exists()


def test_without_a_model_it_trains_on_the_fit_on_data(tmp_path: Path) -> None:
    source = _spiked_input(tmp_path, "memory", 250, rows=400)
    train = tmp_path / "train.csv"
    _normal(1000, seed=4).to_csv(train, index=False)
    summary = score_csv(None, source, tmp_path / "out.csv", fit_on=train)
    out = pd.read_csv(tmp_path / "out.csv")
    assert summary.rows == 400
    assert out["top_metrics"].iloc[250].split(";")[0] == "memory"
    with pytest.raises(InputError, match="--fit-on"):
        score_csv(None, source, tmp_path / "out2.csv")
