"""``vigil dataset``: generate, inspect, retry and reset the training datasets.

Exit codes: 0 done, 1 the run ended with failures or could not run, 2 bad usage or config,
130 interrupted (progress kept: run the same command again to resume).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.cli_support import load_settings_or_exit, usage_error
from knowledge.errors import ConfigError, VigilError

if TYPE_CHECKING:
    from training.datasets import DatasetService, GenerateReport

dataset_app = typer.Typer(
    help="The training datasets: generate, status, retry-failed, reset, summary, export.",
    no_args_is_help=True,
)

BackendOption = Annotated[
    str,
    typer.Option(
        "--backend",
        help="which models answer: auto (the pool in ai-config.yml), static (templates, "
        "offline), ollama, openai or transformers",
    ),
]
BACKENDS = ("auto", "static", "ollama", "openai", "transformers")


def _service() -> DatasetService:
    from bot.datasets import dataset_service

    return dataset_service(load_settings_or_exit())


@contextmanager
def _failures() -> Iterator[None]:
    """A dataset or config problem is one line: exit 2 for config, 1 for the rest."""
    try:
        yield
    except ConfigError as exc:
        typer.echo(f"vigil: config error: {exc}", err=True)
        raise typer.Exit(2) from None
    except VigilError as exc:
        typer.echo(f"vigil: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:  # the datasets folder is unwritable, a file where a folder goes, ...
        where = f" ({exc.filename})" if exc.filename else ""
        typer.echo(f"vigil: {exc.strerror or exc}{where}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal (stderr); nothing when output goes to a file or pipe."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


def _types(value: str | None) -> list[str] | None:
    return [t.strip() for t in value.split(",") if t.strip()] if value else None


def _backend(value: str) -> Any:
    if value not in BACKENDS:
        usage_error(f"--backend must be one of {', '.join(BACKENDS)}, got {value!r}")
    return value


@dataset_app.command("generate")
def generate(
    types: Annotated[
        str | None,
        typer.Option(
            help="comma-separated sample types and/or 'metrics' (default: all); see `status`"
        ),
    ] = None,
    language_samples: Annotated[
        int | None,
        typer.Option(
            min=1, help="language samples wanted in all (default: datasets.language_samples)"
        ),
    ] = None,
    metrics_samples: Annotated[
        int | None,
        typer.Option(min=100, help="metrics samples (default: datasets.metrics_samples, 20000)"),
    ] = None,
    anomaly_ratio: Annotated[
        float | None, typer.Option(min=0.0, max=0.8, help="share of anomalous metrics samples")
    ] = None,
    backend: BackendOption = "auto",
) -> None:
    """Generate what the datasets still lack; resumes where an interrupted run stopped."""
    service = _service()
    stop = threading.Event()
    with _failures(), _progress_bar("language samples") as update:
        report = service.generate(
            _types(types),
            language_samples=language_samples,
            metrics_samples=metrics_samples,
            anomaly_ratio=anomaly_ratio,
            backend=_backend(backend),
            on_progress=update,
            stop=stop,
        )
    raise typer.Exit(_print_report(report))


@dataset_app.command("retry-failed")
def retry_failed(backend: BackendOption = "auto") -> None:
    """Ask again every prompt whose answer failed (after its retries) in earlier runs."""
    service = _service()
    with _failures(), _progress_bar("retrying") as update:
        report = service.retry_failed(_backend(backend), on_progress=update)
    raise typer.Exit(_print_report(report))


def _print_report(report: GenerateReport) -> int:
    for message in report.messages:
        typer.echo(f"note: {message}")
    for path in report.backups:
        typer.echo(f"backup: {path}")
    if report.metrics is not None:
        m = report.metrics
        detail = f" in {m.seconds:.2f}s" if m.generated else ""
        typer.echo(
            f"metrics: {m.message}: {m.samples:,} samples, {m.anomalies:,} anomalous{detail}"
        )
    run = report.language
    if run is None:
        return 0
    for message in run.messages:
        typer.echo(f"note: {message}")
    typer.echo(f"pool: {', '.join(report.pool)}")
    rejected = ", ".join(f"{k} {v}" for k, v in run.rejected.most_common()) or "none"
    typer.echo(
        f"language: {run.generated:,} new samples in {run.seconds:.1f}s ({run.rate:.1f}/s); "
        f"rejected {sum(run.rejected.values())} ({rejected}); failed {run.failed}"
    )
    for type_, target in run.targets.items():
        short = " (vocabulary exhausted)" if type_ in run.exhausted else ""
        typer.echo(f"  {type_:<26} {run.done.get(type_, 0):>6,} / {target:,}{short}")
    if run.interrupted:
        typer.echo("interrupted: progress is saved; run the same command again to resume")
        return 130
    if run.failed:
        typer.echo(f"{run.failed} prompt(s) failed: `vigil dataset retry-failed` asks them again")
        return 1
    return 0


@dataset_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Done / wanted per type, failures, rate and time left; the metrics dataset."""
    service = _service()
    with _failures():
        st = service.status()
    rows = [
        {
            "type": t.type,
            "done": t.done,
            "target": t.target,
            "failed": t.failed,
            "rejected": t.rejected,
            "prompts": t.prompts,
        }
        for t in st.types
    ]
    figures = {
        "types": rows,
        "rate_per_s": round(st.rate, 2) if st.rate else None,
        "remaining": st.remaining,
        "eta_s": round(st.eta_s, 1) if st.eta_s is not None else None,
        "metrics": {"done": st.metrics_done, "target": st.metrics_target},
        "config_changed": st.config_changed,
        "last_session": st.last_session,
        "messages": st.messages,
    }
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
        return
    for message in st.messages:
        typer.echo(f"note: {message}")
    table = Table("type", "done / target", "failed", "rejected", "prompts", title="language")
    for t in st.types:
        table.add_row(
            t.type, f"{t.done:,} / {t.target:,}", str(t.failed), str(t.rejected), f"{t.prompts:,}"
        )
    Console(width=120).print(table)
    rate = f"{st.rate:.1f} samples/s" if st.rate else "unknown (no run yet)"
    eta = _duration(st.eta_s) if st.eta_s is not None else "unknown"
    typer.echo(f"remaining: {st.remaining:,} samples; rate {rate}; time left {eta}")
    typer.echo(f"metrics: {st.metrics_done:,} / {st.metrics_target:,} samples")
    if st.config_changed:
        typer.echo("the vocabulary changed since the last run: `generate` adds the new prompts")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


@dataset_app.command("summary")
def summary(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """What the datasets hold: samples by type and by model, rejections, metrics statistics."""
    service = _service()
    with _failures():
        data = service.summary()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    language = data["language"]
    console = Console(width=120)
    typer.echo(f"language samples: {language['total_samples']:,}")
    for title in ("by_type", "by_model", "by_model_type", "rejected"):
        table = Table(title.replace("_", " "), "samples")
        for key, count in language[title].items():
            table.add_row(key, f"{count:,}")
        console.print(table)
    typer.echo(f"failed (retry-failed asks again): {language['failed']}")
    metrics = data["metrics"]
    if metrics is None:
        typer.echo("metrics dataset: none yet")
    else:
        stats = metrics["generation_stats"]
        kinds = ", ".join(f"{k} {v:,}" for k, v in stats["anomaly_types"].items())
        typer.echo(
            f"metrics samples: {metrics['total_samples']:,} ({stats['normal_samples']:,} normal, "
            f"{stats['anomaly_samples']:,} anomalous: {kinds})"
        )


@dataset_app.command("reset")
def reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    types: Annotated[
        str | None, typer.Option(help="language and/or metrics (default: both)")
    ] = None,
) -> None:
    """Delete the datasets and the progress, after backing them up."""
    chosen = _types(types) or ["language", "metrics"]
    for t in chosen:
        if t not in ("language", "metrics"):
            usage_error(f"--types takes language and/or metrics, got {t!r}")
    service = _service()
    if not yes:
        if not sys.stdin.isatty():
            usage_error("reset deletes the datasets: confirm with --yes")
        typer.confirm(
            f"Delete the {' and '.join(chosen)} dataset(s) in {service.paths.root}? "
            "A backup is kept",
            abort=True,
        )
    with _failures():
        made = service.reset(chosen)
    for path in made:
        typer.echo(f"backup: {path}")
    typer.echo(f"reset: {' and '.join(chosen)} dataset(s) deleted")
