"""What every LLM provider offers: a chat completion, plain or streamed, with token counts.

Providers raise ``ProviderError`` for anything that goes wrong (refused, unreachable, timed out,
malformed); the answerer catches it and falls back to the extractive analyst.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Completion:
    """What a provider returns. Token counts come from the provider when it reports them,
    else from ``estimate_tokens``; ``estimated`` says which."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False


OnToken = Callable[[str], None]


class Provider(Protocol):
    name: str
    """``ollama``, ``openai`` or ``extractive``."""

    def complete(
        self,
        messages: Sequence[Message],
        model: str,
        *,
        temperature: float,
        timeout_s: float,
        on_token: OnToken | None = None,
    ) -> Completion:
        """Run one chat completion. With ``on_token``, stream: call it with each piece of text
        as it arrives, and still return the whole ``Completion`` at the end."""
        ...


def estimate_tokens(text: str) -> int:
    """A safe (high) estimate of the tokens in ``text`` when no tokenizer is at hand: about
    three characters per token, which over-counts English for BPE tokenizers."""
    return max(1, -(-len(text) // 3)) if text else 0


REASON_LIMIT = 200
"""Provider error reasons are cut to this many characters (one line)."""


def root_cause(exc: BaseException, secrets: list[str]) -> str:
    """The text of the innermost exception behind ``exc`` (usually the OS error: client
    libraries re-raise connection errors ``from None``, but the original stays in
    ``__context__``), scrubbed of ``secrets``."""
    seen = {id(exc)}
    inner = exc
    while (nxt := inner.__cause__ or inner.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        inner = nxt
    return scrub(str(inner) or type(inner).__name__, secrets)


def scrub(text: str, secrets: list[str]) -> str:
    """One line of at most ``REASON_LIMIT`` characters, with each of ``secrets`` blanked out."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = " ".join(text.split())
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 3] + "..."
