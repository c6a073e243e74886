"""A loopback stand-in of the Slack Web API that records every call it receives.

Speaks the real wire protocol (form or JSON bodies, ``Authorization: Bearer`` tokens, JSON
answers with ``ok``), so the real ``slack_sdk.WebClient(base_url=...)`` talks to it unmodified.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class SlackCall:
    method: str
    token: str | None
    params: dict[str, Any]


@dataclass
class SlackStandIn:
    valid_tokens: set[str]
    calls: list[SlackCall] = field(default_factory=list)
    url: str = ""
    answers: dict[str, Callable[[SlackCall], dict[str, Any]]] = field(default_factory=dict)

    def answer(self, call: SlackCall) -> dict[str, Any]:
        if call.token not in self.valid_tokens:
            return {"ok": False, "error": "invalid_auth"}
        if call.method in self.answers:
            return self.answers[call.method](call)
        if call.method == "auth.test":
            return {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "vigil",
                "team_id": "T0001",
                "user_id": "U0001",
                "bot_id": "B0001",
            }
        return {"ok": True}


def _handler(stand_in: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if self.headers.get("Content-Type", "").startswith("application/json"):
                params = json.loads(body or "{}")
            else:
                params = {k: v[0] for k, v in parse_qs(body).items()}
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ") if auth else params.get("token")
            call = SlackCall(self.path.strip("/").split("/")[-1], token, params)
            stand_in.calls.append(call)
            payload = json.dumps(stand_in.answer(call)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve(valid_tokens: set[str]) -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn(valid_tokens=valid_tokens)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
