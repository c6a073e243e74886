"""A loopback stand-in of the OpenAI chat completions API that records every request it receives.

Speaks the real wire protocol (``POST /v1/chat/completions`` answered with a
``chat.completion`` object, or Server-Sent Events of ``chat.completion.chunk`` objects ending in
``data: [DONE]`` when streaming; ``GET /v1/models``; ``Authorization: Bearer`` keys; OpenAI-shaped
error bodies), so the real ``openai.OpenAI(base_url=...)`` talks to it unmodified.

Fine-tuning too: ``POST /v1/files`` (multipart/form-data with ``purpose`` and ``file``; the
uploaded bytes are kept in ``files``), ``GET /v1/files/{id}``, ``POST /v1/fine_tuning/jobs``,
``GET /v1/fine_tuning/jobs/{id}`` (each read moves the job one status on: validating_files,
queued, running, then succeeded or failed) and ``GET /v1/fine_tuning/jobs/{id}/events``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.standins import loopback
from tests.standins.loopback import QuietHandler, Recorded, pieces, prompt_count

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_ANSWER = "All three checkout pods are healthy and p95 latency is 180 ms."


FINE_TUNABLE_MODEL = "gpt-4o-mini-2024-07-18"
ORGANIZATION = "org-standin"
JOB_STEPS = ("validating_files", "queued", "running")

OpenAIRequest = Recorded


@dataclass
class UploadedFile:
    """One ``POST /v1/files`` upload, as received."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int


@dataclass
class OpenAIStandIn:
    """What the stand-in answers; change the fields between calls to change its behaviour."""

    api_key: str | None = None
    """When set, every request must carry ``Authorization: Bearer <api_key>`` or gets a 401."""
    models: set[str] = field(default_factory=lambda: {DEFAULT_MODEL})
    answer: Callable[[OpenAIRequest], str] = lambda request: DEFAULT_ANSWER
    delay_s: float = 0.0
    """Wait this long before answering at all."""
    chunk_delay_s: float = 0.0
    """When streaming, wait this long before each chunk."""
    fail_status: int | None = None
    """Answer every completion with this HTTP status and an OpenAI-shaped error body."""
    raw_body: bytes | None = None
    """Answer every completion with HTTP 200 and exactly these bytes (malformed answers)."""
    report_usage: bool = True
    """Include ``usage`` (and, when streaming, honour ``stream_options.include_usage``)."""
    requests: list[OpenAIRequest] = field(default_factory=list)
    fine_tunable: set[str] = field(default_factory=lambda: {FINE_TUNABLE_MODEL})
    """Models that ``POST /v1/fine_tuning/jobs`` accepts."""
    job_outcome: str = "succeeded"
    """How every fine-tuning job ends: ``succeeded`` or ``failed``."""
    files: dict[str, UploadedFile] = field(default_factory=dict)
    """Uploaded files by id."""
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Fine-tuning jobs (as the API returns them) by id."""
    url: str = ""
    """The base URL, ending in ``/v1``, as ``OpenAI(base_url=...)`` wants it."""
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def completions(self) -> list[OpenAIRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _mask(key: str) -> str:
    """How the real API quotes a wrong key back: the ends only."""
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else "***"


def _handler(stand_in: OpenAIStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _record(self) -> OpenAIRequest:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                body = _multipart(self.headers["Content-Type"], raw)
            else:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = OpenAIRequest(self.command, self.path, headers, body)
            stand_in.requests.append(request)
            return request

        def _send(self, status: int, payload: Any) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_standin{len(stand_in.requests)}")
            self.end_headers()
            self.wfile.write(data)

        def _wait(self, seconds: float) -> bool:
            """Sleep, but wake up (and say so) when the stand-in is shutting down."""
            if seconds <= 0 or not stand_in.stopping.wait(seconds):
                return True
            self.close_connection = True
            return False

        def _authorised(self, request: OpenAIRequest) -> bool:
            if stand_in.api_key is None:
                return True
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
                message = (
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                )
                self._send(401, _error(message, "invalid_request_error", None))
                return False
            key = auth.removeprefix("Bearer ").strip()
            if key != stand_in.api_key:
                message = f"Incorrect API key provided: {_mask(key)}."
                self._send(401, _error(message, "invalid_request_error", "invalid_api_key"))
                return False
            return True

        def do_GET(self) -> None:
            request = self._record()
            if not self._authorised(request):
                return
            if self.path == "/v1/models":
                models = [
                    {"id": m, "object": "model", "created": 1_715_367_049, "owned_by": "system"}
                    for m in sorted(stand_in.models)
                ]
                self._send(200, {"object": "list", "data": models})
            elif match := re.fullmatch(r"/v1/files/([\w-]+)", self.path):
                upload = stand_in.files.get(match.group(1))
                if upload is None:
                    self._missing("file", match.group(1))
                else:
                    self._send(200, _file_object(upload))
            elif match := re.fullmatch(r"/v1/fine_tuning/jobs/([\w-]+)", self.path):
                job = stand_in.jobs.get(match.group(1))
                if job is None:
                    self._missing("fine-tuning job", match.group(1))
                else:
                    self._send(200, _advance(job, stand_in.job_outcome))
            elif match := re.fullmatch(r"/v1/fine_tuning/jobs/([\w-]+)/events(\?.*)?", self.path):
                job = stand_in.jobs.get(match.group(1))
                if job is None:
                    self._missing("fine-tuning job", match.group(1))
                else:
                    events = list(reversed(job["_events"]))  # newest first, as the API lists
                    self._send(200, {"object": "list", "data": events, "has_more": False})
            else:
                self._not_found()

        def _missing(self, what: str, ident: str) -> None:
            message = f"No such {what}: {ident}"
            self._send(404, _error(message, "invalid_request_error", None))

        def do_POST(self) -> None:
            request = self._record()
            if not self._authorised(request):
                return
            if self.path == "/v1/files":
                self._upload(request)
                return
            if self.path == "/v1/fine_tuning/jobs":
                self._create_job(request)
                return
            if self.path != "/v1/chat/completions":
                self._not_found()
                return
            body = request.body if isinstance(request.body, dict) else {}
            model = body.get("model")
            if not self._wait(stand_in.delay_s):
                return
            if not model or not body.get("messages"):
                missing = "model" if not model else "messages"
                message = f"Missing required parameter: '{missing}'."
                self._send(400, _error(message, "invalid_request_error", None, missing))
            elif model not in stand_in.models:
                message = f"The model `{model}` does not exist or you do not have access to it."
                self._send(404, _error(message, "invalid_request_error", "model_not_found"))
            elif stand_in.fail_status is not None:
                message = "The server had an error while processing your request. Sorry about that!"
                self._send(stand_in.fail_status, _error(message, "server_error", None))
            elif stand_in.raw_body is not None:
                self._send(200, stand_in.raw_body)
            elif body.get("stream"):
                self._stream(model, body, stand_in.answer(request))
            else:
                self._send(200, self._completion(model, body, stand_in.answer(request)))

        def _upload(self, request: OpenAIRequest) -> None:
            body = request.body if isinstance(request.body, dict) else {}
            upload = body.get("file")
            purpose = body.get("purpose")
            if not isinstance(upload, dict) or not purpose:
                missing = "file" if not isinstance(upload, dict) else "purpose"
                message = f"Missing required parameter: '{missing}'."
                self._send(400, _error(message, "invalid_request_error", None, missing))
                return
            ident = f"file-standin{len(stand_in.files) + 1:04d}"
            stand_in.files[ident] = UploadedFile(
                ident, upload["filename"], str(purpose), upload["content"], int(time.time())
            )
            self._send(200, _file_object(stand_in.files[ident]))

        def _create_job(self, request: OpenAIRequest) -> None:
            body = request.body if isinstance(request.body, dict) else {}
            training_file, model = body.get("training_file"), body.get("model")
            if not training_file or not model:
                missing = "training_file" if not training_file else "model"
                message = f"Missing required parameter: '{missing}'."
                self._send(400, _error(message, "invalid_request_error", None, missing))
                return
            upload = stand_in.files.get(training_file)
            if upload is None or upload.purpose != "fine-tune":
                message = f"invalid training_file: {training_file}"
                self._send(400, _error(message, "invalid_request_error", None, "training_file"))
                return
            if model not in stand_in.fine_tunable:
                message = f"Model {model} is not available for fine-tuning or does not exist."
                self._send(400, _error(message, "invalid_request_error", "model_not_available"))
                return
            ident = f"ftjob-standin{len(stand_in.jobs) + 1:04d}"
            suffix = body.get("suffix")
            now = int(time.time())
            job: dict[str, Any] = {
                "object": "fine_tuning.job",
                "id": ident,
                "model": model,
                "created_at": now,
                "finished_at": None,
                "fine_tuned_model": None,
                "organization_id": ORGANIZATION,
                "result_files": [],
                "status": JOB_STEPS[0],
                "validation_file": body.get("validation_file"),
                "training_file": training_file,
                "hyperparameters": {
                    "n_epochs": "auto",
                    "batch_size": "auto",
                    "learning_rate_multiplier": "auto",
                },
                "trained_tokens": None,
                "error": None,
                "seed": int(body.get("seed") or 42),
                "estimated_finish": None,
                "integrations": [],
                "metadata": body.get("metadata"),
                "user_provided_suffix": suffix,
                "_events": [],
                "_examples": upload.content.count(b"\n"),
            }
            _event(job, f"Created fine-tuning job: {ident}")
            stand_in.jobs[ident] = job
            self._send(200, _public(job))

        def _not_found(self) -> None:
            message = f"Invalid URL ({self.command} {self.path})"
            self._send(404, _error(message, "invalid_request_error", None))

        def _usage(self, body: dict[str, Any], text: str) -> dict[str, int]:
            prompt, completion = prompt_count(body), len(pieces(text))
            return {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }

        def _completion(self, model: str, body: dict[str, Any], text: str) -> dict[str, Any]:
            return {
                "id": f"chatcmpl-standin{len(stand_in.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": self._usage(body, text) if stand_in.report_usage else None,
                "system_fingerprint": "fp_standin",
            }

        def _stream(self, model: str, body: dict[str, Any], text: str) -> None:
            include_usage = stand_in.report_usage and bool(
                (body.get("stream_options") or {}).get("include_usage")
            )
            base = {
                "id": f"chatcmpl-standin{len(stand_in.requests)}",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_standin",
            }

            def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                extra = {"usage": None} if include_usage else {}
                return {**base, "choices": [choice], **extra}

            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._event(chunk({"role": "assistant", "content": "", "refusal": None}, None))
            for piece in pieces(text):
                if not self._wait(stand_in.chunk_delay_s):
                    return
                self._event(chunk({"content": piece}, None))
            self._event(chunk({}, "stop"))
            if include_usage:
                self._event({**base, "choices": [], "usage": self._usage(body, text)})
            self.write_chunk(b"data: [DONE]\n\n")
            self.write_chunk(b"")

        def _event(self, payload: dict[str, Any]) -> None:
            self.write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    return Handler


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """The fields of a multipart/form-data body: text fields as strings, files as
    ``{"filename", "content_type", "content"}``."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            kind = part.get_content_type()
            fields[str(name)] = {"filename": filename, "content_type": kind, "content": content}
        else:
            fields[str(name)] = content.decode()
    return fields


def _file_object(upload: UploadedFile) -> dict[str, Any]:
    return {
        "id": upload.id,
        "object": "file",
        "bytes": len(upload.content),
        "created_at": upload.created_at,
        "expires_at": None,
        "filename": upload.filename,
        "purpose": upload.purpose,
        "status": "processed",
        "status_details": None,
    }


def _event(job: dict[str, Any], message: str, level: str = "info") -> None:
    job["_events"].append(
        {
            "object": "fine_tuning.job.event",
            "id": f"ftevent-standin{len(job['_events']) + 1:04d}",
            "created_at": int(time.time()),
            "level": level,
            "message": message,
            "data": {},
            "type": "message",
        }
    )


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def _advance(job: dict[str, Any], outcome: str) -> dict[str, Any]:
    """Move ``job`` one status on (each read is one tick of the real job's progress)."""
    status = job["status"]
    if status in JOB_STEPS[:-1]:
        job["status"] = JOB_STEPS[JOB_STEPS.index(status) + 1]
        _event(job, {"queued": "Job enqueued", "running": "Fine-tuning job started"}[job["status"]])
    elif status == "running":
        job["finished_at"] = int(time.time())
        if outcome == "succeeded":
            suffix = job["user_provided_suffix"] or ""
            org = ORGANIZATION.removeprefix("org-")
            name = f"ft:{job['model']}:{org}:{suffix}:{job['id'][-8:]}"
            job.update(
                status="succeeded",
                fine_tuned_model=name,
                trained_tokens=1000 * max(1, job["_examples"]),
                result_files=[f"file-result-{job['id'][-8:]}"],
            )
            _event(job, f"New fine-tuned model created: {name}")
            _event(job, "The job has successfully completed")
        else:
            job.update(
                status="failed",
                error={
                    "code": "invalid_training_file",
                    "message": "The job failed due to an invalid training file.",
                    "param": "training_file",
                },
            )
            _event(job, "The job failed due to an invalid training file.", level="error")
    return _public(job)


@contextmanager
def serve(**settings: Any) -> Iterator[OpenAIStandIn]:
    """Run a stand-in on an ephemeral loopback port; ``settings`` set its fields."""
    stand_in = OpenAIStandIn(**settings)
    with loopback.run(stand_in, _handler(stand_in), "/v1"):
        yield stand_in
