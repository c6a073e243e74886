"""kill -9 of the real ``vigil ingest`` (the CLI's own loop, the configured log-file source, the
watermarks and offsets in the data dir, the LanceDB store) half-way through a file: the next
``vigil ingest`` leaves every line in the store exactly once. (``vigil dataset generate`` is
already killed for real in tests/bot/test_cli_dataset.py.)"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from knowledge.embeddings import Embedder
from knowledge.store import KnowledgeStore
from tests.drills.procs import Child, child_env, vigil
from tests.knowledge.sources.test_files import expected, line

LINES = 6000


@pytest.mark.slow
def test_vigil_ingest_killed_mid_file_then_rerun_has_every_line_once(
    config_dir: Path, data_dir: Path, tmp_path: Path, embedder: Embedder
) -> None:
    log = tmp_path / "checkout.log"
    log.write_text("".join(line(i, "ERROR" if i % 97 == 0 else "INFO") for i in range(LINES)))
    path = config_dir / "ai-config.yml"
    config = yaml.safe_load(path.read_text())
    config["sources"]["files"] = {
        "paths": [str(log)],
        "from_beginning": True,
        "settle": "0s",
        "host": "test-host",
        "max_bytes_per_fetch": 16000,  # some 25 passes: a kill lands half-way
    }
    path.write_text(yaml.safe_dump(config))
    env = child_env(VIGIL_DATA_DIR=str(data_dir), VIGIL_CONFIG_DIR=str(config_dir))
    command = vigil("ingest")

    child = Child(command, env, tmp_path / "first.log", cwd=tmp_path)
    child.wait_stderr("ingest files: ", count=4)  # four passes stored and committed
    child.kill9()
    marks = data_dir / "sources" / "watermarks.json"
    assert marks.is_file() and not list(data_dir.rglob("*.corrupt"))
    partial = KnowledgeStore.open(data_dir, embedder).count("kind = 'log_pattern'")
    assert 0 < partial < 80

    again = Child(command, env, tmp_path / "second.log", cwd=tmp_path)
    assert again.finish(timeout=240) == 0, again.stderr()
    assert any(x.startswith("files: ") and " ok; " in x for x in again.lines), again.lines

    docs = KnowledgeStore.open(data_dir, embedder).scan("kind = 'log_pattern'")
    counts: Counter[tuple[str, datetime]] = Counter()
    for doc in docs:
        counts[(doc.service, doc.ts)] += doc.payload["count"]
    assert counts == expected(0, LINES)  # every line once: no gap, no duplicate
    assert len({d.id for d in docs}) == len(docs)
