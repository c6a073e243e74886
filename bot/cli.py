"""The ``vigil`` command line. Exit codes: 0 ok, 1 a component or command failed, 2 bad
configuration or usage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.config import Settings, load_settings
from bot.logging import configure_logging
from knowledge.errors import ConfigError, QueryError, VigilError

if TYPE_CHECKING:
    from datetime import timedelta

    from rich.progress import Progress, TaskID

    from bot.history import ImportJob
    from knowledge.sources.base import Redact, Source
    from knowledge.store import KnowledgeStore

app = typer.Typer(
    name="vigil",
    help="Vigil: chat-ops for observability. Answers from your own metrics, logs, traces, "
    "runbooks and incidents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("vigil")
_state: dict[str, object] = {"log_json": None, "log_level": None}


@app.callback()
def _global(
    log_json: Annotated[bool, typer.Option("--log-json", help="log as JSON lines")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    _state["log_json"] = log_json or None
    _state["log_level"] = "DEBUG" if verbose else None


def _settings() -> Settings:
    """Load settings and set up logging; a bad value exits 2 with one line."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(f"vigil: config error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(
        level=str(_state["log_level"] or settings.env.VIGIL_LOG_LEVEL),
        json_lines=bool(_state["log_json"]) or settings.env.VIGIL_LOG_FORMAT == "json",
        secrets=settings.env.secret_values(),
    )
    return settings


def _run_async(coro: object) -> int:
    try:
        return int(asyncio.run(coro))  # type: ignore[arg-type]
    except ConfigError as exc:
        typer.echo(f"vigil: config error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        return 0


@app.command()
def demo(
    duration: Annotated[
        float | None, typer.Option(help="stop by itself after this many seconds", min=0)
    ] = None,
    no_web: Annotated[bool, typer.Option("--no-web", help="do not serve the web console")] = False,
) -> None:
    """Run the demo: a simulated fleet with scripted incidents, alerts and chat, all offline."""
    from bot.demo import run_demo

    settings = _settings()
    raise typer.Exit(_run_async(run_demo(settings, duration=duration, web=not no_web)))


@app.command()
def run(
    duration: Annotated[
        float | None, typer.Option(help="stop by itself after this many seconds", min=0)
    ] = None,
) -> None:
    """Run the bot with the integrations configured in .env and data_config/."""
    settings = _settings()
    raise typer.Exit(_run_async(_run_bot(settings, duration)))


async def _run_bot(settings: Settings, duration: float | None) -> int:
    from bot.app import VigilApp
    from bot.channels import console_sink

    sources = _sources(settings) if _any_source(settings) else []
    # Prometheus also answers live questions and feeds alerts (it reads metrics at ask time)
    telemetry = next((s for s in sources if s.kind == "prometheus"), None)
    bot = VigilApp(settings, telemetry=telemetry, sources=sources)
    if settings.env.VIGIL_CONSOLE:
        bot.hub.add_sink(console_sink())
    if not sources:
        log.warning(
            "no data source is configured: set PROMETHEUS_URL, ELASTICSEARCH_URL or JAEGER_URL "
            "in .env, or sources.files.paths in ai-config.yml; answers use runbooks only"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await bot.start()
    log.info("vigil is running; Ctrl-C to stop")
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    finally:
        await bot.stop()
    return 0


@app.command()
def doctor(
    quick: Annotated[bool, typer.Option("--quick", help="do not load the embedding model")] = False,
) -> None:
    """Check every configured component and say how to fix what fails."""
    from bot.doctor import Check, run_checks

    try:
        settings = load_settings()
    except ConfigError as exc:
        checks = [Check("config", "failed", str(exc), "fix the value named above")]
        _print_checks(checks)
        raise typer.Exit(2) from None
    configure_logging(level="WARNING", secrets=settings.env.secret_values())
    checks = run_checks(settings, load_model=not quick)
    _print_checks(checks)
    failed = [c for c in checks if c.status == "failed"]
    if failed:
        typer.echo(f"{len(failed)} component(s) failed: {', '.join(c.component for c in failed)}")
    raise typer.Exit(1 if failed else 0)


def _print_checks(checks: list) -> None:
    table = Table("component", "status", "detail", "how to fix", show_lines=False)
    style = {"ok": "green", "failed": "bold red", "not configured": "dim"}
    for check in checks:
        table.add_row(
            check.component, f"[{style[check.status]}]{check.status}[/]", check.detail, check.hint
        )
    Console(width=160, soft_wrap=False).print(table)


kb = typer.Typer(
    help="The knowledge store: statistics, search, runbooks, upkeep.", no_args_is_help=True
)
app.add_typer(kb, name="kb")


def _store(settings: Settings) -> KnowledgeStore:
    """The knowledge store, or exit 1 with the reason when it cannot be opened."""
    from bot.knowledge import open_store

    try:
        return open_store(settings)
    except VigilError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="the question, in quotes")],
    as_json: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
) -> None:
    """Ask one question against the knowledge store; the answer cites its sources."""
    import json
    import sys

    from bot.knowledge import build_answerer, make_redactor

    settings = _settings()
    store = _store(settings)
    answerer = build_answerer(settings, make_redactor(settings), store)
    stream = not as_json and sys.stdout.isatty() and answerer.provider is not None
    streamed: list[str] = []

    def on_token(piece: str) -> None:
        streamed.append(piece)
        typer.echo(piece, nl=False)

    try:
        answer = answerer.ask(question, on_token=on_token if stream else None)
    except VigilError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(2 if isinstance(exc, QueryError) else 1) from None
    if as_json:
        typer.echo(json.dumps(answer.to_json(), indent=2, ensure_ascii=False))
        return
    if streamed:
        typer.echo("")
        for note in answer.notes:
            typer.echo(f"Note: {note}")
    else:
        typer.echo(answer.text)
    typer.echo("\nSources:")
    for source in answer.sources():
        typer.echo(f"  [{source['n']}] {source['label']}")
    typer.echo(
        f"\n{answer.provider} ({answer.model}), {answer.latency_ms:,.0f} ms, "
        f"{answer.prompt_tokens:,} tokens in / {answer.completion_tokens:,} out"
    )


@kb.command("stats")
def kb_stats(
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Documents per source and kind, the newest timestamp, size on disk, indexes."""
    import json

    stats = _store(_settings()).stats()
    if as_json:
        typer.echo(json.dumps(stats.to_json(), indent=2))
        return
    console = Console(width=120)
    console.print(
        f"{stats.documents:,} documents in {stats.path} ({stats.bytes_on_disk / 1e6:.1f} MB)"
    )
    table = Table("source", "documents", "newest")
    for source, count in stats.by_source.items():
        newest = stats.newest_by_source.get(source)
        table.add_row(source, f"{count:,}", f"{newest:%Y-%m-%d %H:%M}" if newest else "")
    console.print(table)
    console.print("kinds: " + ", ".join(f"{k} {v:,}" for k, v in stats.by_kind.items()))
    console.print("indexes: " + (", ".join(stats.indexes) or "none yet"))
    console.print(f"embedding cache: {stats.embedding_cache:,} texts")


@kb.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="what to look for")],
    source: Annotated[
        list[str] | None, typer.Option("--source", help="only this source (repeatable)")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="only documents newer than this, e.g. 2h, 3d")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Hybrid search of the knowledge store, without answering."""
    import json
    from datetime import UTC, datetime

    from knowledge.documents import SOURCES
    from knowledge.retrieval import Retriever
    from knowledge.store import sql_in, sql_ts
    from knowledge.timeparse import parse_duration

    settings = _settings()
    filters = []
    for name in source or []:
        if name not in SOURCES:
            typer.echo(f"vigil: --source {name}: expected one of {', '.join(SOURCES)}", err=True)
            raise typer.Exit(2)
    if source:
        filters.append(sql_in("source", source))
    if since:
        try:
            filters.append(f"ts >= {sql_ts(datetime.now(UTC) - parse_duration(since))}")
        except ValueError as exc:
            typer.echo(f"vigil: --since: {exc}", err=True)
            raise typer.Exit(2) from None
    retriever = Retriever(_store(settings), budget={})
    try:
        hits = retriever.search(query, limit=limit, where=" AND ".join(filters) or None)
    except VigilError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        rows = [
            {
                "id": h.document.id,
                "source": h.document.source,
                "kind": h.document.kind,
                "ts": h.document.ts.isoformat(),
                "score": round(h.score, 6),
                "via": sorted(h.via),
                "text": h.document.text,
            }
            for h in hits
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not hits:
        typer.echo("no documents match")
    for n, hit in enumerate(hits, start=1):
        typer.echo(
            f"[{n}] {hit.document.label}  (score {hit.score:.4f}, {'+'.join(sorted(hit.via))})"
        )
        typer.echo(f"    {hit.document.text[:300]}")


@kb.command("add-runbooks")
def kb_add_runbooks(
    folder: Annotated[
        Path, typer.Argument(help="a folder of Markdown runbooks", exists=True, file_okay=False)
    ],
) -> None:
    """Load (or reload) every Markdown runbook under FOLDER, chunked by heading."""
    from bot.knowledge import make_redactor
    from knowledge.ingest import sync_runbooks

    settings = _settings()
    store = _store(settings)
    skipped: list[str] = []
    try:
        report = sync_runbooks(
            store, folder, make_redactor(settings).redact, on_error=lambda e: skipped.append(str(e))
        )
        store.ensure_indexes()
    except VigilError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in skipped:
        typer.echo(f"skipped: {line}", err=True)
    typer.echo(
        f"runbooks from {folder}: {report.documents} sections ({report.inserted} new, "
        f"{report.removed} removed), {report.embedded} embedded"
    )
    raise typer.Exit(1 if skipped else 0)


@kb.command("maintain")
def kb_maintain() -> None:
    """Apply retention, build missing indexes and compact the store now."""
    from datetime import UTC, datetime

    report = _store(_settings()).maintain(datetime.now(UTC))
    deleted = ", ".join(f"{k} {v}" for k, v in report.deleted.items()) or "nothing"
    typer.echo(
        f"deleted: {deleted}; indexes created: {', '.join(report.indexes_created) or 'none'}"
    )


# ----------------------------------------------------------------------------- ingestion


def _any_source(settings: Settings) -> bool:
    env, config = settings.env, settings.ai.sources
    return bool(
        env.PROMETHEUS_URL
        or env.ELASTICSEARCH_URL
        or env.JAEGER_URL
        or config.files.paths
        or config.custom
        or any(getattr(config, n).enabled for n in ("prometheus", "elasticsearch", "jaeger"))
    )


def _sources(settings: Settings, only: str | None = None) -> list:
    """The configured sources (``only``: just that one), or exit 2 / 1 with the reason."""
    from bot.app import build_configured_sources
    from bot.knowledge import make_redactor

    try:
        sources = build_configured_sources(settings, make_redactor(settings).redact)
    except ConfigError as exc:
        typer.echo(f"vigil: config error: {exc}", err=True)
        raise typer.Exit(2) from None
    if only is not None:
        names = [s.name for s in sources]
        sources = [s for s in sources if s.name == only]
        if not sources:
            typer.echo(
                f"vigil: --source {only}: not configured; configured: {', '.join(names) or 'none'}",
                err=True,
            )
            raise typer.Exit(2)
    if not sources:
        typer.echo(
            "vigil: no source is configured: set PROMETHEUS_URL, ELASTICSEARCH_URL or JAEGER_URL "
            "in .env, or sources.files.paths in ai-config.yml",
            err=True,
        )
        raise typer.Exit(1)
    return sources


@app.command()
def ingest(
    source: Annotated[str | None, typer.Option(help="only this source")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="fetch this far back (e.g. 6h) instead of resuming at the watermark"),
    ] = None,
) -> None:
    """One ingestion pass of every configured source (or one), then exit."""
    from datetime import UTC, datetime
    from pathlib import Path

    from bot.app import WATERMARKS_FILE
    from bot.knowledge import make_redactor
    from knowledge.ingest import align_down, ingest_range, ingest_source
    from knowledge.statefile import Watermarks
    from knowledge.timeparse import parse_duration

    settings = _settings()
    try:
        reach = parse_duration(since) if since else None
    except ValueError as exc:
        typer.echo(f"vigil: --since {since}: {exc}", err=True)
        raise typer.Exit(2) from None
    chosen = _sources(settings, source)
    store = _store(settings)
    redact = make_redactor(settings).redact
    marks = Watermarks(Path(settings.data_dir) / "sources" / WATERMARKS_FILE)
    failed = 0
    for src in chosen:
        now = datetime.now(UTC)
        if reach is not None:
            end = align_down(now - src.config.settle)
            run = ingest_range(store, src, align_down(now - reach), end, redact)
            if run.status != "error" and (marks.get(src.name) or end) <= end:
                marks.set(src.name, end)
        else:
            run = ingest_source(store, src, marks, now, redact)
            while run.status in ("ok", "no_data"):
                more = ingest_source(store, src, marks, datetime.now(UTC), redact)
                if more.status == "idle":
                    break
                run = run.plus(more)
        typer.echo(run.line())
        failed += run.status == "error"
        src.close()
    raise typer.Exit(1 if failed else 0)


history = typer.Typer(
    help="Import older data into the knowledge store; resumable (run it again to continue).",
    no_args_is_help=True,
)
app.add_typer(history, name="import-history")


def _progress(total: int | None, label: str) -> tuple[Progress, TaskID]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    task = progress.add_task(label, total=total)
    return progress, task


def _import_range(
    settings: Settings,
    source: Source,
    job: ImportJob,
    redact: Redact,
    step: timedelta,
    label: str,
) -> None:
    """Run a resumable range import with a progress bar, print its result line and exit."""
    from bot.history import chunks, run_range_import

    store = _store(settings)
    resume = job.resume_from()
    if resume > job.start:
        typer.echo(f"resuming at {resume:%Y-%m-%d %H:%M} UTC (--restart to start over)")
    progress, task = _progress(chunks(job.start, job.end, step), label)
    progress.update(task, completed=chunks(job.start, resume, step))
    with progress:
        run = run_range_import(store, source, job, redact, step, lambda *_: progress.advance(task))
    typer.echo(run.line())
    raise typer.Exit(1 if run.status == "error" else 0)


@history.command("prometheus")
def import_prometheus(
    start: Annotated[str, typer.Option("--from", help="2026-11-01, 2026-11-01T06:00 or 30d")],
    end: Annotated[str, typer.Option("--to", help="as --from; default now")] = "0s",
    url: Annotated[str | None, typer.Option(help="default: PROMETHEUS_URL")] = None,
    chunk: Annotated[str, typer.Option(help="range per query")] = "6h",
    restart: Annotated[bool, typer.Option(help="start over instead of resuming")] = False,
) -> None:
    """Metric windows from a Prometheus server over a date range, in chunked range queries."""
    from datetime import UTC, datetime

    from bot.history import ImportJob, parse_when
    from bot.knowledge import make_redactor
    from knowledge.ingest import align_down
    from knowledge.sources.prometheus import PrometheusSource
    from knowledge.sources.registry import with_env
    from knowledge.timeparse import parse_duration

    settings = _settings()
    now = datetime.now(UTC)
    try:
        first, last = align_down(parse_when(start, now)), align_down(parse_when(end, now))
        step = parse_duration(chunk)
    except ValueError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(2) from None
    env = settings.env.model_dump()
    if url:
        env["PROMETHEUS_URL"] = url
    if not env.get("PROMETHEUS_URL"):
        typer.echo("vigil: give --url or set PROMETHEUS_URL", err=True)
        raise typer.Exit(2)
    if last <= first:
        typer.echo(f"vigil: --from {first:%Y-%m-%d %H:%M} is not before --to", err=True)
        raise typer.Exit(2)
    config = with_env("prometheus", settings.ai.sources.prometheus, env)
    job = ImportJob.open(
        settings.data_dir, f"prometheus {env['PROMETHEUS_URL']}", first, last, restart
    )
    redact = make_redactor(settings).redact
    source = PrometheusSource(config, job.context("prometheus", redact, settings.ai.analysis))
    ok, reason = source.health()
    if not ok:
        typer.echo(f"vigil: Prometheus: {reason}", err=True)
        raise typer.Exit(1)
    _import_range(settings, source, job, redact, step, "prometheus")


@history.command("openmetrics")
def import_openmetrics(
    paths: Annotated[list[str], typer.Argument(help="OpenMetrics / Prometheus text files, .gz")],
    chunk: Annotated[str, typer.Option(help="range per pass")] = "6h",
    restart: Annotated[bool, typer.Option(help="start over instead of resuming")] = False,
) -> None:
    """Metric windows from OpenMetrics files with sample timestamps (promtool's input format)."""
    from bot.history import ImportJob
    from bot.knowledge import make_redactor
    from knowledge.ingest import ALIGN, align_down
    from knowledge.sources.openmetrics import (
        OpenMetricsConfig,
        OpenMetricsHistory,
        OpenMetricsSource,
    )
    from knowledge.timeparse import parse_duration

    settings = _settings()
    try:
        step = parse_duration(chunk)
    except ValueError as exc:
        typer.echo(f"vigil: --chunk {chunk}: {exc}", err=True)
        raise typer.Exit(2) from None
    redact = make_redactor(settings).redact
    files = sorted(str(Path(p).resolve()) for p in paths)
    try:
        history = OpenMetricsHistory.from_files(files)
    except (VigilError, OSError, ValueError) as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(1) from None
    span = history.span()
    if span is None:
        typer.echo("vigil: no samples with timestamps in the files", err=True)
        raise typer.Exit(1)
    first, last = align_down(span[0]), align_down(span[1]) + ALIGN
    job = ImportJob.open(settings.data_dir, f"openmetrics {files}", first, last, restart)
    context = job.context("openmetrics", redact, settings.ai.analysis)
    source = OpenMetricsSource(OpenMetricsConfig(paths=tuple(files)), context, history)
    typer.echo(f"{len(files)} file(s), samples {span[0]:%Y-%m-%d %H:%M} to {span[1]:%H:%M} UTC")
    _import_range(settings, source, job, redact, step, "openmetrics")


@history.command("logs")
def import_logs(
    paths: Annotated[list[str], typer.Argument(help="log files or folders (.gz too)")],
    service: Annotated[str | None, typer.Option(help="default: from each file's name")] = None,
    log_format: Annotated[
        str, typer.Option("--format", help="auto, apache, json, syslog or plain")
    ] = "auto",
    restart: Annotated[bool, typer.Option(help="start over instead of resuming")] = False,
) -> None:
    """Log patterns from files or folders, read from the start, oldest file first."""
    from pydantic import ValidationError

    from bot.history import ImportJob
    from bot.knowledge import make_redactor
    from knowledge.documents import EPOCH
    from knowledge.ingest import SourceRun, store_fetch
    from knowledge.sources.files import FilesConfig, FilesSource

    settings = _settings()
    files = sorted(str(Path(p).resolve()) for p in paths)
    missing = [p for p in files if not Path(p).exists()]
    if missing:
        typer.echo(f"vigil: {missing[0]}: no such file or folder", err=True)
        raise typer.Exit(1)
    try:
        config = FilesConfig.model_validate(
            {
                "paths": files,
                "format": log_format,
                "from_beginning": True,
                "mining": settings.ai.sources.files.mining,
                **({"service": service} if service else {}),
            }
        )
    except ValidationError as exc:
        typer.echo(f"vigil: --format {log_format}: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from None
    redact = make_redactor(settings).redact
    job = ImportJob.open(
        settings.data_dir, f"logs {files} {service} {log_format}", EPOCH, EPOCH, restart
    )
    source = FilesSource(config, job.context("files", redact, settings.ai.analysis))
    store = _store(settings)
    total = SourceRun("files", "no_data")
    progress, task = _progress(None, "logs")
    with progress:
        for fetch in source.import_paths(files):
            if fetch.status == "error":
                total = total.plus(SourceRun("files", "error", reason=fetch.reason))
                break
            total = total.plus(store_fetch(store, "files", fetch, redact))
            progress.update(task, description=f"logs: {total.items:,} lines")
    source.close()
    typer.echo(total.line().replace("files: ", f"logs: {len(files)} path(s), ", 1))
    raise typer.Exit(1 if total.status == "error" else 0)


@app.command()
def version() -> None:
    """Print Vigil's version."""
    from importlib.metadata import version as dist_version

    typer.echo(f"vigil {dist_version('vigil')}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
