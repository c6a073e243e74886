"""The Ollama provider: a chat completion from an Ollama server, through the ``ollama`` library.

Every failure comes out as one ``ProviderError`` whose one-line message names the provider, the
host and the reason, and never the messages sent.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import httpx
import ollama

from knowledge.errors import ProviderError
from knowledge.llm.base import Completion, Message, OnToken, estimate_tokens, root_cause, scrub
from knowledge.llm.usage import USAGE

T = TypeVar("T")


class OllamaProvider:
    """``complete`` against the Ollama server at ``host`` (e.g. ``http://127.0.0.1:11434``)."""

    name = "ollama"

    def __init__(self, host: str, keep_alive: str | None = None) -> None:
        self.host = host
        self.keep_alive = keep_alive
        """How long the server keeps a model loaded after a request (e.g. ``30m``); None: the
        server's default (5 minutes)."""
        # one client per timeout, reused across calls and threads: building one costs ~20 ms
        self._clients: dict[float, ollama.Client] = {}
        self._lock = threading.Lock()
        # close the connections when the provider goes away (no unclosed-socket warnings)
        weakref.finalize(self, _close_all, self._clients)

    def complete(
        self,
        messages: Sequence[Message],
        model: str,
        *,
        temperature: float,
        timeout_s: float,
        on_token: OnToken | None = None,
    ) -> Completion:
        payload = [{"role": m.role, "content": m.content} for m in messages]
        options = {"temperature": temperature}
        secrets = [m.content for m in messages]
        deadline = time.monotonic() + timeout_s
        with self._failures(timeout_s, secrets):
            client = self._client(timeout_s)
        if on_token is None:
            with self._failures(timeout_s, secrets):
                last = client.chat(
                    model=model,
                    messages=payload,
                    options=options,
                    stream=False,
                    keep_alive=self.keep_alive,
                )
            text = last.message.content or ""
        else:
            pieces: list[str] = []
            stream = client.chat(
                model=model,
                messages=payload,
                options=options,
                stream=True,
                keep_alive=self.keep_alive,
            )
            for last in self._within(stream, deadline, timeout_s, secrets):
                if piece := last.message.content:
                    pieces.append(piece)
                    on_token(piece)  # outside _failures: the caller's errors stay theirs
                if last.done:
                    break
            else:
                raise self._error("ended the stream before it was done")
            text = "".join(pieces)
        prompt_tokens, completion_tokens = last.prompt_eval_count, last.eval_count
        return USAGE.record(
            self.name,
            Completion(
                text=text,
                model=last.model or model,
                prompt_tokens=(
                    prompt_tokens
                    if prompt_tokens is not None
                    else sum(estimate_tokens(m.content) for m in messages)
                ),
                completion_tokens=(
                    completion_tokens if completion_tokens is not None else estimate_tokens(text)
                ),
                estimated=prompt_tokens is None or completion_tokens is None,
            ),
        )

    def warm(self, model: str, timeout_s: float) -> None:
        """Load ``model`` into the server's memory now and keep it for ``keep_alive`` (a
        generate request with no prompt, as Ollama documents), so the first real request does
        not wait for the load."""
        with self._failures(timeout_s, []):
            self._client(timeout_s).generate(model=model, keep_alive=self.keep_alive)

    def close(self) -> None:
        """Close the HTTP connections this provider holds."""
        with self._lock:
            _close_all(self._clients)

    def _client(self, timeout_s: float) -> ollama.Client:
        with self._lock:
            client = self._clients.get(timeout_s)
            if client is None:
                client = ollama.Client(host=self.host, timeout=timeout_s)
                self._clients[timeout_s] = client
            return client

    def _within(
        self, stream: Iterator[T], deadline: float, timeout_s: float, secrets: list[str]
    ) -> Iterator[T]:
        """Yield from ``stream`` with its failures translated, giving up at ``deadline`` even
        while chunks keep trickling in (the HTTP timeout bounds only each read)."""
        while True:
            with self._failures(timeout_s, secrets):
                try:
                    chunk = next(stream)
                except StopIteration:
                    return
            if time.monotonic() > deadline:
                raise self._error(f"timed out after {timeout_s:g}s")
            yield chunk

    @contextmanager
    def _failures(self, timeout_s: float, secrets: list[str]) -> Iterator[None]:
        """Turn what the client library raises into ``ProviderError``."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise self._error(f"timed out after {timeout_s:g}s") from exc
        except ollama.ResponseError as exc:
            detail = scrub(str(exc.error), secrets) or "no reason given"
            if exc.status_code > 0:
                raise self._error(f"answered HTTP {exc.status_code}: {detail}") from exc
            raise self._error(f"reported an error: {detail}") from exc
        except ollama.RequestError as exc:
            raise self._error(f"refused the request: {scrub(exc.error, secrets)}") from exc
        except ConnectionError as exc:  # what the library raises for httpx.ConnectError
            raise self._error(f"could not be reached: {root_cause(exc, secrets)}") from exc
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {root_cause(exc, secrets)}"
            raise self._error(f"failed: {reason}") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # json.JSONDecodeError, pydantic.ValidationError, ...: their text can quote the
            # response, so only the kind of failure is named.
            raise self._error(f"sent a malformed response ({type(exc).__name__})") from exc

    def _error(self, reason: str) -> ProviderError:
        return ProviderError(f"{self.name} at {self.host} {reason}")


def _close_all(clients: dict[float, ollama.Client]) -> None:
    for client in clients.values():
        client.close()
    clients.clear()
