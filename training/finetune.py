"""Fine-tuning through the OpenAI API (the origin's phases 3-4): check an ``openai-chat`` JSONL
file, upload it (``files.create(purpose="fine-tune")``), create the job
(``fine_tuning.jobs.create``), follow it, and say how to make Vigil answer with the ``ft:``
model it produces. Jobs (OpenAI and local) are recorded in ``datasets/finetune_jobs.json``.

Errors are one line (``FineTuneError``) that never carries the API key or the file's content.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.errors import VigilError
from knowledge.llm.base import root_cause, scrub
from knowledge.redaction import Redactor
from knowledge.statefile import read_json, write_json_atomic

MIN_EXAMPLES = 10
"""OpenAI refuses fine-tuning files with fewer examples."""
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
TERMINAL = ("succeeded", "failed", "cancelled")
ROLES = ("system", "user", "assistant")


class FineTuneError(VigilError):
    """A fine-tuning file is unusable, or the API refused or failed (one line)."""


# ------------------------------------------------------------------------------ the file
def check_chat_file(path: Path, min_examples: int = MIN_EXAMPLES) -> int:
    """The number of examples in the ``openai-chat`` JSONL ``path``; ``FineTuneError`` naming the
    line and what is wrong at the first problem, or when there are too few."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FineTuneError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FineTuneError(f"{path}: cannot read it ({exc})") from None
    count = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        check_chat_line(line, f"{path}: line {number}")
        count += 1
    if count < min_examples:
        raise FineTuneError(
            f"{path}: {count} example(s); fine-tuning needs at least {min_examples}"
        )
    return count


def check_chat_line(line: str, where: str) -> list[dict[str, str]]:
    """The messages of one ``openai-chat`` line; ``FineTuneError`` naming ``where`` otherwise."""
    try:
        record = json.loads(line)
    except ValueError:
        raise FineTuneError(f"{where}: not valid JSON") from None
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        raise FineTuneError(f"{where}: expected an object with a non-empty 'messages' list")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise FineTuneError(f"{where}: messages[{i}]: 'role' must be one of {', '.join(ROLES)}")
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise FineTuneError(f"{where}: messages[{i}]: 'content' must be a non-empty string")
    if messages[-1]["role"] != "assistant":
        raise FineTuneError(f"{where}: the last message must be the assistant's answer")
    return messages


def redacted_upload(path: Path, redactor: Redactor) -> tuple[bytes, int]:
    """The bytes to upload for ``path`` with every message redacted, and how many lines
    redaction changed (the file on disk is left as it is)."""
    out: list[str] = []
    changed = 0
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        for message in record["messages"]:
            clean = redactor.redact(message["content"])
            if clean != message["content"]:
                message["content"] = clean
                changed += 1
        out.append(json.dumps(record, ensure_ascii=False))
    return ("\n".join(out) + "\n").encode("utf-8"), changed


# ------------------------------------------------------------------------------ job records
@dataclass
class JobRecord:
    """One fine-tuning job, as recorded in ``finetune_jobs.json``."""

    id: str
    provider: str
    """``openai`` or ``local``."""
    base_model: str
    status: str
    training_file: str
    created_at: str
    file_id: str = ""
    suffix: str = ""
    fine_tuned_model: str = ""
    """``ft:...`` for OpenAI; the model folder for a local job."""
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class JobBook:
    """The recorded fine-tuning jobs, newest last, in one JSON file (atomic writes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def all(self) -> list[JobRecord]:
        raw = read_json(self.path, {"jobs": []})
        jobs = raw.get("jobs", []) if isinstance(raw, dict) else []
        known = set(JobRecord.__dataclass_fields__)
        return [
            JobRecord(**{k: v for k, v in job.items() if k in known})
            for job in jobs
            if isinstance(job, dict) and {"id", "provider", "status"} <= set(job)
        ]

    def get(self, job_id: str | None) -> JobRecord | None:
        """The job ``job_id``, or the newest one when None."""
        jobs = self.all()
        if job_id is None:
            return jobs[-1] if jobs else None
        return next((j for j in jobs if j.id == job_id), None)

    def put(self, record: JobRecord) -> None:
        jobs = [j for j in self.all() if j.id != record.id] + [record]
        write_json_atomic(self.path, {"jobs": [asdict(j) for j in jobs]})


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------ the API
class OpenAIFineTuning:
    """The OpenAI fine-tuning calls Vigil makes, with failures as one-line ``FineTuneError``."""

    def __init__(self, api_key: str | None, base_url: str | None, timeout_s: float = 60) -> None:
        import openai

        self._secrets = [api_key] if api_key else []
        self.where = (base_url or "the OpenAI API").rstrip("/")
        with self._failures("connect"):
            self.client = openai.OpenAI(
                api_key=api_key or "not-needed", base_url=base_url, timeout=timeout_s
            )

    def __repr__(self) -> str:  # keeps the key out of logs and tracebacks
        return f"OpenAIFineTuning(where={self.where!r})"

    def close(self) -> None:
        self.client.close()

    def upload(self, data: bytes, filename: str, wait_s: float = 120) -> str:
        """Upload ``data`` as a fine-tuning file; wait until it is processed; its id."""
        with self._failures("upload the training file"):
            created = self.client.files.create(file=(filename, data), purpose="fine-tune")
        deadline = time.monotonic() + wait_s
        status = getattr(created, "status", "processed")
        while status not in ("processed", None):
            if status == "error":
                detail = getattr(created, "status_details", None) or "no details"
                raise FineTuneError(
                    f"OpenAI at {self.where} rejected the training file {created.id}: {detail}"
                )
            if time.monotonic() > deadline:
                raise FineTuneError(
                    f"OpenAI at {self.where}: file {created.id} still {status} after {wait_s:g}s"
                )
            time.sleep(1)
            with self._failures("check the training file"):
                created = self.client.files.retrieve(created.id)
            status = getattr(created, "status", "processed")
        return str(created.id)

    def create_job(self, file_id: str, model: str, suffix: str | None) -> Any:
        with self._failures("create the fine-tuning job"):
            return self.client.fine_tuning.jobs.create(
                training_file=file_id, model=model, suffix=suffix or None
            )

    def job(self, job_id: str) -> Any:
        with self._failures(f"read job {job_id}"):
            return self.client.fine_tuning.jobs.retrieve(job_id)

    def events(self, job_id: str, limit: int = 10) -> list[Any]:
        """The job's newest ``limit`` events, oldest first."""
        with self._failures(f"read the events of job {job_id}"):
            page = self.client.fine_tuning.jobs.list_events(job_id, limit=limit)
        return list(reversed(page.data))  # the API lists them newest first

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        import openai

        where = f"OpenAI at {self.where}"
        try:
            yield
        except openai.APITimeoutError as exc:
            raise FineTuneError(f"{where}: timed out trying to {doing}") from exc
        except openai.APIConnectionError as exc:
            reason = root_cause(exc, self._secrets)
            raise FineTuneError(f"{where} could not be reached to {doing}: {reason}") from exc
        except openai.AuthenticationError as exc:
            raise FineTuneError(f"{where} rejected the API key (HTTP 401)") from exc
        except openai.APIStatusError as exc:
            body = exc.body
            message = body.get("message") if isinstance(body, dict) else None
            detail = scrub(str(message or exc.response.reason_phrase), self._secrets)
            raise FineTuneError(
                f"{where} refused to {doing} (HTTP {exc.status_code}): {detail}"
            ) from exc
        except openai.OpenAIError as exc:
            raise FineTuneError(f"{where}: failed to {doing} ({type(exc).__name__})") from exc


def start_openai_job(
    api: OpenAIFineTuning,
    data: bytes,
    filename: str,
    *,
    training_file: Path,
    model: str = DEFAULT_MODEL,
    suffix: str = "",
) -> JobRecord:
    """Upload ``data`` and create the job; the record to keep."""
    file_id = api.upload(data, filename)
    job = api.create_job(file_id, model, suffix)
    return JobRecord(
        id=str(job.id),
        provider="openai",
        base_model=model,
        status=str(job.status),
        training_file=str(training_file),
        created_at=now_iso(),
        file_id=file_id,
        suffix=suffix,
        fine_tuned_model=str(job.fine_tuned_model or ""),
    )


def refresh(record: JobRecord, api: OpenAIFineTuning) -> JobRecord:
    """``record`` with the job's current status, model and error from the API."""
    job = api.job(record.id)
    error = getattr(job, "error", None)
    message = getattr(error, "message", None) if error is not None else None
    record.status = str(job.status)
    record.base_model = record.base_model or str(job.model)
    record.fine_tuned_model = str(job.fine_tuned_model or record.fine_tuned_model or "")
    record.error = str(message or "")
    if getattr(job, "trained_tokens", None):
        record.details["trained_tokens"] = int(job.trained_tokens)
    return record


def config_snippet(record: JobRecord) -> str:
    """The ``data_config/ai-config.yml`` lines that make Vigil answer with the job's model."""
    if record.provider == "local":
        return (
            "llm:\n"
            "  provider: transformers\n"
            f'  local_model: "{record.fine_tuned_model}"\n'
            "  max_new_tokens: 512\n"
        )
    model = record.fine_tuned_model
    return f'llm:\n  provider: openai\n  models:\n    simple: "{model}"\n    complex: "{model}"\n'
