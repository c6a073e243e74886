"""Scoring a CSV of metrics: ``vigil anomaly score INPUT.csv --output OUT.csv [--fit-on TRAIN]``.

INPUT is numeric metric columns with an optional ``timestamp`` column. OUT has one row per input
row: ``timestamp`` (when INPUT has one, copied verbatim), ``score`` (0..1), ``is_anomaly`` (0/1),
``top_metrics`` (column names, most contributing first, ``;``-separated) and ``explanation``.

Scoring is causal, as in live alerting: with ``--fit-on`` every row is judged against a baseline
fitted on TRAIN; without it, against the rows before it in INPUT.

Bad input raises ``InputError`` with one line naming the file, the column and the row.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from knowledge.statefile import write_bytes_atomic

if TYPE_CHECKING:
    from training.model import AnomalyModel, Scored

TIMESTAMP = "timestamp"
OUTPUT_COLUMNS = ("score", "is_anomaly", "top_metrics", "explanation")
_SHOWN = 3  # bad values named in a message
MAX_ABS = 1e100
"""The largest magnitude scored: far past any metric (uint64 counters stay under 2e19), far
below where squares and ratios overflow a float."""


class InputError(ValueError):
    """A CSV that cannot be scored; the message is one line saying what and where."""


@dataclass(frozen=True)
class MetricsTable:
    """A metrics CSV: the numeric columns, the timestamp column as written (if any) and the
    text columns that were left out."""

    path: Path
    frame: pd.DataFrame
    timestamp: pd.Series | None
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoreSummary:
    rows: int
    anomalies: int
    columns: int
    seconds: float
    ignored: tuple[str, ...] = ()

    def line(self, output: Path) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else float("inf")
        return (
            f"{self.rows:,} rows x {self.columns} metrics scored in {self.seconds:.2f} s "
            f"({rate:,.0f} rows/s); {self.anomalies:,} anomalous; written to {output}"
        )


# ---------------------------------------------------------------------- reading


def read_metrics_csv(path: Path) -> pd.DataFrame:
    """The numeric metric columns of a CSV (see ``read_metrics_table``)."""
    return read_metrics_table(path).frame


def read_metrics_table(path: Path) -> MetricsTable:
    """Read and check a metrics CSV. Columns whose values are all text are left out; a missing
    value, a non-finite number or text in a numeric column is an ``InputError``."""
    path = Path(path)
    header = _header(path)
    ts_name = next((c for c in header if c.strip().lower() == TIMESTAMP), None)
    try:
        raw = pd.read_csv(
            path,
            header=0,
            names=header,  # stripped, as checked: "Timestamp " is the column "Timestamp"
            dtype={ts_name: str} if ts_name else None,
            skipinitialspace=True,
            low_memory=False,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable CSV ({first})") from None
    if raw.empty:
        raise InputError(f"{path}: has a header but no data rows")
    timestamp = raw.pop(ts_name) if ts_name else None
    numeric, ignored = {}, []
    for name in raw.columns:
        column = _numeric_column(path, str(name), raw[name])
        if column is None:
            ignored.append(str(name))
        else:
            numeric[str(name)] = column
    if not numeric:
        named = f" (text columns: {', '.join(ignored)})" if ignored else ""
        raise InputError(f"{path}: no numeric metric columns{named}; expected numbers per column")
    frame = pd.DataFrame(numeric)
    if timestamp is not None:
        _check_timestamps(path, timestamp)
    return MetricsTable(path, frame, timestamp, tuple(ignored))


def _header(path: Path) -> list[str]:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = next(csv.reader(handle), None)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; expected a CSV file") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from None
    if not first or not any(cell.strip() for cell in first):
        raise InputError(f"{path}: is empty; expected a header row of column names, then data")
    names = [cell.strip() for cell in first]
    blank = [i + 1 for i, n in enumerate(names) if not n]
    if blank:
        raise InputError(f"{path}: column {blank[0]} has no name in the header row")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{path}: duplicate column name(s): {', '.join(dupes)}; rename them")
    return names


def _numeric_column(path: Path, name: str, column: pd.Series) -> pd.Series | None:
    """The column as floats; None when it is a text column (no value is a number)."""
    if pd.api.types.is_bool_dtype(column):
        return None
    if pd.api.types.is_numeric_dtype(column):
        values = column.astype(float)
    else:
        values = pd.to_numeric(column, errors="coerce")
        text = column.notna() & values.isna()
        if text.all():
            return None
        if text.any():
            rows = np.flatnonzero(text.to_numpy())
            shown = ", ".join(repr(str(column.iloc[i])) for i in rows[:_SHOWN])
            more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
            raise InputError(
                f"{path}: column {name!r} is numeric but has text at row {rows[0] + 1}: "
                f"{shown}{more}; fix or remove those values"
            )
        values = values.astype(float)
    array = values.to_numpy()
    missing = np.flatnonzero(np.isnan(array))
    if len(missing):
        raise InputError(
            f"{path}: column {name!r} has an empty or NaN value at row {missing[0] + 1} "
            f"({len(missing)} in all); fill or drop missing values first"
        )
    infinite = np.flatnonzero(~np.isfinite(array))
    if len(infinite):
        raise InputError(
            f"{path}: column {name!r} has an infinite value at row {infinite[0] + 1}; "
            "expected finite numbers"
        )
    huge = np.flatnonzero(np.abs(array) > MAX_ABS)
    if len(huge):  # no metric is this large; the model's arithmetic would overflow
        raise InputError(
            f"{path}: column {name!r} has {array[huge[0]]:g} at row {huge[0] + 1}; "
            f"expected numbers within ±{MAX_ABS:g}"
        )
    return values


def _check_timestamps(path: Path, timestamp: pd.Series) -> None:
    """Timestamps must be present and in time order: causal scoring reads rows in file order."""
    blank = np.flatnonzero(timestamp.isna().to_numpy())
    if len(blank):
        raise InputError(f"{path}: column 'timestamp' is empty at row {blank[0] + 1}")
    order = _time_order(timestamp)
    if order is None:
        return
    if order.isna().any():
        row = int(np.flatnonzero(order.isna().to_numpy())[0])
        raise InputError(
            f"{path}: column 'timestamp' has {timestamp.iloc[row]!r} at row {row + 1}, which is "
            "not a time; use ISO 8601 or Unix seconds"
        )
    backwards = np.flatnonzero(np.diff(order.to_numpy(dtype=float)) < 0)
    if len(backwards):
        raise InputError(
            f"{path}: timestamps go back in time at row {backwards[0] + 2}; "
            "sort the file by timestamp"
        )


def _time_order(timestamp: pd.Series) -> pd.Series | None:
    """Comparable numbers for the timestamps (Unix seconds, or date-times as nanoseconds); NaN
    for a value that is not a time; None when the column is not times at all (kept as labels)."""
    numbers = pd.to_numeric(timestamp, errors="coerce")
    if numbers.notna().all():
        return numbers.astype(float)
    parsed = pd.to_datetime(timestamp, utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().all():
        return None
    nanos = parsed.astype("int64").astype(float)
    return nanos.where(parsed.notna())


def check_columns(
    train: pd.DataFrame, frame: pd.DataFrame, train_name: str = "--fit-on", name: str = "INPUT"
) -> None:
    """``InputError`` unless both frames have the same metric columns (in any order)."""
    expected, got = list(train.columns), list(frame.columns)
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"missing from {name}: {', '.join(missing)}")
    if extra:
        parts.append(f"not in {train_name}: {', '.join(extra)}")
    raise InputError(
        f"the columns of {name} and {train_name} differ ({'; '.join(parts)}); "
        "give both the same metric columns"
    )


# ---------------------------------------------------------------------- scoring


def score_csv(
    model: AnomalyModel | None,
    input_path: Path,
    output_path: Path,
    fit_on: Path | None = None,
) -> ScoreSummary:
    """Score ``input_path`` into ``output_path`` (written atomically). With ``fit_on`` the
    baseline is fitted on that file; ``model=None`` then trains a model on it first. Without
    ``fit_on`` each row is judged against the rows before it."""
    began = time.perf_counter()
    table = read_metrics_table(input_path)
    frame = table.frame
    if fit_on is not None:
        train = read_metrics_csv(fit_on)
        check_columns(train, frame, f"--fit-on {fit_on}", str(input_path))
        frame = frame[list(train.columns)]
        model = model or _train_on(train, fit_on)
        try:
            scored = model.score(frame, model.fit_baseline(train))
        except ValueError as exc:
            raise InputError(f"{fit_on}: {exc}") from None
    elif model is None:
        raise InputError("no model to score with: give --fit-on TRAIN.csv or promote a model")
    else:
        try:
            scored = model.score(frame)
        except ValueError as exc:
            raise InputError(f"{input_path}: {exc}") from None
    out = result_frame(scored, frame, table.timestamp)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    write_bytes_atomic(Path(output_path), buffer.getvalue().encode("utf-8"))
    return ScoreSummary(
        rows=len(out),
        anomalies=int(out["is_anomaly"].sum()),
        columns=frame.shape[1],
        seconds=time.perf_counter() - began,
        ignored=table.ignored,
    )


def _train_on(train: pd.DataFrame, path: Path) -> AnomalyModel:
    from training.model import AnomalyModel

    try:
        return AnomalyModel.train(train, group_by=None)
    except ValueError as exc:
        raise InputError(f"{path}: cannot train a model on it: {exc}") from None


def result_frame(scored: Scored, frame: pd.DataFrame, timestamp: pd.Series | None) -> pd.DataFrame:
    """OUT's rows: one per scored row."""
    ranked = scored.top_metrics  # built once: it may be computed on each access
    columns: dict[str, object] = {}
    if timestamp is not None:
        columns[TIMESTAMP] = timestamp.to_numpy()
    columns["score"] = np.char.mod("%.6f", np.asarray(scored.score, dtype=float))
    columns["is_anomaly"] = np.asarray(scored.is_anomaly, dtype=bool).astype(int)
    columns["top_metrics"] = [";".join(names) for names in ranked]
    columns["explanation"] = explanations(scored, frame, ranked)
    return pd.DataFrame(columns)


NORMAL_WINDOW = 240  # rows before a row whose median is its "normal" without a baseline


def explanations(scored: Scored, frame: pd.DataFrame, ranked: list[list[str]]) -> list[str]:
    """One plain sentence per anomalous row, "" for normal rows: the top metrics with their
    value against normal (the baseline's median, or without one the median of the rows before)
    and sigmas, and the likely anomaly type when the model can tell."""
    from training.explain import Fact, sentence

    values = frame.to_numpy(float)
    position = {name: i for i, name in enumerate(frame.columns)}
    index = {name: i for i, name in enumerate(scored.columns)}
    z = np.asarray(scored.z, dtype=float)
    median = scored.baseline.median if scored.baseline is not None else None
    types = list(scored.anomaly_type) or [None] * len(frame)
    confidence = np.asarray(scored.type_confidence, dtype=float)
    out = [""] * len(frame)
    for row in np.flatnonzero(np.asarray(scored.is_anomaly, dtype=bool)):
        facts = []
        for name in ranked[row][:3]:
            col, at = position[name], index[name]
            if median is not None:
                normal = float(median[at])
            else:
                before = values[max(0, row - NORMAL_WINDOW) : row, col]
                normal = float(np.median(before)) if len(before) else float(values[row, col])
            facts.append(Fact(name, float(values[row, col]), normal, float(z[row, at])))
        kind = types[row] if row < len(types) else None
        sure = float(confidence[row]) if row < len(confidence) else 0.0
        out[row] = sentence(facts, anomaly_type=kind, confidence=sure)
    return out
