"""The models a dataset is distilled from: a rotating pool of LLMs (Ollama, any OpenAI-compatible
API, a local transformers model) and the static templates, which answer from the vocabulary's
own content and need nothing running.

``Pool`` decides which models answer a prompt: ``models_per_prompt`` of them at a time, rotating
to the next ones in the pool every ``swap_interval`` prompts, so an Ollama host only has to hold
a few models in memory at once. ``Answerers`` turns a (model, prompt) pair into text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from knowledge.errors import ProviderError
from knowledge.llm.base import Message, Provider
from knowledge.redaction import Redactor
from training.prompts import StaticResponder, WorkItem

log = logging.getLogger(__name__)

MODEL_TYPES = {
    "ollama": "ollama_direct",
    "openai": "openai_api",
    "transformers": "transformers_local",
    "static": "static_template",
}
STATIC_MODEL = "static-template"


@dataclass(frozen=True)
class Member:
    """One model of the pool."""

    backend: str
    model: str

    @property
    def model_type(self) -> str:
        return MODEL_TYPES[self.backend]

    @property
    def slug(self) -> str:
        """The model in sample ids: lower case, runs of other characters as ``-``."""
        if self.backend == "static":
            return STATIC_MODEL
        return re.sub(r"[^a-z0-9.]+", "-", f"{self.backend}-{self.model}".lower()).strip("-")

    def __str__(self) -> str:
        return self.model if self.backend != "static" else STATIC_MODEL


def provider_key(member: Member) -> str:
    """Which provider answers ``member``: one per backend, but one per model folder for
    ``transformers`` (each folder is its own loaded model)."""
    return f"transformers:{member.model}" if member.backend == "transformers" else member.backend


def static_member() -> Member:
    return Member("static", STATIC_MODEL)


class Pool:
    """The models in rotation. Prompt number ``q`` (counted over the dataset's whole life) is
    answered by the window ``q // swap_interval`` of ``per_prompt`` models, taken in turn."""

    def __init__(self, members: Sequence[Member], per_prompt: int, swap_interval: int) -> None:
        if not members:
            raise ValueError("the pool needs at least one model")
        self.members = list(dict.fromkeys(members))
        self.per_prompt = max(1, min(per_prompt, len(self.members)))
        self.swap_interval = max(1, swap_interval)
        self.down: set[Member] = set()

    def window(self, q: int) -> int:
        return q // self.swap_interval

    def active(self, q: int) -> list[Member]:
        """The models that answer prompt number ``q``, leaving out models that are down (the
        next ones in the pool stand in for them)."""
        alive = [m for m in self.members if m not in self.down]
        if not alive:
            return []
        start = self.window(q) * self.per_prompt
        return [alive[(start + j) % len(alive)] for j in range(min(self.per_prompt, len(alive)))]

    def names(self) -> list[str]:
        return [str(m) for m in self.members]


Answer = Callable[[Member, WorkItem], str]


class Answerers:
    """Answers a prompt with a pool member: the static templates in-process, LLMs through the
    providers of ``knowledge.llm``. With a ``redactor``, what is sent to an LLM has secrets and
    personal data replaced by placeholders (and the dataset keeps the placeholders)."""

    def __init__(
        self,
        providers: dict[str, Provider],
        static: StaticResponder,
        *,
        temperature: float,
        timeout_s: float,
        redactor: Redactor | None = None,
    ) -> None:
        self.providers = providers
        self.static = static
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.redactor = redactor

    def __call__(self, member: Member, item: WorkItem) -> str:
        if member.backend == "static":
            return self.static.respond(item)
        provider = self.providers.get(provider_key(member))
        if provider is None:
            raise ProviderError(f"no {member.backend} endpoint is configured")
        system, prompt = self.outgoing(item)
        completion = provider.complete(
            [Message("system", system), Message("user", prompt)],
            member.model,
            temperature=self.temperature,
            timeout_s=self.timeout_s,
        )
        return completion.text

    def outgoing(self, item: WorkItem) -> tuple[str, str]:
        """The system and user messages as they leave the machine."""
        if self.redactor is None:
            return item.system, item.prompt
        return self.redactor.redact(item.system), self.redactor.redact(item.prompt)

    def warm(self, members: Sequence[Member]) -> None:
        """Ask Ollama to load ``members`` now and keep them loaded (``keep_alive``); a failure
        here is only logged (the requests will say what is wrong)."""
        provider = self.providers.get("ollama")
        warm = getattr(provider, "warm", None)
        if warm is None:
            return
        for member in members:
            if member.backend == "ollama":
                try:
                    warm(member.model, self.timeout_s)
                except ProviderError as exc:
                    log.info("could not preload %s: %s", member.model, exc)
