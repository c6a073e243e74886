"""The shared log miner: patterns and counts per window, the new-pattern signal, stable ids and
embed texts, save / rollback / restart, a damaged state file; and the line parsers."""

from __future__ import annotations

import logging
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from knowledge.documents import Document
from knowledge.logformats import LineParser, parse_apache, parse_json, parse_plain, parse_syslog
from knowledge.logmining import STATE_FILE, LogLine, LogMiner, MinerConfig, mask
from knowledge.redaction import Redactor

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
REDACT = Redactor().redact
NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


def lines(
    seed: int, count: int, start: datetime = T0, span: timedelta = 3 * WINDOW
) -> list[LogLine]:
    """Lines of four templates (one ERROR) over ``span``, with variable numbers, IPs, emails."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        ts = start + span * i / count
        kind = rng.randrange(4)
        host = f"pay-{rng.randrange(1, 3)}"
        if kind == 0:
            msg = f"GET /api/orders/{rng.randrange(10**6)} answered 200 in {rng.randrange(900)}ms"
            out.append(LogLine(ts, msg, "INFO", "checkout", host))
        elif kind == 1:
            who = rng.choice(["ann", "bob"])
            msg = f"user {who}@example.com logged in from 10.0.{rng.randrange(255)}.7"
            out.append(LogLine(ts, msg, "INFO", "checkout", host))
        elif kind == 2:
            msg = (
                f"HikariPool-{rng.randrange(3)} - Connection is not available, request timed "
                f"out after {rng.randrange(30000)}ms."
            )
            out.append(LogLine(ts, msg, "ERROR", "checkout", host))
        else:
            msg = f"cache refresh took {rng.random():.3f}s for shard {rng.randrange(64)}"
            out.append(LogLine(ts, msg, "DEBUG", "search", host))
    return out


def miner(path: Path, **config: object) -> LogMiner:
    return LogMiner("files", path, REDACT, MinerConfig(**config))  # type: ignore[arg-type]


def expected_counts(batch: list[LogLine]) -> Counter[tuple[datetime, str, str]]:
    counts: Counter[tuple[datetime, str, str]] = Counter()
    for line in batch:
        w0 = datetime.fromtimestamp(int(line.ts.timestamp()) // 300 * 300, UTC)
        counts[(w0, line.service, line.level)] += 1
    return counts


def counts_of(documents: list[Document]) -> Counter[tuple[datetime, str, str]]:
    counts: Counter[tuple[datetime, str, str]] = Counter()
    for doc in documents:
        counts[(doc.ts, doc.service, doc.payload["level"])] += doc.payload["count"]
    return counts


def test_mask_replaces_variable_parts() -> None:
    masked = mask(
        "user bob@example.com from 10.1.2.3:8080 req 550e8400-e29b-41d4-a716-446655440000 "
        'at 2026-11-21T08:05:03Z took 300ms addr 0x7ffd id a3f9c2e1b4d5 GET /u/42?token=x "q"'
    )
    for raw in (
        "bob@",
        "10.1.2.3",
        "550e8400",
        "08:05",
        "300",
        "0x7ffd",
        "a3f9c2e1b4d5",
        "42",
        "token",
    ):
        assert raw not in masked
    for placeholder in (
        "<EMAIL>",
        "<IP>",
        "<UUID>",
        "<TS>",
        "<NUM>ms",
        "<HEX>",
        "?<QUERY>",
        "<STR>",
    ):
        assert placeholder in masked
    assert mask("plain words only") == "plain words only"


def test_patterns_counts_and_documents(tmp_path: Path) -> None:
    batch = lines(1, 3000)
    m = miner(tmp_path)
    assert m.add(batch) == len(batch)
    docs, embed = m.close(T0 + 3 * WINDOW)
    assert len(docs) == len(embed)
    assert counts_of(docs) == expected_counts(batch)
    assert {d.ts for d in docs} == {T0, T0 + WINDOW, T0 + 2 * WINDOW}
    assert all(d.kind == "log_pattern" and d.source == "files" for d in docs)
    error = next(d for d in docs if d.payload["level"] == "ERROR")
    assert "Connection is not available" in error.text
    assert "<NUM>" in error.payload["template"]
    assert error.severity == "critical"  # hundreds of errors in the window
    assert error.title == "checkout ERROR log pattern"
    assert "08:00–08:05 UTC on 2026-11-21" in error.text or "08:05–08:10" in error.text
    assert set(error.payload["hosts"]) <= {"pay-1", "pay-2"}
    for doc in docs:  # examples are redacted, templates never hold the raw values
        assert "@example.com" not in doc.text and "10.0." not in doc.text
    assert m.close(T0 + 10 * WINDOW) == ([], [])  # forgotten once emitted


def test_only_ended_windows_close(tmp_path: Path) -> None:
    m = miner(tmp_path)
    m.add(lines(2, 600))
    docs, _ = m.close(T0 + WINDOW + timedelta(minutes=2))
    assert {d.ts for d in docs} == {T0}
    assert [start for start, _ in m.open_windows()] == [
        T0 + WINDOW,
        T0 + WINDOW,
        T0 + 2 * WINDOW,
        T0 + 2 * WINDOW,
    ]


def test_late_lines_for_closed_windows_are_dropped_and_counted(tmp_path: Path) -> None:
    m = miner(tmp_path)
    m.add(lines(3, 100, span=WINDOW))
    m.close(T0 + WINDOW)
    assert m.add([LogLine(T0 + timedelta(minutes=1), "late line", "INFO", "checkout")]) == 0
    assert m.stats.late == 1
    assert m.add([LogLine(T0 + timedelta(minutes=6), "on time", "INFO", "checkout")]) == 1


def test_ids_and_embed_texts_are_stable(tmp_path: Path) -> None:
    batch = lines(4, 1000, span=WINDOW)
    first = miner(tmp_path / "a")
    first.add(batch)
    docs_a, embed_a = first.close(T0 + WINDOW)
    again = miner(tmp_path / "a2")
    again.add(batch)
    docs_b, embed_b = again.close(T0 + WINDOW)
    # another state dir name is another instance: different ids, same embed texts
    assert {d.id for d in docs_a}.isdisjoint({d.id for d in docs_b})
    assert embed_a == embed_b
    replay = LogMiner("files", tmp_path / "b", REDACT, instance="a")
    replay.add(batch)
    docs_c, _ = replay.close(T0 + WINDOW)
    assert [d.id for d in docs_c] == [d.id for d in docs_a]
    # the next window of the same patterns: new ids, the same texts to embed
    first.add(lines(5, 1000, start=T0 + WINDOW, span=WINDOW))
    docs_d, embed_d = first.close(T0 + 2 * WINDOW)
    assert {d.id for d in docs_d}.isdisjoint({d.id for d in docs_a})
    assert set(embed_d) == set(embed_a)
    assert all(text.split()[0] in ("checkout", "search") for text in embed_d)
    assert all("2026" not in text and "x '" not in text for text in embed_d)


def test_new_pattern_is_a_signal(tmp_path: Path) -> None:
    m = miner(tmp_path, warmup_lines=100)
    m.add(lines(6, 500, span=WINDOW))
    docs, _ = m.close(T0 + WINDOW)
    assert not any(d.payload["new"] for d in docs)  # learnt during warm-up: not news
    m.add(lines(7, 500, start=T0 + WINDOW, span=WINDOW))
    surprise = T0 + WINDOW + timedelta(seconds=42)
    m.add([LogLine(surprise, "disk quota exceeded on volume data7", "INFO", "checkout", "pay-1")])
    docs, _ = m.close(T0 + 2 * WINDOW)
    new = [d for d in docs if d.payload["new"]]
    assert len(new) == 1
    assert new[0].text.startswith("New checkout INFO log pattern")
    assert "first seen at 08:05:42 UTC" in new[0].text
    assert new[0].severity == "warning"  # an INFO line, but never seen before
    assert all(d.severity in ("info", "critical") for d in docs if not d.payload["new"])


def test_bounded_documents_per_window(tmp_path: Path) -> None:
    m = miner(tmp_path, top_patterns=2, max_documents=3, max_patterns=5, warmup_lines=0)
    batch = [
        LogLine(
            T0 + timedelta(seconds=i),
            f"{NAMES[i % 9]} happened",
            "ERROR" if i % 9 == 8 else "INFO",
            "svc",
        )
        for i in range(90)
    ]
    m.add(batch)
    docs, _ = m.close(T0 + WINDOW)
    assert len(docs) == 3
    assert docs[0].payload["window_lines"] == 90
    assert docs[0].payload["other_lines"] == 90 - 5 * 10


def test_open_windows_are_bounded(tmp_path: Path) -> None:
    m = miner(tmp_path, max_open_windows=3)
    for i in range(6):
        m.add([LogLine(T0 + i * WINDOW, "tick", "INFO", "svc")])
    assert m.stats.open_windows == 6  # three open, three closed early waiting for close()
    assert len(m.open_windows()) == 3
    docs, _ = m.close(T0)  # nothing ended by T0, but the early-closed ones come out
    assert [d.ts for d in docs] == [T0, T0 + WINDOW, T0 + 2 * WINDOW]


def test_save_rollback_restart(tmp_path: Path) -> None:
    batch = lines(8, 2000)
    m = miner(tmp_path)
    m.add(batch[:1000])
    m.save(extra={"offset": 1000})
    m.add(batch[1000:])
    m.rollback()
    assert m.extra == {"offset": 1000}
    m.add(batch[1000:])
    docs_a, _ = m.close(T0 + 3 * WINDOW)

    restarted = miner(tmp_path)
    assert restarted.extra == {"offset": 1000}
    restarted.add(batch[1000:])
    docs_b, _ = restarted.close(T0 + 3 * WINDOW)
    assert [(d.id, d.text, d.payload) for d in docs_b] == [
        (d.id, d.text, d.payload) for d in docs_a
    ]
    assert counts_of(docs_b) == expected_counts(batch)
    assert not list(tmp_path.glob(".*.tmp"))


def test_rollback_without_save_is_a_fresh_miner(tmp_path: Path) -> None:
    m = miner(tmp_path)
    m.add(lines(9, 100))
    m.rollback()
    assert m.stats.lines == 0 and m.stats.clusters == 0 and m.close(T0 + 9 * WINDOW) == ([], [])


@pytest.mark.parametrize("damage", [b"garbage", b"", "truncate", "flip"])
def test_damaged_state_is_moved_aside(
    tmp_path: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    m = miner(tmp_path)
    m.add(lines(10, 300))
    m.save(extra={"k": 1})
    path = tmp_path / STATE_FILE
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:])
    else:
        assert isinstance(damage, bytes)
        path.write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="knowledge.logmining"):
        fresh = miner(tmp_path)
    assert fresh.stats.lines == 0 and fresh.extra == {}
    assert (tmp_path / (STATE_FILE + ".corrupt")).exists()
    assert not path.exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "damaged" in warnings[0] and "\n" not in warnings[0]
    fresh.add(lines(11, 10))
    fresh.save()
    assert miner(tmp_path).stats.lines == 10


def test_state_file_cannot_run_code(tmp_path: Path) -> None:
    import pickle
    import zlib

    from knowledge import logmining

    body = zlib.compress(pickle.dumps({"version": 1, "x": print}))
    (tmp_path / STATE_FILE).write_bytes(
        logmining._MAGIC + zlib.crc32(body).to_bytes(4, "big") + body
    )
    assert miner(tmp_path).stats.lines == 0
    assert (tmp_path / (STATE_FILE + ".corrupt")).exists()


# ----------------------------------------------------------------------------- parsers


def test_parse_apache_levels_and_message() -> None:
    line = (
        '83.149.9.216 - frank [17/May/2015:10:05:03 +0200] "GET /a/b.png HTTP/1.1" 503 203 '
        '"http://x/" "Mozilla/5.0"'
    )
    ts, level, message, _, _ = parse_apache(line) or pytest.fail("not parsed")
    assert ts == datetime(2015, 5, 17, 8, 5, 3, tzinfo=UTC)
    assert level == "ERROR"
    assert "83.149" not in message and "frank" not in message and "2015" not in message
    assert message.startswith("GET /a/b.png HTTP/1.1 503 203")
    common = '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "POST /login HTTP/1.0" 404 -'
    assert (parse_apache(common) or pytest.fail("common"))[1] == "WARN"
    assert parse_apache("not an access log") is None


def test_parse_json_syslog_plain() -> None:
    parsed = parse_json(
        '{"@timestamp":"2026-11-21T08:05:03.5Z","level":"warning","msg":"slow","service":'
        '{"name":"pay"},"host":{"name":"h1"},"error":"Trace"}'
    )
    assert parsed == (
        datetime(2026, 11, 21, 8, 5, 3, 500000, tzinfo=UTC),
        "WARN",
        "slow\nTrace",
        "pay",
        "h1",
    )
    assert (parse_json('{"ts": 1795248303000, "message": "x"}') or pytest.fail())[0].year == 2026
    assert parse_json('{"no": "time"}') is None and parse_json("{broken") is None
    sys5424 = parse_syslog("<11>1 2026-11-21T08:05:03Z web1 nginx 12 ID - upstream down")
    assert sys5424 is not None and sys5424[1:] == ("ERROR", "upstream down", "nginx", "web1")
    sys3164 = parse_syslog("Nov 21 08:05:03 web1 sshd[42]: error: auth failed")
    assert sys3164 is not None and sys3164[1:] == ("ERROR", "error: auth failed", "sshd", "web1")
    plain = parse_plain("2026-11-21 08:05:03,123 ERROR [main] c.f.Pool - timed out")
    assert plain is not None and plain[1] == "ERROR" and plain[2] == "[main] c.f.Pool - timed out"
    assert plain[0] == datetime(2026, 11, 21, 8, 5, 3, 123000, tzinfo=UTC)


def test_line_parser_multiline_and_unparsed() -> None:
    parser = LineParser(service="pay", host="h")
    records = parser.parse(
        [
            "    at orphan.Frame(x)",  # belongs to a record of an earlier batch: dropped
            "2026-11-21T08:05:03Z ERROR boom",
            "\tat com.foo.Bar(Bar.java:1)",
            "Caused by: java.io.IOException",
            "",
            "\x00\x01 garbage \ufffd",
            "2026-11-21T08:05:09Z INFO fine",
        ]
    )
    assert [r.level for r in records] == ["ERROR", "", "INFO"]
    assert (
        records[0].message == "boom\n\tat com.foo.Bar(Bar.java:1)\nCaused by: java.io.IOException"
    )
    assert records[1].ts == records[0].ts  # an unparsed line takes the previous line's time
    assert parser.unparsed == 1 and parser.format == "plain"
    assert all(r.service == "pay" and r.host == "h" for r in records)
