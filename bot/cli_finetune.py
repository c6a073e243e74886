"""``vigil finetune``, and ``vigil dataset export`` / ``from-incidents``: fine-tuning data and
jobs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli_dataset import dataset_app
from bot.cli_support import load_settings_or_exit, usage_error

if TYPE_CHECKING:
    from bot.config import Settings
    from knowledge.redaction import Redactor
    from training.dataset_paths import DatasetPaths
    from training.finetune import JobRecord
    from training.local_finetune import LocalOptions

finetune_app = typer.Typer(
    help="Fine-tune a model on the datasets: through the OpenAI API or locally.",
    no_args_is_help=True,
)

JOBS_FILE = "finetune_jobs.json"


def _paths(settings: Settings) -> DatasetPaths:
    from training.dataset_paths import DatasetPaths

    return DatasetPaths.in_data_dir(Path(settings.data_dir))


def _redactor(settings: Settings) -> Redactor:
    from bot.knowledge import make_redactor

    return make_redactor(settings)


def _fail(message: str) -> None:
    """Print ``vigil: MESSAGE`` on stderr and exit 1 (something outside the user's input)."""
    typer.echo(f"vigil: {message}", err=True)
    raise typer.Exit(1)


# ----------------------------------------------------------------------------- dataset export
@dataset_app.command("export")
def dataset_export(
    fmt: Annotated[
        str, typer.Option("--format", help="openai-chat (JSONL), alpaca (JSON) or jsonl")
    ] = "openai-chat",
    output: Annotated[
        Path | None,
        typer.Option(help="the file to write (default: exports/<dataset>_<format>.<ext>)"),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option("--types", help="only these sample types (repeat, or comma-separated)"),
    ] = None,
    include_incidents: Annotated[
        bool,
        typer.Option(
            "--include-incidents/--no-include-incidents",
            help="add the samples of `vigil dataset from-incidents`",
        ),
    ] = True,
) -> None:
    """Export the datasets for fine-tuning, with secrets and personal data redacted."""
    from training.export import check_format, check_types, export_dataset
    from training.metrics_dataset import DatasetError

    settings = load_settings_or_exit()
    try:
        check_format(fmt)
        wanted = check_types(types)
        result = export_dataset(
            _paths(settings),
            fmt,
            _redactor(settings),
            output=output,
            types=wanted,
            include_incidents=include_incidents,
        )
    except DatasetError as exc:
        usage_error(str(exc))
    by_type = ", ".join(f"{name} {count:,}" for name, count in result.by_type.items())
    typer.echo(f"exported {result.count:,} samples ({result.format}) to {result.path}")
    typer.echo(f"by type: {by_type}")
    if result.redacted:
        typer.echo(f"redacted secrets or personal data in {result.redacted:,} sample(s)")


@dataset_app.command("from-incidents")
def dataset_from_incidents(
    incidents: Annotated[Path, typer.Argument(help="a JSON list of incidents")],
    output: Annotated[
        Path | None,
        typer.Option(help="also write this file's samples as JSONL (input / context / output)"),
    ] = None,
) -> None:
    """Turn incidents (metrics, logs, root cause, resolution) into training samples.

    They are merged into incidents_dataset.json by id: a rerun adds nothing twice.
    """
    from training.export import export_samples
    from training.incidents import load_incidents, merge_incident_samples
    from training.metrics_dataset import DatasetError

    settings = load_settings_or_exit()
    paths = _paths(settings)
    redactor = _redactor(settings)
    try:
        found = load_incidents(incidents)
        result = merge_incident_samples(found, paths.incidents, redactor)
    except DatasetError as exc:
        usage_error(str(exc))
    typer.echo(
        f"{incidents}: {result.incidents} incident(s): {result.added} new, "
        f"{result.updated} updated, {result.unchanged} unchanged; {paths.incidents} holds "
        f"{result.total} sample(s)"
    )
    if output is not None:
        written = export_samples(result.samples, "jsonl", output, redactor)
        typer.echo(f"wrote {written.count} sample(s) to {output}")


# ----------------------------------------------------------------------------- finetune
@finetune_app.command("start")
def finetune_start(
    provider: Annotated[
        str, typer.Option(help="openai (the OpenAI fine-tuning API) or local (transformers)")
    ] = "openai",
    file: Annotated[
        Path | None,
        typer.Option("--file", help="an openai-chat JSONL file (default: export the datasets)"),
    ] = None,
    model: Annotated[
        str, typer.Option(help="openai: the model to fine-tune")
    ] = "gpt-4o-mini-2024-07-18",
    suffix: Annotated[str, typer.Option(help="openai: a name part of the ft: model")] = "vigil",
    base_model: Annotated[
        Path | None, typer.Option(help="local: a Hugging Face model folder to start from")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="local: where to save the model (default: <data dir>/finetuned/...)"),
    ] = None,
    epochs: Annotated[int, typer.Option(help="local: passes over the examples", min=1)] = 1,
    max_steps: Annotated[
        int | None, typer.Option(help="local: train exactly this many steps", min=1)
    ] = None,
    lora: Annotated[
        bool, typer.Option("--lora/--no-lora", help="local: train LoRA adapters (peft)")
    ] = True,
    learning_rate: Annotated[
        float | None, typer.Option(help="local: default 2e-4 (LoRA) or 5e-5", min=0)
    ] = None,
    batch_size: Annotated[int, typer.Option(help="local: examples per step", min=1)] = 4,
    max_length: Annotated[int, typer.Option(help="local: tokens per example", min=8)] = 512,
) -> None:
    """Start fine-tuning: upload and create an OpenAI job, or train a local model."""
    settings = load_settings_or_exit()
    if provider not in ("openai", "local"):
        usage_error(f"--provider {provider}: expected openai or local")
    if provider == "local" and base_model is None:
        usage_error("--provider local needs --base-model PATH (a local Hugging Face model folder)")
    if provider == "openai" and base_model is not None:
        usage_error("--base-model is for --provider local; use --model for openai")
    training_file = file or _export_for_training(settings)
    from training.finetune import FineTuneError, check_chat_file

    try:
        count = check_chat_file(training_file, 10 if provider == "openai" else 1)
    except FineTuneError as exc:
        usage_error(str(exc))
    typer.echo(f"training file {training_file}: {count:,} examples")
    if provider == "openai":
        _start_openai(settings, training_file, model, suffix)
    else:
        from training.local_finetune import LocalOptions

        assert base_model is not None
        options = LocalOptions(
            epochs=epochs,
            max_steps=max_steps,
            lora=lora,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_length=max_length,
        )
        _start_local(settings, training_file, base_model, output, options)


def _export_for_training(settings: Settings) -> Path:
    from training.export import export_dataset
    from training.metrics_dataset import DatasetError

    try:
        result = export_dataset(_paths(settings), "openai-chat", _redactor(settings))
    except DatasetError as exc:
        usage_error(str(exc))
    typer.echo(f"exported {result.count:,} samples (openai-chat) to {result.path}")
    return result.path


def _start_openai(settings: Settings, training_file: Path, model: str, suffix: str) -> None:
    from training.finetune import (
        FineTuneError,
        JobBook,
        OpenAIFineTuning,
        redacted_upload,
        start_openai_job,
    )

    privacy = settings.ai.privacy.external_llm
    if privacy == "block":
        usage_error(
            "privacy.external_llm is `block` in ai-config.yml: nothing is uploaded to OpenAI; "
            "use --provider local, or set it to redact"
        )
    env = settings.env
    api_key = env.OPENAI_API_KEY.get_secret_value() if env.OPENAI_API_KEY else None
    if not api_key and not env.OPENAI_BASE_URL:
        usage_error("--provider openai needs OPENAI_API_KEY (or OPENAI_BASE_URL) in .env")
    if privacy == "redact":
        data, changed = redacted_upload(training_file, _redactor(settings))
        if changed:
            typer.echo(f"redacted secrets or personal data in {changed} message(s) before upload")
    else:
        data = training_file.read_bytes()
    api = OpenAIFineTuning(api_key, env.OPENAI_BASE_URL)
    try:
        record = start_openai_job(
            api, data, training_file.name, training_file=training_file, model=model, suffix=suffix
        )
    except FineTuneError as exc:
        _fail(str(exc))
    finally:
        api.close()
    JobBook(_paths(settings).root / JOBS_FILE).put(record)
    typer.echo(f"uploaded {training_file.name} as {record.file_id}")
    typer.echo(f"created fine-tuning job {record.id} on {model}: {record.status}")
    typer.echo(f"follow it with: vigil finetune status {record.id}")


def _start_local(
    settings: Settings,
    training_file: Path,
    base_model: Path,
    output: Path | None,
    options: LocalOptions,
) -> None:
    from datetime import UTC, datetime

    from training.finetune import FineTuneError, JobBook, JobRecord, now_iso
    from training.local_finetune import finetune_local

    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    target = output or Path(settings.data_dir) / "finetuned" / f"{base_model.name}-vigil-{stamp}"
    every = max(1, (options.max_steps or 10) // 10)

    def progress(step: int, steps: int, loss: float) -> None:
        if step == 1 or step == steps or step % every == 0:
            typer.echo(f"step {step}/{steps}: loss {loss:.4f}")

    try:
        result = finetune_local(training_file, base_model, target, options, on_step=progress)
    except FineTuneError as exc:
        usage_error(str(exc))
    mode = "LoRA (merged)" if result.lora else "full"
    typer.echo(
        f"trained {mode} on {result.examples:,} examples, {result.steps} steps in "
        f"{result.seconds:.1f} s: loss {result.first_loss:.4f} first, {result.last_loss:.4f} last "
        f"(eval {result.loss_before:.4f} -> {result.loss_after:.4f})"
    )
    typer.echo(f"model saved in {result.output_dir}")
    record = JobRecord(
        id=f"local-{stamp}",
        provider="local",
        base_model=str(base_model),
        status="succeeded",
        training_file=str(training_file),
        created_at=now_iso(),
        fine_tuned_model=str(result.output_dir.resolve()),
        details={"steps": result.steps, "loss_before": result.loss_before},
    )
    record.details["loss_after"] = result.loss_after
    JobBook(_paths(settings).root / JOBS_FILE).put(record)
    _print_snippet(record)


def _print_snippet(record: JobRecord) -> None:
    from training.finetune import config_snippet

    typer.echo("to answer with it, put this in data_config/ai-config.yml:")
    typer.echo(config_snippet(record).rstrip("\n"))


@finetune_app.command("status")
def finetune_status(
    job: Annotated[str | None, typer.Argument(help="a job id (default: the newest)")] = None,
) -> None:
    """A fine-tuning job's status and latest events (default: the newest job).

    When it succeeded, it prints the ai-config.yml lines that make Vigil answer with the model.
    """
    from training.finetune import FineTuneError, JobBook, JobRecord, OpenAIFineTuning, refresh

    settings = load_settings_or_exit()
    book = JobBook(_paths(settings).root / JOBS_FILE)
    record = book.get(job)
    if record is None and job is None:
        usage_error("no fine-tuning job yet: run `vigil finetune start`")
    if record is None:
        assert job is not None
        if job.startswith("local-"):
            usage_error(f"no local fine-tuning job {job} in {book.path}")
        record = JobRecord(
            id=job, provider="openai", base_model="", status="", training_file="", created_at=""
        )
    if record.provider == "openai":
        env = settings.env
        api_key = env.OPENAI_API_KEY.get_secret_value() if env.OPENAI_API_KEY else None
        if not api_key and not env.OPENAI_BASE_URL:
            usage_error("OPENAI_API_KEY (or OPENAI_BASE_URL) is needed to ask OpenAI")
        api = OpenAIFineTuning(api_key, env.OPENAI_BASE_URL)
        try:
            record = refresh(record, api)
            events = api.events(record.id)
        except FineTuneError as exc:
            _fail(str(exc))
        finally:
            api.close()
        book.put(record)
        for event in events:
            typer.echo(f"  {event.level:<5} {event.message}")
    typer.echo(f"job {record.id} ({record.provider}, {record.base_model}): {record.status}")
    if record.error:
        typer.echo(f"error: {record.error}")
    if record.status == "succeeded" and record.fine_tuned_model:
        typer.echo(f"fine-tuned model: {record.fine_tuned_model}")
        _print_snippet(record)
