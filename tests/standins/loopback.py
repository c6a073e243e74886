"""What the loopback stand-ins share: an HTTP/1.1 handler that writes chunked bodies and stays
quiet, and a server on an ephemeral 127.0.0.1 port run in a daemon thread."""

from __future__ import annotations

import hashlib
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """One request a stand-in received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body, None when there was none


def pieces(text: str) -> list[str]:
    """How the LLM stand-ins split an answer into stream chunks: a word with its trailing
    space."""
    return re.findall(r"\S+\s*|\s+", text)


_TEXT = (
    "pool heap thread queue latency replica index shard consumer slot vemkd session broker "
    "socket kernel cache page retry backoff disk memory error budget gc"
)
_WORDS = _TEXT.split()


def distinct_answer(request: Recorded) -> str:
    """An LLM answer of ~45 words that differs for every (model, messages): what a dataset
    generator's quality filter keeps (long enough, complete, no near-duplicate)."""
    body = request.body if isinstance(request.body, dict) else {}
    seed = hashlib.sha256(repr((body.get("model"), body.get("messages"))).encode()).digest()
    words = [_WORDS[b % len(_WORDS)] + str(b) for b in seed + seed[::-1]][:44]
    return "In short: " + " ".join(words) + "."


def prompt_count(body: dict[str, Any]) -> int:
    """The prompt size the LLM stand-ins report: the words in all messages."""
    return sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms a request), which real servers do not add
    disable_nagle_algorithm = True

    def write_chunk(self, data: bytes) -> None:
        """One chunk of a ``Transfer-Encoding: chunked`` body; ``b""`` ends the body."""
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")

    def handle(self) -> None:
        # the client may give up mid-answer (a timeout test); nothing left to answer then
        with suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def log_message(self, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    """A server that does not print a traceback when a client hangs up or fails a handshake."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@contextmanager
def run(
    stand_in: Any,
    handler: type[BaseHTTPRequestHandler],
    path: str = "",
    tls: tuple[str, str] | None = None,
) -> Iterator[Any]:
    """Serve ``handler`` until the block ends; ``stand_in.url`` is set to the base URL plus
    ``path``, and ``stand_in.stopping`` is set before shutdown. ``tls``: (certfile, keyfile)
    to serve HTTPS."""
    server = QuietServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        # the handshake happens in the handler's thread; a client that refuses the
        # certificate fails there quietly
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        scheme = "https"
    stand_in.url = f"{scheme}://127.0.0.1:{server.server_address[1]}{path}"
    # a short poll interval keeps shutdown (every test's teardown) quick
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield stand_in
    finally:
        stand_in.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
