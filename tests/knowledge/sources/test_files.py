"""The log-file source: tail from the end or the beginning, rotation, truncation, copytruncate,
``.gz`` history, partial lines, binary garbage, offsets that move only on commit, history
import, and kill -9 during ingestion into a real store (no gap, no duplicate)."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from knowledge.documents import Document
from knowledge.redaction import Redactor
from knowledge.sources.base import Fetch, SourceContext, safe_fetch
from knowledge.sources.files import FilesConfig, FilesSource, service_of
from tests.conftest import REPO, SHARED_DATA

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
REDACT = Redactor().redact
APACHE = SHARED_DATA / "logs" / "apache_access.log"
Counts = Counter[tuple[str, datetime]]


def line(i: int, level: str = "INFO") -> str:
    """One plain log line, one every two seconds from T0."""
    ts = T0 + timedelta(seconds=2 * i)
    return f"{ts:%Y-%m-%dT%H:%M:%SZ} {level} request {i} served in {i % 700}ms by worker {i % 7}\n"


def write(path: Path, first: int, count: int, mode: str = "a") -> None:
    with path.open(mode, encoding="utf-8") as handle:
        handle.writelines(line(i) for i in range(first, first + count))


def expected(first: int, count: int, service: str = "checkout") -> Counts:
    counts: Counts = Counter()
    for i in range(first, first + count):
        ts = T0 + timedelta(seconds=2 * i)
        counts[(service, datetime.fromtimestamp(int(ts.timestamp()) // 300 * 300, UTC))] += 1
    return counts


def make(tmp_path: Path, *paths: str, name: str = "app-logs", **options: Any) -> FilesSource:
    config = FilesConfig(paths=paths, settle=timedelta(0), host="test-host", **options)
    context = SourceContext(name=name, state_dir=tmp_path / "state" / name, redact=REDACT)
    return FilesSource(config, context)


class Sink:
    """Stands in for the store: documents by id (an upsert overwrites), commits after."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.items = 0

    def run(self, source: FilesSource, commit: bool = True) -> Fetch:
        result = safe_fetch(source, T0, datetime.now(UTC))
        assert result.status != "error", result.reason
        self.items += result.items
        for doc in result.documents:
            self.docs[doc.id] = doc
        if commit and result.commit is not None:
            result.commit()
        return result

    def drain(self, source: FilesSource) -> int:
        """Fetch until nothing new comes and every window is closed; lines read."""
        before = self.items
        for _ in range(100):
            result = self.run(source)
            if result.items == 0 and not result.documents:
                return self.items - before
        raise AssertionError("the source never ran dry")

    def counts(self) -> Counts:
        counts: Counts = Counter()
        for doc in self.docs.values():
            counts[(doc.service, doc.ts)] += doc.payload["count"]
        return counts


def test_service_names_from_files() -> None:
    assert service_of("/var/log/checkout.log") == "checkout"
    assert service_of("/var/log/checkout.log.2.gz") == "checkout"
    assert service_of("/var/log/nginx/access.log") == "nginx"
    assert service_of("/srv/pay/checkout-20261121.log") == "checkout"
    assert service_of("/srv/pay/app.log") == "pay"


def test_health(tmp_path: Path) -> None:
    missing = make(tmp_path, str(tmp_path / "nope" / "*.log"))
    ok, reason = missing.health()
    assert not ok and str(tmp_path / "nope") in reason
    assert not make(tmp_path).configured()
    (tmp_path / "checkout.log").write_text("x\n")
    ok, reason = make(tmp_path, str(tmp_path / "*.log")).health()
    assert ok and "1 log files" in reason


def test_tail_from_end_then_new_lines(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 100, "w")
    source, sink = make(tmp_path, str(log)), Sink()
    assert sink.run(source).items == 0  # history is left alone
    write(log, 100, 50)
    assert sink.drain(source) == 50
    assert sink.counts() == expected(100, 50)


def test_from_beginning_reads_everything_once(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 300, "w")
    source, sink = make(tmp_path, str(tmp_path), from_beginning=True), Sink()
    assert sink.drain(source) == 300
    assert sink.counts() == expected(0, 300)
    again = make(tmp_path, str(tmp_path), from_beginning=True)  # restart: offsets were saved
    assert Sink().drain(again) == 0


def test_budget_spreads_reading_over_fetches(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 400, "w")
    source, sink = make(tmp_path, str(log), from_beginning=True, max_bytes_per_fetch=4000), Sink()
    first = sink.run(source)
    assert 0 < first.items < 100
    sink.drain(source)
    assert sink.counts() == expected(0, 400)


def test_rotation_rename_and_recreate(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 100, "w")
    source, sink = make(tmp_path, str(log), from_beginning=True), Sink()
    sink.run(source)
    write(log, 100, 20)  # written just before the rotation, not read yet
    log.rename(tmp_path / "checkout.log.1")  # no longer matched by the glob
    write(log, 120, 30, "w")
    sink.drain(source)
    assert sink.items == 150
    assert sink.counts() == expected(0, 150)
    assert source._handles.keys() == {k for k in source._state["files"]}  # old handle closed


def test_truncation_restarts_at_zero(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 100, "w")
    source, sink = make(tmp_path, str(log), from_beginning=True), Sink()
    sink.drain(source)
    write(log, 200, 10, "w")  # truncated and rewritten, shorter than before
    assert sink.drain(source) == 10
    assert sink.counts() == expected(0, 100) + expected(200, 10)


def test_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 100, "w")
    source, sink = make(tmp_path, str(tmp_path / "checkout.log*"), from_beginning=True), Sink()
    sink.run(source)
    write(log, 100, 20)
    shutil.copyfile(log, tmp_path / "checkout.log.1")  # copy ...
    with log.open("r+") as handle:  # ... then truncate in place
        handle.truncate(0)
    write(log, 120, 5)
    sink.drain(source)
    assert sink.items == 125  # the copy is read from where the original was left
    assert sink.counts() == expected(0, 125)


def test_gz_history_read_once_and_compressed_rotations_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    with gzip.open(folder / "app.log.2.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(line(i) for i in range(0, 200))
    write(folder / "app.log.1", 200, 100, "w")
    source, sink = make(tmp_path, str(folder), from_beginning=True), Sink()
    sink.drain(source)
    assert sink.items == 300
    # logrotate compresses app.log.1 into app.log.1.gz: the same lines, not read again
    with (folder / "app.log.1").open("rb") as src, gzip.open(folder / "app.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (folder / "app.log.1").unlink()
    assert sink.drain(source) == 0
    assert sink.counts() == expected(0, 300, service="logs")


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 10, "w")
    half = line(200)  # in a later window: the first one closes while it waits
    with log.open("a") as handle:
        handle.write(half[:20])
    source, sink = make(tmp_path, str(log), from_beginning=True), Sink()
    assert sink.drain(source) == 10
    with log.open("a") as handle:
        handle.write(half[20:])
    assert sink.drain(source) == 1
    assert sink.counts() == expected(0, 10) + expected(200, 1)


def test_binary_garbage_is_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 10, "w")
    with log.open("ab") as handle:
        handle.write(b"\xff\xfe\x00\x9c binary \x80\x81\n\x00\x00\x00\n")
    write(log, 10, 10)
    source, sink = make(tmp_path, str(log), from_beginning=True), Sink()
    assert sink.drain(source) == 22  # the two garbage lines count too (at the previous time)
    assert sum(sink.counts().values()) == 22


def test_offsets_move_only_on_commit(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 300, "w")
    first = Sink()
    uncommitted = first.run(make(tmp_path, str(log), from_beginning=True), commit=False)
    assert uncommitted.items == 300
    # a new instance (the process was killed before commit) reads the same lines again
    restarted = make(tmp_path, str(log), from_beginning=True)
    replay = Sink()
    assert replay.run(restarted, commit=False).items == 300
    assert {d.id for d in replay.docs.values()} == {d.id for d in first.docs.values()}
    # the same instance fetching again without a commit replays too (rolled back)
    again = Sink()
    assert again.run(restarted).items == 300
    assert {d.id: d.text for d in again.docs.values()} == {
        d.id: d.text for d in first.docs.values()
    }
    again.drain(restarted)
    assert again.counts() == expected(0, 300)


def test_stale_commit_is_ignored(tmp_path: Path) -> None:
    log = tmp_path / "checkout.log"
    write(log, 0, 50, "w")
    source = make(tmp_path, str(log), from_beginning=True)
    stale = safe_fetch(source, T0, datetime.now(UTC))
    fresh = safe_fetch(source, T0, datetime.now(UTC))
    assert stale.commit is not None and fresh.commit is not None
    stale.commit()  # replaced by the later fetch: saves nothing
    assert not (tmp_path / "state" / "app-logs" / "logminer.state").exists()
    fresh.commit()
    assert (tmp_path / "state" / "app-logs" / "logminer.state").exists()


def test_import_paths_reads_history_resumably(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    with gzip.open(folder / "app.log.2.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(line(i) for i in range(0, 500))
    write(folder / "app.log.1", 500, 300, "w")
    os.utime(folder / "app.log.2.gz", (1, 1))  # older: imported first
    source = make(tmp_path, str(tmp_path / "live.log"), max_bytes_per_fetch=8000)
    sink = Sink()
    batches = 0
    for result in source.import_paths([str(folder)]):
        assert result.status != "error", result.reason
        for doc in result.documents:
            sink.docs[doc.id] = doc
        sink.items += result.items
        batches += 1
        if batches == 5:
            break  # interrupted before this batch was committed
        assert result.commit is not None
        result.commit()
    resumed = make(tmp_path, str(tmp_path / "live.log"), max_bytes_per_fetch=8000)
    for result in resumed.import_paths([str(folder)]):
        for doc in result.documents:
            sink.docs[doc.id] = doc
        assert result.commit is not None
        result.commit()
    assert batches == 5
    assert sink.counts() == expected(0, 800, service="old")
    assert list(make(tmp_path, "x").import_paths([str(folder)])) == []  # done: nothing more


@pytest.mark.skipif(not APACHE.exists(), reason=f"{APACHE} is not there (shared data)")
def test_apache_log_without_client_addresses(tmp_path: Path) -> None:
    source = make(tmp_path, str(APACHE), from_beginning=True, format="apache")
    sink = Sink()
    assert sink.drain(source) == 10_000
    assert sum(sink.counts().values()) <= 10_000
    assert all(d.service == "apache_access" for d in sink.docs.values())
    ips = set(re.findall(r"^(\S+) ", APACHE.read_text(encoding="utf-8"), re.M))
    ipv4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
    for doc in sink.docs.values():
        blob = doc.text + json.dumps(doc.payload)
        assert not ipv4.search(blob), blob
        assert not any(ip in blob for ip in ips if ":" in ip)
    levels = {d.payload["level"] for d in sink.docs.values()}
    assert {"INFO", "WARN", "ERROR"} <= levels


# ----------------------------------------------------------------------------- kill -9

CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from knowledge.embeddings import Embedder
    from knowledge.redaction import Redactor
    from knowledge.sources.base import SourceContext
    from knowledge.sources.files import FilesConfig, FilesSource
    from knowledge.store import KnowledgeStore

    log, data = Path(sys.argv[1]), Path(sys.argv[2])
    store = KnowledgeStore.open(data, Embedder())
    config = FilesConfig(paths=(str(log),), settle="0s", from_beginning=True,
                         max_bytes_per_fetch=3000)
    source = FilesSource(config, SourceContext("app-logs", data / "state", Redactor().redact))
    idle = 0
    while idle < 2:
        fetch = source.fetch(datetime(2026, 1, 1, tzinfo=UTC), datetime.now(UTC))
        assert fetch.status != "error", fetch.reason
        if fetch.documents:
            store.upsert(fetch.documents, embed_texts=fetch.vectors_from)
        fetch.commit()
        print("fetched", fetch.items, len(fetch.documents), flush=True)
        idle = idle + 1 if not fetch.items and not fetch.documents else 0
    print("done", flush=True)
    """
)


def test_kill_9_during_ingestion_loses_and_doubles_nothing(tmp_path: Path, embedder: Any) -> None:
    from knowledge.store import KnowledgeStore

    log, data = tmp_path / "checkout.log", tmp_path / "var"
    lines = 3000
    with log.open("w", encoding="utf-8") as handle:  # a few lines with an error level too
        handle.writelines(line(i, "ERROR" if i % 97 == 0 else "INFO") for i in range(lines))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(script), str(log), str(data)]

    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert child.stdout is not None
    fetched = 0
    for out in child.stdout:  # let it commit a few batches, then kill it mid-way
        if out.startswith("fetched") and int(out.split()[2]) > 0:
            fetched += 1
            if fetched == 4:
                break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    finished = subprocess.run(
        command, env=env, capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.strip().endswith("done")

    store = KnowledgeStore.open(data, embedder)
    docs = store.scan("kind = 'log_pattern'")
    counts: Counts = Counter()
    for doc in docs:
        counts[(doc.service, doc.ts)] += doc.payload["count"]
    assert counts == expected(0, lines)  # every window: exactly the lines written
    assert len({d.id for d in docs}) == len(docs)
    errors = sum(d.payload["count"] for d in docs if d.payload["level"] == "ERROR")
    assert errors == len(range(0, lines, 97))
