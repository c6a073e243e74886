"""A full disk under ``VIGIL_DATA_DIR`` (a tiny tmpfs filled to the brim): the alert state
write, a dataset generation run, an ingestion run and ``vigil run`` each say so in one line
naming the data dir ("no space left on device"), never with a stack trace to the user, and
leave the previous state readable and unchanged; once there is space again they carry on with
nothing lost and nothing twice. Root only (mount); skipped otherwise."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.app import build_configured_sources
from bot.cli import app as cli_app
from bot.config import Settings
from bot.ingestion import Ingestion
from handlers import alerts
from handlers.alertbook import AlertBook
from handlers.deps import Deps
from handlers.types import ChatRequest, Reply
from knowledge.documents import Document
from knowledge.embeddings import Embedder
from knowledge.redaction import Redactor
from knowledge.statefile import StateWriteError, Watermarks
from knowledge.store import KnowledgeStore
from tests.drills.conftest import Disk
from tests.drills.procs import Child, child_env, vigil
from tests.handlers.test_alertbook import T0, at, detection
from tests.knowledge.sources.test_files import expected, line
from tests.servers.prometheus import free_port
from training.dataset_files import Backups
from training.dataset_paths import DatasetPaths
from training.language_dataset import load_language_dataset
from training.language_store import LanguageStore
from training.progress import Journal

REQUEST = ChatRequest("alerts", platform="scheduler", user="vigil")
ENDPOINTS = ("OLLAMA_HOST", "OPENAI_API_KEY", "OPENAI_BASE_URL", "PROMETHEUS_URL",
             "ELASTICSEARCH_URL", "JAEGER_URL")  # fmt: skip


def says_disk_full(text: str, data_dir: Path) -> None:
    """``text`` is one line that names the data dir and the full disk."""
    assert "\n" not in text.strip(), text
    assert str(data_dir) in text and "no space left on device" in text.lower(), text


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of atomic writes left behind."""
    return [p for p in folder.rglob(".*.tmp")]


# ------------------------------------------------------------------------- (a) alert state
async def test_alert_state_on_a_full_disk_still_alerts_and_keeps_the_old_file(
    small_disk: Disk,
) -> None:
    data = small_disk.path / "var"
    path = data / "alerts.json"
    firing = [detection(0, host=f"payments-{i}") for i in range(40)]  # a state of ~20 KB
    AlertBook(path=path).update(firing, at(0))
    before = path.read_bytes()
    small_disk.fill(leave=8192)
    free = small_disk.available()

    posts: list[tuple[str, Reply]] = []

    async def post(channel: str, reply: Reply) -> None:
        posts.append((channel, reply))

    now = [at(1)]
    found = [*firing, detection(1, service="checkout", host="co-1", anomaly_type="cpu_spike")]
    deps = Deps(alerts=AlertBook(path=path), detect=lambda t: found, clock=lambda: now[0])
    with pytest.raises(StateWriteError) as err:
        await alerts.run(REQUEST, deps, post)
    says_disk_full(str(err.value), data)
    assert [r.text for _, r in posts] == ["[warning] checkout/co-1: cpu_spike"]  # still posted
    assert path.read_bytes() == before  # the old state, whole
    assert len(AlertBook(path=path).active()) == 40
    assert not leftovers(data) and small_disk.available() == free  # the temporary file is gone

    now[0] = at(2)  # the next run, still full: nothing posted twice
    with pytest.raises(StateWriteError):
        await alerts.run(REQUEST, deps, post)
    assert len(posts) == 1

    small_disk.free()
    now[0] = at(3)
    assert await alerts.run(REQUEST, deps, post) == 0  # saved now; nothing to post
    assert deps.alerts.save_error is None
    saved = AlertBook(path=path)
    assert len(saved.active()) == 41 and saved.pending() == []
    assert json.loads(path.read_text())["outbox"] == []


# ----------------------------------------------------------------------- (b) dataset files
@pytest.fixture
def dataset_cli(
    config_dir: Path, small_disk: Disk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(small_disk.path / "var"))
    monkeypatch.setenv("VIGIL_CONFIG_DIR", str(config_dir))
    for key in ENDPOINTS:
        monkeypatch.delenv(key, raising=False)
    return CliRunner()


def _generate(cli: CliRunner, samples: int) -> Any:
    return cli.invoke(
        cli_app,
        ["dataset", "generate", "--backend", "static", "--types",
         "technical_explanation,conversation", "--language-samples", str(samples)],
    )  # fmt: skip


def test_dataset_generation_on_a_full_disk_leaves_whole_lines_that_agree(
    dataset_cli: CliRunner, small_disk: Disk
) -> None:
    data = small_disk.path / "var"
    paths = DatasetPaths.in_data_dir(data)
    first = _generate(dataset_cli, 60)
    assert first.exit_code == 0, first.output
    # room for the backups a run makes first, and some 64 KB of journal: the run stops mid-way
    small_disk.fill(leave=paths.language.stat().st_size + paths.progress.stat().st_size + 65536)
    full = _generate(dataset_cli, 600)
    assert full.exit_code == 1, full.output
    assert full.exception is None or isinstance(full.exception, SystemExit)
    assert "Traceback" not in full.output
    errors = [x for x in full.output.splitlines() if x.startswith("vigil: ")]
    assert len(errors) == 1
    says_disk_full(errors[0], data)

    journal = paths.journal.read_bytes()
    assert journal.endswith(b"\n") or not journal  # only whole lines
    events, bad = Journal(paths.journal).read()
    assert bad == 0 and events  # it got some way before the disk was full
    assert not leftovers(data)
    store = LanguageStore(paths, Backups(paths.backups)).open(read_only=True)
    assert not [m for m in store.messages if "lost" in m or "unreadable" in m or "counted" in m]
    saved = {s["id"] for s in load_language_dataset(paths.language)["samples"]}
    journaled = {e["sample"]["id"] for e in events if e["kind"] == "ok"}
    assert set(store.samples) == saved | journaled  # the progress agrees with the files
    assert sum(store.progress.counts(t)["ok"] for t in store.progress.outcomes) == len(
        store.samples
    )

    small_disk.free()
    done = _generate(dataset_cli, 600)
    assert done.exit_code == 0, done.output
    ids = [s["id"] for s in load_language_dataset(paths.language)["samples"]]
    assert len(ids) == len(set(ids)) >= 590 and set(ids) >= saved | journaled
    assert paths.journal.read_bytes() == b""


# --------------------------------------------------------------------- (c) ingestion store
def _files_source(config_dir: Path, log: Path) -> None:
    path = config_dir / "ai-config.yml"
    config = yaml.safe_load(path.read_text())
    config["sources"]["files"] = {"paths": [str(log)], "from_beginning": True, "settle": "0s",
                                  "host": "test-host"}  # fmt: skip
    path.write_text(yaml.safe_dump(config))


def _pattern_counts(store: KnowledgeStore) -> tuple[Counter[tuple[str, datetime]], int]:
    docs = store.scan("kind = 'log_pattern'")
    counts: Counter[tuple[str, datetime]] = Counter()
    for doc in docs:
        counts[(doc.service, doc.ts)] += doc.payload["count"]
    assert len({d.id for d in docs}) == len(docs)
    return counts, len(docs)


@pytest.mark.slow
async def test_ingestion_on_a_full_disk_is_one_notice_and_then_no_gap_no_duplicate(
    small_disk: Disk,
    config_dir: Path,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    embedder: Embedder,
) -> None:
    data = small_disk.path / "var"
    log = tmp_path / "checkout.log"
    log.write_text("".join(line(i, "ERROR" if i % 97 == 0 else "INFO") for i in range(3000)))
    _files_source(config_dir, log)
    settings = make_settings(VIGIL_DATA_DIR=str(data))
    redact = Redactor().redact
    notices: list[tuple[str, bool]] = []

    async def notify(text: str, error: bool) -> None:
        notices.append((text, error))

    clock = [datetime.now(UTC)]
    store = KnowledgeStore.open(data, embedder)
    marks = data / "sources" / "watermarks.json"
    ingestion = Ingestion(
        store, build_configured_sources(settings, redact), Watermarks(marks), redact,
        now=lambda: clock[0], notify=notify,
    )  # fmt: skip
    first = await ingestion.run("files")
    assert first is not None and first.status == "ok", first
    stored = _pattern_counts(store)[0]
    whole = expected(0, 3000)
    assert len(stored) >= len(whole) - 1 and all(whole[k] == n for k, n in stored.items())
    rows = store.count()

    with log.open("a", encoding="utf-8") as handle:
        handle.writelines(line(i, "ERROR" if i % 97 == 0 else "INFO") for i in range(3000, 6000))
    state = {p: p.read_bytes() for p in (data / "sources").rglob("*") if p.is_file()}
    small_disk.fill(leave=8192)
    clock[0] += timedelta(minutes=10)
    failed = await ingestion.run("files")
    assert failed is not None and failed.status == "error"
    assert [e for _, e in notices] == [True]
    says_disk_full(notices[0][0], data)
    assert KnowledgeStore.open(data, embedder).count() == rows  # the old rows, readable
    assert {p: p.read_bytes() for p in state} == state  # offsets and watermark unmoved
    assert not leftovers(data)

    small_disk.free()
    clock[0] += timedelta(minutes=10)
    ingestion.health["files"].retry_at = 0.0  # past its backoff
    back = await ingestion.run("files")
    assert back is not None and back.status == "ok", back
    assert [e for _, e in notices] == [True, False]
    clock[0] += timedelta(minutes=10)  # a run that reads nothing new closes the last window
    assert (await ingestion.run("files")) is not None
    counts, _ = _pattern_counts(KnowledgeStore.open(data, embedder))
    assert counts == expected(0, 6000)  # every line once: no gap, no duplicate
    ingestion.close()


@pytest.mark.slow
def test_vigil_ingest_on_a_full_disk_is_one_line(
    small_disk: Disk,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    embedder: Embedder,
) -> None:
    data = small_disk.path / "var"
    log = tmp_path / "checkout.log"
    log.write_text("".join(line(i) for i in range(300)))
    _files_source(config_dir, log)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(data))
    monkeypatch.setenv("VIGIL_CONFIG_DIR", str(config_dir))
    for key in ENDPOINTS:
        monkeypatch.delenv(key, raising=False)
    KnowledgeStore.open(data, embedder)  # made while there was room
    small_disk.fill(leave=8192)
    result = CliRunner().invoke(cli_app, ["ingest", "--since", "30m"])
    assert result.exit_code == 1 and not isinstance(result.exception, Exception), result.output
    errors = [x for x in result.output.splitlines() if x.startswith("vigil: ")]
    assert errors
    says_disk_full(errors[0], data)


# --------------------------------------------------------------------------- (d) vigil run
@pytest.mark.slow
def test_vigil_run_on_a_full_disk_says_so_and_keeps_the_old_state(
    small_disk: Disk, config_dir: Path, tmp_path: Path, embedder: Embedder
) -> None:
    data = small_disk.path / "var"
    store = KnowledgeStore.open(data, embedder)
    store.upsert(
        [Document(source="custom", kind="note", ts=T0, service="s", text=f"note {i}")
         for i in range(20)]
    )  # fmt: skip
    AlertBook(path=data / "alerts.json").update([detection(0)], at(0))
    before = (data / "alerts.json").read_bytes()
    small_disk.fill(leave=0)
    env = child_env(
        VIGIL_DATA_DIR=str(data),
        VIGIL_CONFIG_DIR=str(config_dir),
        VIGIL_HTTP_PORT=str(free_port()),
        VIGIL_WEB_CONSOLE="off",
        VIGIL_CONSOLE="1",
    )
    child = Child([*vigil("run", "--duration", "1")], env, tmp_path / "run.log", cwd=tmp_path)
    code = child.finish(timeout=120)
    out = "\n".join(child.lines) + "\n" + child.stderr_path.read_text(errors="replace")
    assert "Traceback" not in out, out
    assert code in (0, 1), out
    said = [x for x in out.splitlines() if "no space left on device" in x.lower()]
    assert said and any(str(data) in x for x in said), out
    assert (data / "alerts.json").read_bytes() == before
    small_disk.free()
    assert KnowledgeStore.open(data, embedder).count() == 20
    assert not leftovers(data)
