"""The knowledge store on object storage: a real LanceDB against moto's S3 server (a separate
process on a loopback port), opened the way the bot opens it (``open_store`` and the settings)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.doctor import check_lancedb
from bot.knowledge import open_store, storage_options, store_location, store_present
from knowledge.documents import Document
from knowledge.embeddings import Embedder
from knowledge.errors import StoreError
from knowledge.store import REMOTE_READ_CONSISTENCY, KnowledgeStore, display_location, is_remote
from tests.servers.s3 import (
    ACCESS_KEY,
    SECRET_KEY,
    S3Server,
    free_port,
    s3_server_fixture,  # noqa: F401 (moto, one per module)
)

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
SESSION_TOKEN = "vigil-test-session-token-Jx4"
HIKARI = "HikariPool-1 connection is not available after 30000ms: raise the payments pool size"

MakeSettings = Callable[..., Settings]


def window(i: int, ts: datetime) -> Document:
    return Document(
        source="demo",
        kind="metric_window",
        ts=ts,
        service="payments",
        host=f"payments-{i % 2 + 1}",
        text=f"payments-{i % 2 + 1} window {i}: db_pool_usage {50 + i} % latency {100 + i} ms",
    )


def eventually(check: Callable[[], bool]) -> None:
    """Wait for ``check()`` as long as a replica may lag behind (plus slack for a slow CI)."""
    deadline = time.monotonic() + REMOTE_READ_CONSISTENCY.total_seconds() + 5
    while not check():
        assert time.monotonic() < deadline, "a replica did not see the write in time"
        time.sleep(0.2)


def unit_vectors(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, 384)).astype(np.float32)
    return list(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


@pytest.mark.slow
def test_the_store_lives_in_the_bucket_and_another_replica_reads_it(
    make_settings: MakeSettings, data_dir: Path, s3_server: S3Server, embedder: Embedder
) -> None:
    bucket = s3_server.new_bucket()
    settings = make_settings(**s3_server.env(f"s3://{bucket}/vigil"))
    writer = open_store(settings, embedder)  # the scheduler leader
    assert writer.remote and writer.path is None and writer.location == f"s3://{bucket}/vigil"
    old = [window(i, T0 + timedelta(minutes=i)) for i in range(10)]
    new = [window(i, T0 + timedelta(days=9, minutes=i)) for i in range(10, 30)]
    runbook = Document(source="runbook", kind="runbook", title="Hikari pool", text=HIKARI)
    result = writer.upsert([*old, *new, runbook])
    assert (result.inserted, result.embedded) == (31, 31)

    reader = open_store(settings, embedder)  # a chat replica, in another process in production
    assert reader.read_consistency == REMOTE_READ_CONSISTENCY
    assert reader.count() == 31
    question = "payments: connection is not available from the Hikari pool"
    assert reader.vector_search(reader.embed_query(question), limit=1)[0].document.id == runbook.id
    assert reader.text_search("HikariPool connection")[0].document.id == runbook.id

    late = window(99, T0 + timedelta(days=9, hours=1))
    writer.upsert([late])
    assert writer.get([late.id])  # a process sees its own writes at once
    report = writer.maintain(T0 + timedelta(days=10))  # demo keeps 7 days
    assert report.deleted == {"demo": 10}
    assert {"ts (BTree)", "source (BTree)", "text (FTS)"} <= set(report.indexes_created)
    eventually(lambda: reader.count() == 22)  # the replica sees both, without reopening
    assert [d.id for d in reader.get([late.id])] == [late.id]
    assert reader.text_search("HikariPool connection")[0].document.id == runbook.id

    keys = s3_server.keys(bucket)
    assert any(k.startswith("vigil/documents.lance/_indices/") for k in keys)
    assert any(k.startswith("vigil/embedding_cache.lance/data/") for k in keys)
    manifests = [k for k in keys if k.startswith("vigil/documents.lance/_versions/")]
    writer.optimize(keep_versions_for=timedelta(milliseconds=1))  # drops the old versions
    versions = "vigil/documents.lance/_versions/"
    after = [k for k in s3_server.keys(bucket) if k.startswith(versions)]
    assert 1 <= len(after) < len(manifests)
    eventually(lambda: reader.count() == 22)

    stats = reader.stats()
    assert stats.path == f"s3://{bucket}/vigil" and stats.documents == 22
    assert stats.by_source == {"demo": 21, "runbook": 1}
    assert stats.bytes_on_disk > 22 * 384 * 4 and "text_idx (FTS)" in stats.indexes
    assert list(data_dir.iterdir()) == []  # nothing was written to the local data dir


@pytest.mark.slow
def test_two_writers_at_once_lose_no_update(
    make_settings: MakeSettings, s3_server: S3Server, embedder: Embedder
) -> None:
    """Lance commits with a conditional put (``If-None-Match: *``), which moto honours: when
    two replicas write at once, one commit loses the race, retries on the new version, and
    both writes survive (a store ignoring the header would let one overwrite the other)."""
    bucket = s3_server.new_bucket()
    settings = make_settings(**s3_server.env(f"s3://{bucket}/vigil"))
    stores = [open_store(settings, embedder), open_store(settings, embedder)]
    batches, size = 4, 5
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for b in range(batches):
                first = 1000 * n + size * b
                docs = [window(first + i, T0 + timedelta(minutes=i)) for i in range(size)]
                stores[n].upsert(docs, vectors=unit_vectors(size, first))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert open_store(settings, embedder).count() == 2 * batches * size


@pytest.mark.slow
def test_a_missing_bucket_or_an_unreachable_endpoint_is_one_clear_line_without_secrets(
    make_settings: MakeSettings,
    s3_server: S3Server,
    embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {**s3_server.env("s3://no-such-bucket/vigil"), "AWS_SESSION_TOKEN": SESSION_TOKEN}
    with pytest.raises(StoreError) as missing:
        open_store(make_settings(**env), embedder)
    message = str(missing.value)
    assert message.startswith(
        "the knowledge store at s3://no-such-bucket/vigil could not be opened"
    )
    assert "the bucket does not exist" in message and "Nothing was deleted" in message
    assert s3_server.endpoint in message and "AWS_ACCESS_KEY_ID" in message

    unreachable = f"http://127.0.0.1:{free_port()}"
    bucket = s3_server.new_bucket()
    env = {**s3_server.env(f"s3://{bucket}/vigil"), "AWS_ENDPOINT_URL": unreachable}
    check = check_lancedb(make_settings(**env, AWS_SESSION_TOKEN=SESSION_TOKEN))  # vigil doctor
    assert check.status == "failed"
    assert "the endpoint refused the connection" in check.detail
    assert "VIGIL_LANCEDB_URI" in check.hint and "AWS_ENDPOINT_URL" in check.hint
    assert s3_server.keys(bucket) == []  # nothing was created elsewhere

    assert all("\n" not in text for text in (message, check.detail, check.hint))
    for text in (message, check.detail, check.hint, caplog.text):
        assert SECRET_KEY not in text and SESSION_TOKEN not in text


def test_storage_options_come_from_the_aws_settings(make_settings: MakeSettings) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_REGION": "eu-west-1",
    }
    settings = make_settings(**env, AWS_ENDPOINT_URL="http://minio:9000/")
    assert storage_options(settings.env, "s3://bucket/vigil") == {
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "aws_session_token": SESSION_TOKEN,
        "aws_region": "eu-west-1",
        "aws_endpoint": "http://minio:9000",
        "allow_http": "true",
    }
    tls = make_settings(AWS_ENDPOINT_URL="https://s3.example.com").env
    assert storage_options(tls, "s3://bucket/vigil") == {"aws_endpoint": "https://s3.example.com"}
    assert storage_options(settings.env, "gs://bucket/vigil") == {}  # from the environment
    assert storage_options(settings.env, "/srv/vigil/lancedb") == {}


def test_the_location_defaults_to_the_data_dir_and_hides_credentials(
    make_settings: MakeSettings, data_dir: Path
) -> None:
    default = make_settings()
    assert store_location(default) == str(data_dir / "lancedb")  # where stores always were
    assert not store_present(default)
    (data_dir / "lancedb").mkdir()
    assert store_present(default)
    assert store_present(make_settings(VIGIL_LANCEDB_URI="s3://bucket/vigil"))
    assert is_remote("s3://b/p") and is_remote("az://c/p") and is_remote("gs://b")
    assert not is_remote("/var/lib/vigil") and not is_remote("file:///var/lib/vigil")
    assert display_location("az://user:pw@container/kb?sv=2024&sig=SECRET") == "az://container/kb"
    assert display_location("s3://bucket/vigil/") == "s3://bucket/vigil"


def test_a_folder_uri_puts_the_store_there(
    make_settings: MakeSettings, data_dir: Path, tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "shared-kb"
    store = open_store(make_settings(VIGIL_LANCEDB_URI=str(folder)), embedder)
    assert not store.remote and store.path == folder and store.location == str(folder)
    assert store.read_consistency == timedelta(0)  # every read sees the newest version
    assert (folder / "documents.lance").is_dir()
    assert not (data_dir / "lancedb").exists()
    assert store.stats().path == str(folder)


def test_refused_credentials_are_named_and_never_echoed(embedder: Embedder) -> None:
    """moto accepts any key pair, so the object store's answers are given here as text."""
    options = {"aws_secret_access_key": SECRET_KEY, "aws_endpoint": "https://s3.example.com"}
    store = KnowledgeStore("s3://bucket/vigil?token=abc", embedder, storage_options=options)
    refused = RuntimeError(
        'ListRequest { status: 403, body: Some("<Error><Code>InvalidAccessKeyId</Code></Error>") }'
    )
    message = str(store._fail("be opened", refused))
    assert message.startswith("the knowledge store at s3://bucket/vigil could not be opened (")
    assert "the credentials were refused: InvalidAccessKeyId" in message
    assert "https://s3.example.com" in message and "token=abc" not in message
    echoed = RuntimeError(f"Generic S3 error: bad request signed with {SECRET_KEY}\nmore")
    message = str(store._fail("be written", echoed))
    assert SECRET_KEY not in message and "***" in message and "\n" not in message
    assert "AWS_ENDPOINT_URL" not in message  # not a reachability problem: no such advice
