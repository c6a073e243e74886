"""Fuzzing the ``vigil`` command line in-process (typer's runner) with what users and their files
can throw at it: random CSVs for ``anomaly score``, random thread exports for ``summarize``,
corrupt dataset files for ``dataset status / summary / reset``, a corrupt alert book for
``digest``, a corrupt model registry for ``model list / promote``, random log files for
``import-history logs``, random arguments and option values for the commands that start no
server, and random ``.env`` and YAML contents for ``load_settings``.

What must hold: the exit code is 0, 1 or 2; no Python traceback and no exception escapes the
command; a failure prints one line starting ``vigil:`` on stderr (or typer's usage error);
``load_settings`` either succeeds or raises ``ConfigError`` with one line.

Nothing here loads the embedding model except ``import-history logs`` (shared with the session)
or starts a server. The workspace (data and config folders, the working directory) is built once
per module; each example starts from a pristine copy of its files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import Result
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from typer.testing import CliRunner

from bot.cli import app
from bot.config import SECRET_KEYS, Settings, load_settings
from handlers.alertbook import AlertBook, Selector
from knowledge.errors import ConfigError
from tests.conftest import REPO
from tests.fuzz.strategies import FUZZ, chat_text, json_value, leaks, mutated, obj, optional
from tests.handlers.test_alertbook import T0, detection

EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", 150))
FEW = max(EXAMPLES // 5, 10)
SOME = max(EXAMPLES // 3, 15)
LOG_LINE = re.compile(r"^(\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) |\{\"ts\": )")
CLEARED = (
    "OLLAMA_HOST", "OPENAI_API_KEY", "OPENAI_BASE_URL", "PROMETHEUS_URL", "ELASTICSEARCH_URL",
    "JAEGER_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_TOKEN",
    "VIGIL_LOG_LEVEL", "VIGIL_LOG_FORMAT", "VIGIL_HTTP_PORT", "VIGIL_HTTP_HOST", "VIGIL_ROLE",
    "VIGIL_SCHEDULER_DB", "VIGIL_LANCEDB_URI", "VIGIL_WEB_TOKEN", "VIGIL_WEB_CONSOLE",
)  # fmt: skip


def arg_text(size: int) -> st.SearchStrategy[str]:
    """A command-line argument: any text but a line break (one the user typed inside an
    argument is echoed in the error as typed)."""
    return st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=size)


# --------------------------------------------------------------------------- the workspace


@dataclass
class Workspace:
    """A working directory, a config folder and a data folder whose pristine contents (a
    promoted model, small datasets, an alert book) each example starts from."""

    root: Path
    cwd: Path
    config_dir: Path
    data_dir: Path
    pristine: Path
    runner: CliRunner

    def __repr__(self) -> str:
        return f"Workspace({self.root})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def reset(self, *, model: bool = True) -> None:
        """The data folder as built (``model=False``: without the model registry); the
        working directory and scratch files emptied."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.copytree(self.pristine, self.data_dir)
        if not model:
            shutil.rmtree(self.data_dir / "models")
        for entry in self.cwd.iterdir():  # the process works in it: emptied, not removed
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def invoke(self, args: list[str], env: dict[str, str] | None = None) -> Result:
        _drop_log_handlers()  # a handler left by the last run writes to its closed stream
        try:
            return self.runner.invoke(app, args, env=env)
        finally:
            _drop_log_handlers()


def _drop_log_handlers() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_vigil", False):
            root.removeHandler(handler)


def _alert_book(path: Path) -> None:
    """An alert book with an open alert, an acknowledged and resolved one, and a mute."""
    book = AlertBook(path=path)
    book.update([detection(0), detection(0, host="payments-1", anomaly_type="cpu_spike")], T0)
    alert = book.active()[0]
    book.ack(alert.id, "W111", T0)
    book.resolve(alert.id, "W111", T0)
    book.mute(Selector.parse("checkout/*"), T0.replace(year=2099), "W111", T0)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("cli-fuzz")
    config_dir = root / "data_config"
    shutil.copytree(REPO / "data_config", config_dir)
    pristine, data_dir, cwd = root / "pristine", root / "var", root / "cwd"
    for folder in (pristine, cwd):
        folder.mkdir()
    shutil.copytree(trained_registry, pristine / "models")
    _alert_book(pristine / "alerts.json")
    with pytest.MonkeyPatch.context() as patch:
        for key in (*CLEARED, *SECRET_KEYS, *(f"{k}_FILE" for k in SECRET_KEYS)):
            patch.delenv(key, raising=False)
        patch.setenv("VIGIL_CONFIG_DIR", str(config_dir))
        patch.setenv("VIGIL_DATA_DIR", str(pristine))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.chdir(cwd)
        runner = CliRunner()
        made = Workspace(root, cwd, config_dir, data_dir, pristine, runner)
        built = made.invoke(
            ["dataset", "generate", "--types", "metrics,conversation", "--backend", "static",
             "--metrics-samples", "100", "--language-samples", "4"]
        )  # fmt: skip
        assert built.exit_code == 0, built.output
        patch.setenv("VIGIL_DATA_DIR", str(data_dir))
        yield made


def check(result: Result, args: list[str], given: str = "") -> None:
    """A run as a user sees it: exit 0, 1 or 2; no traceback; a failure is one ``vigil:`` line
    on stderr or typer's usage error. ``given``: what the input files held (it may be echoed)."""
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        trace = "".join(traceback.format_exception(exc))
        raise AssertionError(f"vigil {args} raised:\n{trace}")
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    if currently_in_test_context():
        event(f"exit {result.exit_code}")
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert leaks(out, " ".join(args) + given) == [], out
    if result.exit_code == 0:
        return
    if result.exit_code == 2 and ("Usage:" in out or "─ Error ─" in out):
        return  # typer's usage error (a usage line and a box with the reason), or help
    # lines end at "\n" only: a control character a user typed may be echoed in the line
    said = [line for line in result.stderr.split("\n") if line.strip()]
    said = [line for line in said if not LOG_LINE.match(line)]
    assert len(said) == 1 and said[0].startswith("vigil: "), (args, result.stderr, result.stdout)


# --------------------------------------------------------------------------- files of any kind


def _write(path: Path, content: bytes | str | None) -> None:
    """Write ``content`` to ``path`` (None: remove it)."""
    if content is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


@st.composite
def damaged(draw: st.DrawFn, original: bytes) -> bytes | None:
    """What a file can become: kept, missing, cut short, bytes flipped, empty, any JSON, the
    same JSON with a field changed, or random bytes."""
    how = draw(st.sampled_from(["keep", "gone", "cut", "flip", "empty", "json", "mutate", "bytes"]))
    if how == "keep":
        return original
    if how == "gone":
        return None
    if how == "cut":
        return original[: draw(st.integers(0, max(len(original) - 1, 0)))]
    if how == "flip":
        data = bytearray(original)
        for _ in range(draw(st.integers(1, 4))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "empty":
        return b""
    if how == "json":
        return json.dumps(draw(json_value)).encode()
    if how == "mutate":
        try:
            value = json.loads(original)
        except ValueError:
            return original
        return json.dumps(draw(mutated(st.just(value), max_depth=3))).encode()
    return draw(st.binary(max_size=200))


# --------------------------------------------------------------------------- anomaly score

cell = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e400", "1,5", "--", "null", '"7"', " 3 "]),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=6),
)
column = st.one_of(
    st.sampled_from(["timestamp", "cpu", "memory", "latency", "", "cpu", "Timestamp "]),
    arg_text(8),
)


METRICS = ("cpu", "memory", "latency", "disk", "gc_time", "error_rate")
number = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["0", "1", "-0", "1e300", "-1e300", "5e-324", "1e15", "42"]),
)


@st.composite
def good_csv(draw: st.DrawFn, names: tuple[str, ...]) -> bytes:
    """A CSV a user means: these numeric columns (and maybe a timestamp); a column may be
    constant, and a cell now and then odd (huge, tiny, negative zero)."""
    stamp = draw(st.booleans())
    kinds = [draw(st.sampled_from(["noise", "noise", "constant", "odd"])) for _ in names]
    level = [draw(st.floats(-1e3, 1e6)) for _ in names]
    rows = []
    for n in range(draw(st.integers(1, 40))):
        cells = []
        for kind, base in zip(kinds, level, strict=True):
            if kind == "odd" and draw(st.integers(0, 9)) == 0:
                cells.append(draw(number))
            elif kind == "constant":
                cells.append(f"{base:.3f}")
            else:
                cells.append(f"{base + draw(st.floats(-10, 10)):.3f}")
        rows.append([f"2026-05-01T{n // 60:02d}:{n % 60:02d}:00Z", *cells] if stamp else cells)
    header = ["timestamp", *names] if stamp else list(names)
    return "\n".join(",".join(r) for r in [header, *rows]).encode()


@st.composite
def csv_files(draw: st.DrawFn, names: tuple[str, ...] | None = None) -> bytes:
    """A metrics CSV, right or wrong: half of them good (``good_csv``), the rest random
    headers and cells, other delimiters, ragged rows, a BOM, timestamps good and bad, or not a
    CSV at all."""
    if names is not None and draw(st.booleans()):
        return draw(good_csv(names))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    names_drawn = draw(st.lists(column, min_size=1, max_size=5))
    good = draw(st.booleans())
    rows = []
    for n in range(draw(st.integers(0, 30))):
        width = len(names_drawn) if good or draw(st.integers(0, 4)) else draw(st.integers(0, 7))
        row = []
        for index in range(width):
            name = names_drawn[index] if index < len(names_drawn) else ""
            if name.strip().lower() == "timestamp" and draw(st.integers(0, 3)):
                row.append(f"2026-05-01T00:{n % 60:02d}:00Z")
            elif good and draw(st.integers(0, 5)):
                row.append(draw(number))
            else:
                row.append(draw(cell))
        rows.append(row)
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(sep.join(r) for r in [names_drawn, *rows]) + draw(st.sampled_from(["", end]))
    return (draw(st.sampled_from(["", "\ufeff"])) + text).encode("utf-8")


@st.composite
def score_inputs(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    """INPUT.csv and maybe a --fit-on TRAIN.csv, both of the same columns when good."""
    names = tuple(draw(st.lists(st.sampled_from(METRICS), min_size=1, max_size=4, unique=True)))
    data = draw(csv_files(names))
    return data, draw(st.one_of(st.none(), csv_files(names)))


@settings(FUZZ, max_examples=SOME)
@given(
    files=score_inputs(),
    model=st.sampled_from([True, True, True, False]),  # a promoted model, or none
    output=st.sampled_from(["out.csv", "out.csv", "missing/out.csv", ".", "in.csv"]),
)
# found by this fuzzing, each a traceback before its fix: a header cell with a trailing space
# (KeyError), 30 rows or fewer scored without --fit-on (zip(strict=True)), values past 1e154
# (overflow warnings), --output naming a folder (ValueError)
@example(files=(b"Timestamp ,cpu\n2026-05-01T00:00:00Z,1\n", None), model=True, output="o.csv")
@example(files=(b"cpu,memory\n1,2\n2,3\n", None), model=True, output="out.csv")
@example(files=(b"cpu\n" + b"1e300\n-1e300\n" * 20, None), model=True, output="out.csv")
@example(files=(b"cpu\n1\n2\n", b"cpu\n1\n2\n"), model=True, output=".")
def test_anomaly_score_takes_any_csv(
    ws: Workspace, files: tuple[bytes, bytes | None], model: bool, output: str
) -> None:
    data, train = files
    ws.reset(model=model)
    _write(ws.cwd / "in.csv", data)
    args = ["anomaly", "score", "in.csv", "--output", output]
    if train is not None:
        _write(ws.cwd / "train.csv", train)
        args += ["--fit-on", "train.csv"]
    given = data.decode("utf-8", "replace") + (train or b"").decode("utf-8", "replace")
    result = ws.invoke(args)
    check(result, args, given)
    if result.exit_code == 0:  # the scores, each between 0 and 1
        scored = pd.read_csv(ws.cwd / output, keep_default_na=False)
        assert {"score", "is_anomaly", "top_metrics", "explanation"} <= set(scored.columns)
        assert scored["score"].between(0, 1).all(), scored["score"].describe()
        assert set(scored["is_anomaly"]) <= {0, 1}
        event("scored")


# --------------------------------------------------------------------------- summarize

message = obj(
    {
        "user": st.sampled_from(["maria", "W111", "ops-bot", "<@U0001>"]),
        "ts": st.one_of(
            st.sampled_from(["1700000000.000100", "2026-11-20T10:05:00Z", "2026-11-20 10:05"]),
            st.floats(0, 4e9),
            st.integers(0, 4 * 10**9),
        ),
        "text": chat_text,
        "thread_ts": optional(st.just("1700000000.000100")),
    }
)
thread = st.one_of(
    st.lists(message, max_size=6),
    obj({"channel": st.text(max_size=10), "messages": st.lists(message, max_size=6)}),
)


@settings(FUZZ, max_examples=SOME)
@given(
    content=st.one_of(
        mutated(thread).map(lambda v: json.dumps(v).encode()),
        mutated(thread).map(lambda v: json.dumps(v).encode()),
        json_value.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=100),
    ),
    as_json=st.booleans(),
)
def test_summarize_takes_any_thread_file(ws: Workspace, content: bytes, as_json: bool) -> None:
    ws.reset()
    _write(ws.cwd / "thread.json", content)
    args = ["summarize", "thread.json", "--no-store", *(["--json"] if as_json else [])]
    check(ws.invoke(args), args, content.decode("utf-8", "replace"))


# --------------------------------------------------------------------------- state files


def _pristine(ws: Workspace, relative: str) -> bytes:
    path = ws.pristine / relative
    return path.read_bytes() if path.is_file() else b""


DATASET_FILES = (
    "datasets/language_dataset.json",
    "datasets/metrics_dataset.json",
    "datasets/generation_progress.json",
    "datasets/language_dataset.journal",
)


@settings(FUZZ, max_examples=SOME)
@given(
    data=st.data(),
    command=st.sampled_from(
        [
            ["dataset", "status"],
            ["dataset", "status", "--json"],
            ["dataset", "summary"],
            ["dataset", "summary", "--json"],
            ["dataset", "reset", "--yes"],
            ["dataset", "reset", "--yes", "--types", "language"],
            ["dataset", "export", "--format", "jsonl"],
        ]
    ),
)
def test_dataset_commands_take_damaged_files(
    ws: Workspace, data: st.DataObject, command: list[str]
) -> None:
    ws.reset()
    for name in DATASET_FILES:
        _write(ws.data_dir / name, data.draw(damaged(_pristine(ws, name)), label=name))
    check(ws.invoke(command), command)


period = st.one_of(
    st.none(),
    st.sampled_from(["6h", "1d", "15m", "7d", "1.5h", "2h30m"]),
    st.sampled_from(["0s", "-5m", "30d", "99999999d", "99999999999999d", "1e308h", "h", ""]),
    arg_text(8),
)


@settings(FUZZ, max_examples=SOME)
@given(
    data=st.data(),
    channel=st.one_of(
        st.sampled_from(["digest", "general", "#alerts", "ops", "nope", ""]),
        st.sampled_from(["digest", "general", "#alerts", "ops"]),
        arg_text(8),
    ),
    span=period,
    print_it=st.integers(0, 5),
)
def test_digest_takes_any_channel_period_and_alert_book(
    ws: Workspace, data: st.DataObject, channel: str, span: str | None, print_it: int
) -> None:
    ws.reset()
    _write(ws.data_dir / "alerts.json", data.draw(damaged(_pristine(ws, "alerts.json"))))
    args = ["digest", "--channel", channel, *(["--period", span] if span is not None else [])]
    args += ["--print"] if print_it else []
    check(ws.invoke(args), args)


REGISTRY_FILES = ("models/promoted.json", "models/v0001/meta.json", "models/v0001/model.json")


@settings(FUZZ, max_examples=SOME)
@given(
    data=st.data(),
    command=st.one_of(
        st.just(["model", "list"]),
        st.just(["model", "list", "--json"]),
        st.one_of(
            st.sampled_from(["v0001", "v0002", "v1", "0001", "../models", ""]), arg_text(8)
        ).map(lambda v: ["model", "promote", v]),
    ),
)
def test_model_registry_commands_take_damaged_files(
    ws: Workspace, data: st.DataObject, command: list[str]
) -> None:
    ws.reset()
    for name in REGISTRY_FILES:
        _write(ws.data_dir / name, data.draw(damaged(_pristine(ws, name)), label=name))
    check(ws.invoke(command), command)


# --------------------------------------------------------------------------- history import

log_line = st.one_of(
    st.sampled_from(
        [
            '10.0.0.5 - - [20/Nov/2026:10:05:00 +0000] "GET /pay HTTP/1.1" 500 12 "-" "curl"',
            '{"ts": "2026-11-20T10:05:00Z", "level": "ERROR", "message": "db timeout", "svc": 1}',
            "Nov 20 10:05:00 host1 app[12]: connection refused",
            "2026-11-20 10:05:00 ERROR payments timeout after 30s",
            "{not json",
        ]
    ),
    chat_text.map(lambda t: t.replace("\n", " ")),
)


@pytest.mark.slow  # the embedding model (once per session) and the store
@settings(FUZZ, max_examples=FEW)
@given(
    lines=st.lists(log_line, max_size=15),
    raw=st.one_of(st.none(), st.binary(max_size=100)),
    log_format=st.sampled_from(["auto", "apache", "json", "syslog", "plain", "xml", ""]),
    service=st.one_of(st.none(), arg_text(8)),
)
def test_import_history_logs_takes_any_file(
    ws: Workspace, lines: list[str], raw: bytes | None, log_format: str, service: str | None
) -> None:
    ws.reset()
    content = raw if raw is not None else "\n".join(lines).encode("utf-8")
    _write(ws.cwd / "app.log", content)
    args = ["import-history", "logs", "app.log", "--format", log_format]
    args += ["--service", service] if service is not None else []
    check(ws.invoke(args), args, content.decode("utf-8", "replace"))


# --------------------------------------------------------------------------- arguments


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


PREFIXES = (
    [], ["version"], ["model", "list"], ["model", "promote"], ["anomaly", "score"],
    ["anomaly"], ["summarize"], ["digest"], ["dataset", "status"], ["dataset", "reset"],
    ["dataset", "export"], ["dataset", "from-incidents"], ["import-history", "prometheus"],
    ["import-history", "openmetrics"], ["ingest"], ["frobnicate"], ["model"], ["kb"],
)  # fmt: skip
TOKENS = (
    "--json", "--yes", "--print", "--channel", "--period", "--since", "--source", "--from",
    "--to", "--chunk", "--url", "--output", "--fit-on", "--types", "--format", "--restart",
    "--help", "--log-json", "-v", "--", "-", "--no-such-option", "-x", "=", "--far", "--seed",
    "6h", "0", "-1", "2026-11-01", "2026-13-45T25:61", "30d", "99999999999999d", "1e308",
    "nan", "0001-01-01", "9999-12-31T23:59", "prometheus",
    "digest", "in.csv", "thread.json", "/", ".", "..", "CLOSED",
)  # fmt: skip


@settings(FUZZ, max_examples=EXAMPLES)
@given(
    prefix=st.sampled_from(PREFIXES),
    rest=st.lists(st.one_of(st.sampled_from(TOKENS), arg_text(10)), max_size=6),
    log_json=st.booleans(),
)
def test_any_arguments_give_a_clean_exit(
    ws: Workspace, prefix: list[str], rest: list[str], log_json: bool
) -> None:
    ws.reset()
    closed = _closed_url()  # --url CLOSED: a Prometheus that is not there
    args = [
        *(["--log-json"] if log_json else []),
        *prefix,
        *(closed if t == "CLOSED" else t for t in rest),
    ]
    if "import-history" in args and "prometheus" in args and "--url" not in args:
        args += ["--url", closed]
    check(ws.invoke(args), args)


# --------------------------------------------------------------------------- configuration

env_key = st.one_of(
    st.sampled_from(
        [
            "VIGIL_HTTP_PORT", "VIGIL_HTTP_HOST", "VIGIL_WEB_CONSOLE", "VIGIL_WEB_TOKEN",
            "VIGIL_LOG_LEVEL", "VIGIL_ROLE", "VIGIL_SCHEDULER_DB", "VIGIL_LANCEDB_URI",
            "PROMETHEUS_URL", "OLLAMA_HOST", "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_FILE",
            "DISCORD_GUILD_IDS", "VIGIL_CONSOLE", "VIGIL_DATA_DIR", "VIGIL_CONFIG_DIR",
            "AWS_SECRET_ACCESS_KEY_FILE", "OPENAI_API_KEY", "NOT_A_KEY", "vigil_http_port",
        ]
    ),
    st.text(max_size=10),
)  # fmt: skip
env_value = st.one_of(
    st.sampled_from(
        [
            "8080", "0", "-1", "99999", "eighty", "127.0.0.1", "0.0.0.0", "on", "off", "auto",
            "debug", "json", "chat", "scheduler", "sqlite:///x.db", "s3://bucket/p",
            "http://localhost:9090", "localhost:11434", "short", "a-long-enough-web-token-1",
            "1,2", "x,y", "true", "/dev/null", "/nonexistent/secret", ".", "'quoted'", '"dq"',
        ]
    ),
    st.text(max_size=20),
)  # fmt: skip
env_line = st.one_of(
    st.tuples(env_key, env_value).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.tuples(env_key, env_value).map(lambda kv: f"export {kv[0]}='{kv[1]}'"),
    st.sampled_from(["# comment", "", "=", "KEY", 'KEY="unclosed', "\x00", "[section]"]),
    st.text(max_size=30),
)


def _shipped_yaml(name: str) -> Any:
    return yaml.safe_load((REPO / "data_config" / name).read_text(encoding="utf-8"))


def _yaml_text(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True)


yaml_file = st.one_of(
    st.none(),  # as shipped
    st.just(b""),
    st.binary(max_size=80),
    st.text(max_size=120).map(str.encode),
    json_value.map(lambda v: _yaml_text(v).encode()),
)


@st.composite
def yaml_contents(draw: st.DrawFn, name: str) -> bytes | None:
    """A config file: as shipped, with a field changed, dropped or added at any depth, or
    anything else."""
    if draw(st.integers(0, 2)) == 0:
        return draw(yaml_file)
    value = draw(mutated(st.just(_shipped_yaml(name)), max_depth=4))
    return _yaml_text(value).encode()


@settings(FUZZ, max_examples=EXAMPLES)
@given(
    lines=st.lists(env_line, max_size=8),
    environ=st.dictionaries(env_key, env_value, max_size=4),
    ai=yaml_contents("ai-config.yml"),
    channels=yaml_contents("channels.yml"),
)
@example(  # a duration field set to null: AttributeError from parse_duration before its fix
    lines=[], environ={}, ai=b"alerts:\n  clear_after: null\n", channels=None
)
def test_load_settings_succeeds_or_says_what_is_wrong_in_one_line(
    ws: Workspace,
    lines: list[str],
    environ: dict[str, str],
    ai: bytes | None,
    channels: bytes | None,
) -> None:
    folder = ws.root / "config-fuzz"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ws.config_dir, folder, ignore=shutil.ignore_patterns("runbooks"))
    for name, content in (("ai-config.yml", ai), ("channels.yml", channels)):
        if content is not None:
            _write(folder / name, content)
    env_file = ws.root / "fuzz.env"
    _write(env_file, "\n".join(lines))
    try:
        loaded = load_settings(config_dir=folder, env_file=env_file, environ=environ)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        assert "Traceback" not in message
        event("ConfigError")
    else:
        assert isinstance(loaded, Settings)
        event("loaded")


@pytest.mark.parametrize("content", [b"\x80 not utf-8", b"\x00", b"key: \x07"])
def test_config_files_that_are_not_text_or_break_yaml_lines(ws: Workspace, content: bytes) -> None:
    folder = ws.root / "config-known"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ws.config_dir, folder, ignore=shutil.ignore_patterns("runbooks"))
    _write(folder / "channels.yml", content)
    with pytest.raises(ConfigError) as raised:
        load_settings(config_dir=folder, env_file=ws.root / "none.env", environ={})
    assert "channels.yml" in str(raised.value) and "\n" not in str(raised.value)


def test_a_state_file_that_is_not_utf8_is_set_aside(ws: Workspace) -> None:
    """Found by the fuzzing: ``promoted.json`` holding bytes that are not UTF-8 was a
    traceback of ``vigil model list``; now it is moved aside like any unreadable state file."""
    ws.reset()
    _write(ws.data_dir / "models" / "promoted.json", b"\x80\x81")
    result = ws.invoke(["model", "list"])
    check(result, ["model", "list"])
    assert result.exit_code == 0 and "v0001" in result.stdout
    assert (ws.data_dir / "models" / "promoted.json.corrupt").is_file()
