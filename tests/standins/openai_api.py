"""A loopback stand-in of the OpenAI chat completions API that records every request it receives.

Speaks the real wire protocol (``POST /v1/chat/completions`` answered with a
``chat.completion`` object, or Server-Sent Events of ``chat.completion.chunk`` objects ending in
``data: [DONE]`` when streaming; ``GET /v1/models``; ``Authorization: Bearer`` keys; OpenAI-shaped
error bodies), so the real ``openai.OpenAI(base_url=...)`` talks to it unmodified.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.standins import loopback
from tests.standins.loopback import QuietHandler, Recorded, pieces, prompt_count

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_ANSWER = "All three checkout pods are healthy and p95 latency is 180 ms."


OpenAIRequest = Recorded


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
            else:
                self._not_found()

        def do_POST(self) -> None:
            request = self._record()
            if not self._authorised(request):
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


@contextmanager
def serve(**settings: Any) -> Iterator[OpenAIStandIn]:
    """Run a stand-in on an ephemeral loopback port; ``settings`` set its fields."""
    stand_in = OpenAIStandIn(**settings)
    with loopback.run(stand_in, _handler(stand_in), "/v1"):
        yield stand_in
