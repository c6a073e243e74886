"""A loopback stand-in of the Ollama HTTP API that records every request it receives.

Speaks the real wire protocol (``POST /api/chat`` answered with one JSON object, or NDJSON
chunks over chunked transfer encoding when streaming; ``GET /api/tags``; ``GET /api/version``;
404 ``{"error": ...}`` for a model it does not have), so the real ``ollama.Client(host=...)``
talks to it unmodified.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.standins import loopback
from tests.standins.loopback import QuietHandler, Recorded, pieces, prompt_count

DEFAULT_MODEL = "llama3.2:1b"
DEFAULT_ANSWER = "All three checkout pods are healthy and p95 latency is 180 ms."


OllamaRequest = Recorded


@dataclass
class OllamaStandIn:
    """What the stand-in answers; change the fields between calls to change its behaviour."""

    models: set[str] = field(default_factory=lambda: {DEFAULT_MODEL})
    answer: Callable[[OllamaRequest], str] = lambda request: DEFAULT_ANSWER
    delay_s: float = 0.0
    """Wait this long before answering at all."""
    chunk_delay_s: float = 0.0
    """When streaming, wait this long before each chunk."""
    fail_status: int | None = None
    """Answer every chat with this HTTP status and an Ollama-shaped error body."""
    raw_body: bytes | None = None
    """Answer every chat with HTTP 200 and exactly these bytes (to test malformed answers)."""
    report_counts: bool = True
    """Include ``prompt_eval_count`` and ``eval_count`` in the final answer."""
    requests: list[OllamaRequest] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)
    """Models loaded by a prompt-less ``/api/generate`` (a client keeping them warm)."""
    url: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def chats(self) -> list[OllamaRequest]:
        return [r for r in self.requests if r.path == "/api/chat"]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _handler(stand_in: OllamaStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _record(self) -> OllamaRequest:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = OllamaRequest(self.command, self.path, headers, body)
            stand_in.requests.append(request)
            return request

        def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _wait(self, seconds: float) -> bool:
            """Sleep, but wake up (and say so) when the stand-in is shutting down."""
            if seconds <= 0 or not stand_in.stopping.wait(seconds):
                return True
            self.close_connection = True
            return False

        def do_GET(self) -> None:
            self._record()
            if self.path == "/api/version":
                self._send(200, {"version": "0.6.8"})
            elif self.path == "/api/tags":
                models = [
                    {
                        "name": name,
                        "model": name,
                        "modified_at": _now(),
                        "size": 1_321_098_329,
                        "digest": "a80c4f17acd5" + "0" * 52,
                        "details": {
                            "format": "gguf",
                            "family": "llama",
                            "parameter_size": "1.2B",
                            "quantization_level": "Q8_0",
                        },
                    }
                    for name in sorted(stand_in.models)
                ]
                self._send(200, {"models": models})
            else:
                self._send(404, b"404 page not found", "text/plain")

        def do_POST(self) -> None:
            request = self._record()
            if self.path == "/api/generate":
                self._generate(request)
                return
            if self.path != "/api/chat":
                self._send(404, b"404 page not found", "text/plain")
                return
            body = request.body if isinstance(request.body, dict) else {}
            model = body.get("model")
            if not self._wait(stand_in.delay_s):
                return
            if not model:
                self._send(400, {"error": "model is required"})
            elif model not in stand_in.models:
                error = f'model "{model}" not found, try pulling it first'
                self._send(404, {"error": error})
            elif stand_in.fail_status is not None:
                self._send(stand_in.fail_status, {"error": "stand-in failure"})
            elif stand_in.raw_body is not None:
                self._send(200, stand_in.raw_body)
            elif body.get("stream", True):
                self._stream(model, body, stand_in.answer(request))
            else:
                text = stand_in.answer(request)
                self._send(200, self._final(model, body, text, len(pieces(text))))

        def _generate(self, request: OllamaRequest) -> None:
            """``/api/generate`` without a prompt loads the model (how clients keep it warm);
            with one, it answers like a chat, unstreamed."""
            body = request.body if isinstance(request.body, dict) else {}
            model = body.get("model")
            if not model:
                self._send(400, {"error": "model is required"})
            elif model not in stand_in.models:
                self._send(404, {"error": f'model "{model}" not found, try pulling it first'})
            else:
                stand_in.loaded.add(model)
                text = stand_in.answer(request) if body.get("prompt") else ""
                self._send(
                    200,
                    {
                        "model": model,
                        "created_at": _now(),
                        "response": text,
                        "done": True,
                        "done_reason": "stop" if text else "load",
                    },
                )

        def _final(self, model: str, body: dict[str, Any], text: str, n: int) -> dict[str, Any]:
            final: dict[str, Any] = {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": text},
                "done": True,
                "done_reason": "stop",
                "total_duration": 912_000_000,
                "load_duration": 31_000_000,
                "prompt_eval_duration": 120_000_000,
                "eval_duration": 750_000_000,
            }
            if stand_in.report_counts:
                final["prompt_eval_count"] = prompt_count(body)
                final["eval_count"] = n
            return final

        def _stream(self, model: str, body: dict[str, Any], text: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            parts = pieces(text)
            for piece in parts:
                if not self._wait(stand_in.chunk_delay_s):
                    return
                chunk = {
                    "model": model,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
                self.write_chunk(json.dumps(chunk).encode() + b"\n")
            self.write_chunk(json.dumps(self._final(model, body, "", len(parts))).encode() + b"\n")
            self.write_chunk(b"")

    return Handler


@contextmanager
def serve(**settings: Any) -> Iterator[OllamaStandIn]:
    """Run a stand-in on an ephemeral loopback port; ``settings`` set its fields."""
    stand_in = OllamaStandIn(**settings)
    with loopback.run(stand_in, _handler(stand_in), ""):
        yield stand_in
