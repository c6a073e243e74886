"""The OpenAI provider: a chat completion from the OpenAI API or anything that speaks it (vLLM,
LocalAI, LM Studio; point ``base_url`` or ``OPENAI_BASE_URL`` at it), through the ``openai``
library.

Every failure comes out as one ``ProviderError`` whose one-line message names the provider, the
server and the reason, and never the API key or the messages sent.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

# Absolute import: this is the ``openai`` library, not this module (knowledge.llm.openai).
import openai
from openai.types.chat import ChatCompletionMessageParam

from knowledge.errors import ProviderError
from knowledge.llm.base import Completion, Message, OnToken, estimate_tokens, root_cause, scrub
from knowledge.llm.usage import USAGE

T = TypeVar("T")


class OpenAIProvider:
    """``complete`` against an OpenAI-compatible chat completions API.

    ``api_key`` may be None for local servers that want none; ``base_url`` None means
    ``OPENAI_BASE_URL`` if set, else the OpenAI API.
    """

    name = "openai"

    def __init__(self, api_key: str | None, base_url: str | None) -> None:
        self.api_key = api_key
        self.base_url = base_url
        # one client per timeout, reused across calls and threads: building one costs ~20 ms
        self._clients: dict[float, openai.OpenAI] = {}
        self._lock = threading.Lock()
        # close the connections when the provider goes away (no unclosed-socket warnings)
        weakref.finalize(self, _close_all, self._clients)

    def __repr__(self) -> str:  # keeps the key out of logs and tracebacks
        return f"OpenAIProvider(base_url={self.base_url!r})"

    def complete(
        self,
        messages: Sequence[Message],
        model: str,
        *,
        temperature: float,
        timeout_s: float,
        on_token: OnToken | None = None,
    ) -> Completion:
        payload = [_param(m) for m in messages]
        secrets = [m.content for m in messages] + ([self.api_key] if self.api_key else [])
        deadline = time.monotonic() + timeout_s
        where = _without_userinfo(self.base_url or "the default base URL")
        with self._failures(where, timeout_s, secrets):
            client = self._client(timeout_s)
        where = _without_userinfo(str(client.base_url).rstrip("/"))
        if on_token is None:
            with self._failures(where, timeout_s, secrets):
                response = client.chat.completions.create(
                    model=model, messages=payload, temperature=temperature, stream=False
                )
            if not response.choices:
                raise self._error(where, "sent a malformed response (no choices)")
            text = response.choices[0].message.content or ""
            usage, answered_by = response.usage, response.model
        else:
            pieces: list[str] = []
            usage, answered_by = None, None
            with self._failures(where, timeout_s, secrets):
                stream = client.chat.completions.create(
                    model=model,
                    messages=payload,
                    temperature=temperature,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            chunks = 0
            with stream:
                for chunk in self._within(stream, deadline, where, timeout_s, secrets):
                    chunks += 1
                    answered_by = chunk.model or answered_by
                    usage = chunk.usage or usage
                    if chunk.choices and (piece := chunk.choices[0].delta.content):
                        pieces.append(piece)
                        on_token(piece)  # outside _failures: the caller's errors stay theirs
            if not chunks:  # not even the opening chunk: this was no event stream
                raise self._error(where, "sent a malformed response (no chunks)")
            text = "".join(pieces)
        return USAGE.record(
            self.name,
            Completion(
                text=text,
                model=answered_by or model,
                prompt_tokens=(
                    usage.prompt_tokens
                    if usage is not None
                    else sum(estimate_tokens(m.content) for m in messages)
                ),
                completion_tokens=usage.completion_tokens if usage else estimate_tokens(text),
                estimated=usage is None,
            ),
        )

    def _client(self, timeout_s: float) -> openai.OpenAI:
        with self._lock:
            client = self._clients.get(timeout_s)
            if client is None:
                client = openai.OpenAI(
                    api_key=self.api_key or "not-needed",
                    base_url=self.base_url,
                    max_retries=0,
                    timeout=timeout_s,
                )
                self._clients[timeout_s] = client
            return client

    def close(self) -> None:
        """Close the HTTP connections this provider holds."""
        with self._lock:
            _close_all(self._clients)

    def _within(
        self,
        stream: Iterator[T],
        deadline: float,
        where: str,
        timeout_s: float,
        secrets: list[str],
    ) -> Iterator[T]:
        """Yield from ``stream`` with its failures translated, giving up at ``deadline`` even
        while chunks keep trickling in (the HTTP timeout bounds only each read)."""
        while True:
            with self._failures(where, timeout_s, secrets):
                try:
                    chunk = next(stream)
                except StopIteration:
                    return
            if time.monotonic() > deadline:
                raise self._error(where, f"timed out after {timeout_s:g}s")
            yield chunk

    @contextmanager
    def _failures(self, where: str, timeout_s: float, secrets: list[str]) -> Iterator[None]:
        """Turn what the client library raises into ``ProviderError``."""
        try:
            yield
        except openai.APITimeoutError as exc:
            raise self._error(where, f"timed out after {timeout_s:g}s") from exc
        except openai.APIConnectionError as exc:
            raise self._error(where, f"could not be reached: {root_cause(exc, secrets)}") from exc
        except openai.AuthenticationError as exc:
            # The server's own text can quote (part of) the key, so it is left out.
            code = f" {exc.code}" if exc.code else ""
            raise self._error(where, f"rejected the API key (HTTP 401{code})") from exc
        except openai.APIStatusError as exc:
            detail = scrub(_server_message(exc), secrets)
            raise self._error(where, f"answered HTTP {exc.status_code}: {detail}") from exc
        except openai.OpenAIError as exc:
            raise self._error(where, f"failed ({type(exc).__name__})") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Their text can quote the response, so only the kind of failure is named.
            raise self._error(where, f"sent a malformed response ({type(exc).__name__})") from exc

    def _error(self, where: str, reason: str) -> ProviderError:
        return ProviderError(f"{self.name} at {where} {reason}")


def _param(message: Message) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "user":
        return {"role": "user", "content": message.content}
    return {"role": "assistant", "content": message.content}


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return str(body["message"])
    if isinstance(body, str) and body:
        return body
    return exc.response.reason_phrase or "no reason given"


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _close_all(clients: dict[float, openai.OpenAI]) -> None:
    for client in clients.values():
        client.close()
    clients.clear()
