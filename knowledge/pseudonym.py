"""Reversible pseudonymisation for what is sent to an external LLM.

Each secret or personal value found by the ``Redactor`` becomes a numbered placeholder such as
``[EMAIL_1]`` (the same value gets the same placeholder throughout one request), and the
placeholders in the model's answer are put back before the user sees it. The mapping lives only
in memory for the length of one request; it is never logged or stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from knowledge.redaction import Redactor

_TOKEN = re.compile(r"\[([A-Z_]+)_(\d+)\]")
# Placeholders never grow past this, so a streaming restorer holds back at most this much text.
MAX_PLACEHOLDER = 32


class Pseudonymiser:
    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._by_value: dict[str, str] = {}
        self._by_token: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_token)

    def mask(self, text: str) -> str:
        return self.redactor.redact(text, replace=self._token)

    def _token(self, kind: str, value: str) -> str:
        token = self._by_value.get(value)
        if token is None:
            label = re.sub(r"[^A-Z]+", "_", kind.upper()).strip("_")[:16] or "VALUE"
            token = f"[{label}_{len(self._by_token) + 1}]"
            self._by_value[value] = token
            self._by_token[token] = value
        return token

    def restore(self, text: str) -> str:
        """Put the original values back for every placeholder this pseudonymiser made."""
        return _TOKEN.sub(lambda m: self._by_token.get(m.group(0), m.group(0)), text)

    def streaming(self, emit: Callable[[str], None]) -> StreamRestorer:
        return StreamRestorer(self, emit)


class StreamRestorer:
    """Restores placeholders in streamed text, holding back a possibly unfinished ``[...``."""

    def __init__(self, pseudonymiser: Pseudonymiser, emit: Callable[[str], None]) -> None:
        self._p = pseudonymiser
        self._emit = emit
        self._pending = ""

    def feed(self, piece: str) -> None:
        text = self._pending + piece
        cut = text.rfind("[")
        if cut != -1 and "]" not in text[cut:] and len(text) - cut < MAX_PLACEHOLDER:
            text, self._pending = text[:cut], text[cut:]
        else:
            self._pending = ""
        if text:
            self._emit(self._p.restore(text))

    def close(self) -> None:
        if self._pending:
            self._emit(self._p.restore(self._pending))
            self._pending = ""
