"""The ``vigil`` command line. Exit codes: 0 ok, 1 a component or command failed, 2 bad
configuration or usage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.cli_dataset import dataset_app
from bot.cli_finetune import finetune_app
from bot.cli_support import load_settings_or_exit, state, usage_error
from bot.config import Settings, load_settings
from bot.logging import configure_logging
from knowledge.errors import ConfigError, QueryError, VigilError
from knowledge.redaction import Redactor

if TYPE_CHECKING:
    from datetime import timedelta

    import pandas as pd
    from rich.progress import Progress, TaskID

    from bot.history import ImportJob
    from knowledge.sources.base import Redact, Source
    from knowledge.statefile import Watermarks
    from knowledge.store import KnowledgeStore
    from training.pipeline import TrainingData
    from training.registry import ModelRegistry

app = typer.Typer(
    name="vigil",
    help="Vigil: chat-ops for observability. Answers from your own metrics, logs, traces, "
    "runbooks and incidents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("vigil")


@app.callback()
def _global(
    log_json: Annotated[bool, typer.Option("--log-json", help="log as JSON lines")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    state["log_json"] = log_json or None
    state["log_level"] = "DEBUG" if verbose else None


def _run_async(coro: object) -> int:
    from bot.chat import ChatError

    try:
        return int(asyncio.run(coro))  # type: ignore[arg-type]
    except ConfigError as exc:
        typer.echo(f"vigil: config error: {exc}", err=True)
        return 2
    except ChatError as exc:
        typer.echo(f"vigil: {exc}", err=True)
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

    settings = load_settings_or_exit()
    raise typer.Exit(_run_async(run_demo(settings, duration=duration, web=not no_web)))


@app.command()
def run(
    duration: Annotated[
        float | None, typer.Option(help="stop by itself after this many seconds", min=0)
    ] = None,
) -> None:
    """Run the bot with the integrations configured in .env and data_config/."""
    settings = load_settings_or_exit()
    raise typer.Exit(_run_async(_run_bot(settings, duration)))


async def _run_bot(settings: Settings, duration: float | None) -> int:
    from bot.app import VigilApp
    from bot.channels import console_sink
    from bot.fronts import start_fronts

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
    role = settings.env.VIGIL_ROLE
    try:
        # the scheduler role answers no chat: it posts alerts, digests and notices
        chat = role != "scheduler"
        fronts = await start_fronts(bot, web=None if chat else False, serve_http=True, listen=chat)
    except OSError as exc:
        typer.echo(f"vigil: {exc.strerror or exc}", err=True)
        return 2
    assert fronts.http is not None
    bot.serve_operations(fronts.http)
    try:
        await bot.start()
    except BaseException:
        await fronts.stop()
        raise
    fronts.http.ready = True
    for front in fronts.fronts:
        # the web console's own url carries its token: log the server's
        where = fronts.http.url if front.platform == "web" and fronts.http else None
        log.info("chat on %s%s", front.platform, f" at {where}" if where else "")
    if not fronts.fronts and role != "scheduler":
        log.warning("no chat front: set SLACK_BOT_TOKEN or DISCORD_TOKEN, or VIGIL_WEB_CONSOLE=on")
    elif not fronts.fronts:
        log.warning(
            "the scheduler role has no chat platform to post alerts and digests to: set "
            "SLACK_BOT_TOKEN or DISCORD_TOKEN"
        )
    log.info(
        "vigil is running (role %s; /metrics, /healthz and /readyz at %s); Ctrl-C to stop",
        role,
        fronts.http.url,
    )
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    finally:
        fronts.http.ready = False
        # the jobs first: an alerts run finishing now still posts through the fronts
        await bot.stop()
        await fronts.stop()
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
        _print_checks(checks, _secrets_only())
        raise typer.Exit(2) from None
    configure_logging(level="WARNING", secrets=settings.env.secret_values())
    checks = run_checks(settings, load_model=not quick)
    _print_checks(checks, _secrets_only(settings.env.secret_values()))
    failed = [c for c in checks if c.status == "failed"]
    if failed:
        typer.echo(f"{len(failed)} component(s) failed: {', '.join(c.component for c in failed)}")
    raise typer.Exit(1 if failed else 0)


def _secrets_only(known: list[str] | None = None) -> Redactor:
    """A redactor for the operator's own eyes: secrets go, addresses and emails stay."""
    return Redactor(redact_emails=False, redact_ips=False, known_secrets=known or ())


def _print_checks(checks: list, redactor: Redactor) -> None:
    """The checks as a table; details and hints redacted (a URL may carry a password) and
    shown as plain text (``[/]`` in an error message is no markup)."""
    from rich.text import Text

    table = Table("component", "status", "detail", "how to fix", show_lines=False)
    style = {"ok": "green", "failed": "bold red", "not configured": "dim"}
    for check in checks:
        table.add_row(
            check.component,
            f"[{style[check.status]}]{check.status}[/]",
            Text(redactor.redact(check.detail)),
            Text(redactor.redact(check.hint)),
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

    settings = load_settings_or_exit()
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

    stats = _store(load_settings_or_exit()).stats()
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

    settings = load_settings_or_exit()
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

    settings = load_settings_or_exit()
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

    report = _store(load_settings_or_exit()).maintain(datetime.now(UTC))
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
    from pathlib import Path

    from bot.app import WATERMARKS_FILE
    from bot.knowledge import make_redactor
    from knowledge.statefile import Watermarks
    from knowledge.timeparse import parse_duration

    settings = load_settings_or_exit()
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
    try:
        for src in chosen:
            failed += _ingest_one(store, src, marks, reach, redact)
    except VigilError as exc:  # the store or the watermarks cannot be written (a full disk)
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(1 if failed else 0)


def _ingest_one(
    store: KnowledgeStore,
    src: Source,
    marks: Watermarks,
    reach: timedelta | None,
    redact: Redact,
) -> int:
    """One source's pass for ``vigil ingest``, printed; 1 when it failed."""
    from datetime import UTC, datetime

    from knowledge.ingest import align_down, ingest_range, ingest_source

    try:
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
    finally:
        src.close()
    typer.echo(run.line())
    return int(run.status == "error")


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

    settings = load_settings_or_exit()
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

    settings = load_settings_or_exit()
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

    settings = load_settings_or_exit()
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


# ----------------------------------------------------------------------------- datasets

app.add_typer(dataset_app, name="dataset")
app.add_typer(finetune_app, name="finetune")

# ----------------------------------------------------------------------------- anomaly model

model_app = typer.Typer(
    help="The anomaly model: train, evaluate, list and promote versions.", no_args_is_help=True
)
app.add_typer(model_app, name="model")
anomaly_app = typer.Typer(help="Score metrics with the anomaly model.", no_args_is_help=True)
app.add_typer(anomaly_app, name="anomaly")

DATASET_FILE = Path("datasets") / "metrics_dataset.json"


def _registry(settings: Settings) -> ModelRegistry:
    from training.registry import ModelRegistry

    return ModelRegistry.in_data_dir(Path(settings.data_dir))


def _generated_frame(
    settings: Settings, dataset: Path | None, seed: int
) -> tuple[pd.DataFrame, str]:
    """The generated metrics: ``--dataset``, else the data dir's dataset, else a fresh fleet."""
    from training.metrics_dataset import load_metrics_dataset

    path = dataset or Path(settings.data_dir) / DATASET_FILE
    if dataset is not None or path.exists():
        frame = load_metrics_dataset(path)
        return frame, f"metrics dataset {path} ({len(frame):,} rows)"
    from training.simulate import simulate_fleet

    frame = simulate_fleet(seed=seed)
    return frame, f"simulated fleet, seed {seed} ({len(frame):,} rows)"


def _split_csv(path: Path) -> TrainingData:
    from training.csvscore import read_metrics_csv
    from training.pipeline import split_history

    frame = read_metrics_csv(path)
    return split_history(frame, f"CSV {path} ({len(frame):,} rows x {frame.shape[1]} columns)")


@model_app.command("train")
def model_train(
    dataset: Annotated[
        Path | None,
        typer.Option(help="a metrics_dataset.json (default: the data dir's, else a simulation)"),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="a CSV of numeric metric columns, mostly normal")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed: same data and seed, same model")] = 0,
    far: Annotated[
        float, typer.Option("--far", help="target false-alarm rate on normal data", min=1e-5)
    ] = 0.01,
    promote: Annotated[
        bool | None,
        typer.Option(
            "--promote/--no-promote", help="promote it (default: when none is promoted yet)"
        ),
    ] = None,
) -> None:
    """Train an anomaly model, evaluate it on held-out data and add it to the registry."""
    from training.csvscore import InputError
    from training.metrics_dataset import DatasetError
    from training.model import ModelConfig
    from training.pipeline import split_generated, train_and_register

    settings = load_settings_or_exit()
    if dataset is not None and csv is not None:
        usage_error("give --dataset or --csv, not both")
    if not far < 0.5:
        usage_error(f"--far {far}: expected a rate below 0.5, such as 0.01")
    try:
        if csv is not None:
            data = _split_csv(csv)
        else:
            data = split_generated(*_generated_frame(settings, dataset, seed))
    except (InputError, DatasetError) as exc:
        usage_error(str(exc))
    typer.echo(f"training on {data.description} ...")
    config = ModelConfig(false_alarm_rate=far, seed=seed)
    try:
        trained = train_and_register(_registry(settings), data, config=config, promote=promote)
    except ValueError as exc:
        usage_error(f"cannot train on {data.description}: {exc}")
    version = trained.version
    typer.echo(
        f"model {version}: threshold {trained.model.threshold:.4f}, trained in "
        f"{trained.seconds:.1f} s"
        + (
            ", promoted"
            if trained.promoted
            else f" (not promoted; `vigil model promote {version}`)"
        )
    )
    _print_figures(trained.figures)
    if trained.figures.get("rows") == 0:
        typer.echo("note: too few held-out rows per host to evaluate; use a larger dataset")


@model_app.command("list")
def model_list(
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """The models in the registry, oldest first; * marks the promoted one."""
    import json

    infos = _registry(load_settings_or_exit()).versions()
    if as_json:
        typer.echo(json.dumps([info.to_json() for info in infos], indent=2))
        return
    if not infos:
        typer.echo("no models yet: run `vigil model train`")
        return
    table = Table("", "version", "created (UTC)", "threshold", "key figures", "trained on")
    for info in infos:
        table.add_row(
            "*" if info.promoted else "",
            info.version,
            f"{info.created:%Y-%m-%d %H:%M}",
            f"{info.threshold:.4f}",
            _key_figures(info.metrics),
            info.trained_on,
        )
    Console(width=160, soft_wrap=False).print(table)


@model_app.command("promote")
def model_promote(version: Annotated[str, typer.Argument(help="e.g. v0003")]) -> None:
    """Make VERSION the model that alerts and `vigil anomaly score` use; the running bot picks
    it up within seconds, without a restart."""
    from training.registry import UnknownModel

    registry = _registry(load_settings_or_exit())
    before = registry.promoted_version()
    try:
        info = registry.promote(version)
    except UnknownModel as exc:
        usage_error(str(exc))
    typer.echo(f"promoted {info.version}" + (f" (was {before})" if before else ""))


@model_app.command("evaluate")
def model_evaluate(
    version: Annotated[
        str | None, typer.Argument(help="the version to evaluate (default: the promoted one)")
    ] = None,
    smd: Annotated[
        Path | None,
        typer.Option(help="labelled data in the SMD layout (train/, test/, test_label/)"),
    ] = None,
    dataset: Annotated[
        Path | None, typer.Option(help="a metrics_dataset.json (its held-out newest rows)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Evaluate a model: on the held-out part of the generated dataset (default) and, with
    --smd, on labelled real data (a model per machine, trained with this version's settings)."""
    import json

    from training.evaluate import evaluate_generated, evaluate_smd
    from training.metrics_dataset import DatasetError
    from training.pipeline import split_generated
    from training.registry import UnknownModel

    settings = load_settings_or_exit()
    registry = _registry(settings)
    chosen = version or registry.promoted_version()
    if chosen is None:
        usage_error("no model is promoted: give a VERSION or run `vigil model train`")
    try:
        model = registry.load(chosen)
    except UnknownModel as exc:
        usage_error(str(exc))
    except ValueError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(1) from None
    results: dict[str, Any] = {"version": chosen}
    if smd is not None:
        if not (smd / "test").is_dir():
            usage_error(f"--smd {smd}: expected the SMD layout (train/, test/, test_label/)")
        results["smd"] = evaluate_smd(smd, model.config)
    if dataset is not None or smd is None:
        try:
            frame, description = _generated_frame(settings, dataset, model.config.seed)
        except DatasetError as exc:
            usage_error(str(exc))
        results["generated"] = {
            "data": description,
            **evaluate_generated(model, split_generated(frame, description).heldout),
        }
    if as_json:
        typer.echo(json.dumps(results, indent=2, default=str))
        return
    typer.echo(f"model {chosen}")
    for part in ("generated", "smd"):
        if part in results:
            typer.echo(f"\n{part}:")
            _print_figures(results[part])


@anomaly_app.command("score")
def anomaly_score(
    input_csv: Annotated[
        Path, typer.Argument(metavar="INPUT.csv", help="numeric metric columns, maybe timestamp")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write the scores")],
    fit_on: Annotated[
        Path | None,
        typer.Option("--fit-on", help="history assumed normal, with the same columns as INPUT"),
    ] = None,
) -> None:
    """Score every row of INPUT.csv into OUT.csv: score (0..1), is_anomaly, top_metrics and
    explanation. Causal: a row's score depends only on --fit-on and the rows before it."""
    from training.csvscore import InputError, score_csv
    from training.registry import UnknownModel

    settings = load_settings_or_exit()
    try:
        model = _registry(settings).load_promoted()
    except (UnknownModel, ValueError) as exc:
        typer.echo(f"vigil: the promoted model cannot be loaded: {exc}", err=True)
        raise typer.Exit(1) from None
    if model is None and fit_on is None:
        usage_error("no model is promoted: run `vigil model train` first, or give --fit-on")
    if output.is_dir() or not output.name:
        usage_error(f"--output {output}: is a folder; give a file, such as {output / 'scores.csv'}")
    try:
        summary = score_csv(model, input_csv, output, fit_on=fit_on)
    except InputError as exc:
        usage_error(str(exc))
    except OSError as exc:
        typer.echo(f"vigil: cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    if summary.ignored:
        typer.echo(f"note: text columns left out: {', '.join(summary.ignored)}", err=True)
    typer.echo(summary.line(output))


def _key_figures(metrics: dict[str, Any]) -> str:
    """The few figures that say most: detection F1, false-alarm rates, SMD means."""
    flat = _flatten(metrics)
    keys = ("detection.f1", "false_alarm_rate", "heldout_alarm_rate", "mean.f1_best")
    shown = [f"{k.split('.')[-1]} {flat[k]:.3f}" for k in keys if isinstance(flat.get(k), float)]
    return ", ".join(shown)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _print_figures(figures: dict[str, Any]) -> None:
    """Evaluation results as readable lines and tables: scalars and small dicts as lines, a dict
    of dicts or a list of dicts as a table, a confusion matrix (with ``types``) as a table."""
    console = Console(width=160, soft_wrap=False)
    for key, value in figures.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            console.print(_table(key, [{"": k, **v} for k, v in value.items()]))
        elif isinstance(value, dict):
            typer.echo(f"{key}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            console.print(_table(key, value))
        elif key == "confusion" and isinstance(figures.get("types"), list):
            names = [str(t) for t in figures["types"]]
            rows = [
                {"true \\ predicted": n, **dict(zip(names, r, strict=False))}
                for n, r in zip(names, value, strict=False)
            ]
            console.print(_table("confusion", rows))
        elif key != "types":
            typer.echo(f"{key}: {_fmt(value)}")


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(_fmt(row.get(c, "")) for c in columns))
    return table


@app.command()
def digest(
    channel: Annotated[
        str, typer.Option("--channel", help="the channel, as named in channels.yml")
    ],
    period: Annotated[
        str | None,
        typer.Option(
            help="what it covers, e.g. 6h (default: since the schedule's last run, or 24h)"
        ),
    ] = None,
    print_it: Annotated[bool, typer.Option("--print", help="print the digest here")] = False,
) -> None:
    """Render a channel's digest now: alerts, anomalies, error patterns, baselines, trends."""
    from bot.digests import digest_command

    digest_command(channel, period, print_it)


@app.command()
def summarize(
    thread: Annotated[
        Path, typer.Argument(help="an exported thread: a JSON list of {user, ts, text}")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="do not remember it as an incident")
    ] = False,
) -> None:
    """Summarise an incident thread: timeline, impact, root cause, actions, open questions."""
    from bot.summarize import run_summarize

    code = run_summarize(load_settings_or_exit(), thread, store=not no_store, as_json=as_json)
    if code:
        raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print Vigil's version."""
    from importlib.metadata import version as dist_version

    typer.echo(f"vigil {dist_version('vigil')}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
