"""The log path end to end: read files, parse, mine templates (Drain3), redact, embed only new or
changed patterns, upsert into a real knowledge store.

    python -m tests.bench logs            # 3,000,000 lines (about 3 minutes on 2 cores)
    python -m tests.bench logs --quick    # 300,000 lines (about 30 seconds)

Target: >= 20,000 raw lines/s on 2 cores, memory bounded by configuration (RSS after 1M lines
about the same as after 3M).

The input is ``../shared/data/logs/apache_access.log`` (10,000 real access-log lines over three
and a half days) replayed: copy k keeps each line's time of day and moves its date k * 4 days on,
so the replay spans years of windows, as a long-lived log would. It is written once into a
temporary folder, then followed by a ``FilesSource`` from its beginning, exactly as ingestion
does: fetch, upsert with the stable embed texts, commit. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from knowledge.embeddings import Embedder
from knowledge.redaction import Redactor
from knowledge.sources.base import SourceContext
from knowledge.sources.files import FilesConfig, FilesSource
from knowledge.store import KnowledgeStore
from tests.bench.common import Summary
from tests.conftest import SHARED_DATA

SOURCE = SHARED_DATA / "logs" / "apache_access.log"
FULL, QUICK = 3_000_000, 300_000
DAYS_PER_COPY = 4
TARGET = 20_000
_DATE = re.compile(r"\[(\d\d/[A-Z][a-z]{2}/\d{4}):")


def rss_mb() -> float:
    """Resident memory now, in MiB."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for row in handle:
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_replay(target: Path, lines: int) -> int:
    """``lines`` lines of the access log, copy after copy, each copy ``DAYS_PER_COPY`` days on."""
    original = SOURCE.read_text(encoding="utf-8").splitlines(keepends=True)
    dates = sorted({m.group(1) for row in original if (m := _DATE.search(row))})
    written = 0
    copy = 0
    with target.open("w", encoding="utf-8") as handle:
        while written < lines:
            shift = timedelta(days=DAYS_PER_COPY * copy)
            moved = {
                f"[{d}:": f"[{datetime.strptime(d, '%d/%b/%Y') + shift:%d/%b/%Y}:" for d in dates
            }
            rows = original[: lines - written]
            out = []
            for row in rows:
                m = _DATE.search(row)
                out.append(row.replace(m.group(0), moved[m.group(0)], 1) if m else row)
            handle.writelines(out)
            written += len(rows)
            copy += 1
    return written


def run(lines: int, summary: Summary) -> None:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-logs-") as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        log = folder / "apache_access.log"
        written = write_replay(log, lines)
        size = log.stat().st_size
        print(
            f"  replay file: {written:,} lines, {size / 2**20:.0f} MiB "
            f"({time.perf_counter() - began:.1f}s to write)"
        )
        embedder = Embedder()
        embedder.embed(["load the model"])
        store = KnowledgeStore.open(folder / "var", embedder)
        config = FilesConfig(
            paths=(str(log),), format="apache", from_beginning=True, settle=timedelta(0)
        )
        context = SourceContext(
            "bench-logs", folder / "var" / "sources" / "bench-logs", Redactor().redact
        )
        source = FilesSource(config, context)

        read = documents = embedded = cached = fetches = 0
        t_fetch = t_upsert = t_commit = 0.0
        checkpoints: list[tuple[int, float]] = []
        next_mark = 1_000_000 if lines >= 2_000_000 else lines // 3
        print(f"  start RSS {rss_mb():.0f} MiB")
        started = time.perf_counter()
        idle = 0
        while idle < 2:
            t0 = time.perf_counter()
            fetch = source.fetch(datetime(2015, 1, 1, tzinfo=UTC), datetime.now(UTC))
            t1 = time.perf_counter()
            assert fetch.status != "error", fetch.reason
            if fetch.documents:
                result = store.upsert(fetch.documents, embed_texts=fetch.vectors_from)
                embedded += result.embedded
                cached += result.cached
            t2 = time.perf_counter()
            assert fetch.commit is not None
            fetch.commit()
            t3 = time.perf_counter()
            t_fetch, t_upsert, t_commit = t_fetch + t1 - t0, t_upsert + t2 - t1, t_commit + t3 - t2
            fetches += 1
            read += fetch.items
            documents += len(fetch.documents)
            idle = idle + 1 if not fetch.items and not fetch.documents else 0
            if read >= next_mark:
                checkpoints.append((read, rss_mb()))
                next_mark += 1_000_000 if lines >= 2_000_000 else lines // 3
        wall = time.perf_counter() - started
        if not checkpoints or checkpoints[-1][0] != read:
            checkpoints.append((read, rss_mb()))
        stats = source.miner.stats
        source.close()

        rate = read / wall
        print(
            f"  {read:,} lines in {wall:.1f}s over {fetches} fetches: {rate:,.0f} lines/s"
            f"   (read+parse+mine+redact {t_fetch:.1f}s, embed+upsert {t_upsert:.1f}s,"
            f" save state {t_commit:.1f}s)"
        )
        print(
            f"  {stats.clusters} patterns (Drain3 clusters), {documents:,} documents,"
            f" {embedded} embedded ({embedded / wall:.1f}/s), {cached:,} from the cache,"
            f" {stats.late} late lines dropped"
        )
        for at, mb in checkpoints:
            print(f"  RSS after {at:>9,} lines: {mb:6.0f} MiB")
        print(f"  peak RSS {peak_rss_mb():.0f} MiB; store rows {store.count():,}")
        summary.add("log path lines/s", f"{rate:,.0f}", f">= {TARGET:,}")
        summary.add("patterns", f"{stats.clusters}")
        summary.add("documents", f"{documents:,}")
        summary.add("embeddings", f"{embedded} ({embedded / wall:.1f}/s)")
        summary.add(
            "RSS first / last checkpoint",
            f"{checkpoints[0][1]:.0f} / {checkpoints[-1][1]:.0f} MiB",
            "bounded",
        )
        summary.add("peak RSS", f"{peak_rss_mb():.0f} MiB")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench logs")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} lines instead of {FULL:,}")
    parser.add_argument("--lines", type=int, default=0, help="replay this many lines")
    args = parser.parse_args(list(argv or []))
    lines = args.lines or (QUICK if args.quick else FULL)
    if not SOURCE.exists():
        print(f"== logs: skipped, {SOURCE} is not there")
        return
    print(f"== logs{' (quick)' if args.quick else ''}: {lines:,} lines, cpus {os.cpu_count()}")
    summary = Summary("logs" + (" (quick)" if args.quick else ""))
    run(lines, summary)
    summary.print()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
