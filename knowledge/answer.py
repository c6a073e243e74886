"""Answering: retrieve evidence, pick a provider and model, build the prompt, answer, fall back.

- The provider is Ollama, an OpenAI-compatible API, or the embedded extractive analyst (the
  default, offline, never invents). A provider that errs or times out falls back to the
  extractive answer and the answer says so.
- Routing sends simple questions to the ``simple`` model tier and complex ones to ``complex``,
  by the rules in ai-config (first match wins; no match: complex).
- Privacy: ``privacy.external_llm`` is ``redact`` (values pseudonymised, restored in the answer
  the user sees), ``block`` (nothing is sent; the extractive analyst answers) or ``allow``.
  A local model served in-process (``transformers``) sends nothing anywhere, so it is exempt.
- Answers are cached by (question, evidence ids, provider, model).
- Every answer carries its latency, provider, model and token counts.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.config import (
    AnalysisConfig,
    LLMConfig,
    PrivacyConfig,
    PromptsConfig,
    RoutingRule,
    Tier,
)
from knowledge.errors import ConfigError, ProviderError, QueryError
from knowledge.evidence import Evidence
from knowledge.llm import extractive
from knowledge.llm.base import OnToken, Provider, estimate_tokens
from knowledge.prompting import build_prompt, evidence_block
from knowledge.pseudonym import Pseudonymiser
from knowledge.redaction import Redactor
from knowledge.retrieval import QueryPlan, Retriever, plan

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000
IN_PROCESS_PROVIDERS = frozenset({"transformers"})
"""Providers that run inside this process: nothing reaches another machine, so
``privacy.external_llm`` (block / redact) does not apply to them."""
CACHE_SIZE = 256


@dataclass
class Answer:
    question: str
    conclusion: str
    sections: list[tuple[str, list[str]]]
    evidence: list[Evidence]
    provider: str
    model: str
    tier: Tier | None = None
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = True
    notes: list[str] = field(default_factory=list)
    """Things the reader should know about how this answer was made (fallbacks, privacy)."""
    cached: bool = False
    body: str = ""
    """An LLM's answer as written (after the conclusion line); empty for the extractive one."""

    @property
    def text(self) -> str:
        """The whole answer as Markdown-ish plain text, for terminals and ``--json``."""
        out = [self.conclusion, ""]
        if self.body:
            out += [self.body, ""]
        for heading, lines in self.sections:
            out.append(f"{heading}:")
            out += [f"- {line}" for line in lines]
            out.append("")
        out += [f"Note: {note}" for note in self.notes]
        return "\n".join(out).strip()

    def sources(self) -> list[dict[str, Any]]:
        return [
            {
                "n": n,
                "source": e.source,
                "kind": e.kind,
                "id": e.id,
                "ts": e.ts.isoformat() if e.ts else None,
                "label": e.label,
                "snippet": e.snippet,
                "score": e.score,
            }
            for n, e in enumerate(self.evidence, start=1)
        ]

    def to_json(self) -> dict[str, Any]:
        """The ``vigil ask --json`` document (schema in DESIGN.md, plus model and tokens)."""
        return {
            "answer": self.text,
            "sources": self.sources(),
            "provider": self.provider,
            "model": self.model,
            "latency_ms": round(self.latency_ms, 1),
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "estimated": self.tokens_estimated,
            },
            "notes": self.notes,
            "cached": self.cached,
        }


def route(question: str, rules: Sequence[RoutingRule]) -> Tier:
    """The model tier for ``question``: the first rule whose conditions all hold."""
    lowered = question.lower()
    words = len(question.split())
    for rule in rules:
        if rule.max_words is not None and words > rule.max_words:
            continue
        if rule.keywords and not any(k.lower() in lowered for k in rule.keywords):
            continue
        return rule.tier
    return "complex"


class Answerer:
    """Answers questions from the knowledge store (and optional live evidence)."""

    def __init__(
        self,
        retriever: Retriever | None,
        analysis: AnalysisConfig,
        prompts: PromptsConfig,
        llm: LLMConfig,
        privacy: PrivacyConfig,
        redactor: Redactor,
        provider: Provider | None = None,
        max_context_tokens: int = 3000,
        live_budget: int = 6,
    ) -> None:
        self.retriever = retriever
        self.analysis = analysis
        self.prompts = prompts
        self.llm = llm
        self.privacy = privacy
        self.redactor = redactor
        self.provider = provider
        self.max_context_tokens = max_context_tokens
        self.live_budget = live_budget
        self._cache: OrderedDict[str, Answer] = OrderedDict()

    @property
    def provider_name(self) -> str:
        return self.provider.name if self.provider is not None else extractive.NAME

    def ask(
        self,
        question: str,
        now: datetime | None = None,
        live: Sequence[Evidence] = (),
        on_token: OnToken | None = None,
        limit: int = 12,
    ) -> Answer:
        """Answer ``question``. ``live``: evidence read from telemetry just now (findings), put
        before stored evidence. ``on_token``: called with the answer as it streams."""
        started = time.perf_counter()
        question = validate_question(question)
        now = now or datetime.now(UTC)
        if self.retriever is not None:
            query_plan = self.retriever.plan(question, now)
            hits = self.retriever.search(question, now, limit=limit, query_plan=query_plan)
        else:  # no knowledge store: live evidence only
            query_plan = plan(question, now, {e.service for e in live}, {e.host for e in live})
            hits = []
        evidence = list(live[: self.live_budget]) + [Evidence.from_hit(h) for h in hits]
        tier = route(question, self.llm.routing)
        model = self.llm.models.get(tier, "") if self.provider is not None else extractive.MODEL
        key = _cache_key(question, evidence, self.provider_name, model)
        if key in self._cache:
            self._cache.move_to_end(key)
            cached = replace(self._cache[key], cached=True)
            cached.latency_ms = (time.perf_counter() - started) * 1000
            if on_token is not None:
                on_token(cached.text)
            return cached

        notes: list[str] = []
        answer: Answer | None = None
        external = self.provider is not None and self.provider.name not in IN_PROCESS_PROVIDERS
        if self.provider is not None and external and self.privacy.external_llm == "block":
            notes.append(
                f"privacy.external_llm is `block`: nothing was sent to {self.provider.name}; "
                "the embedded analyst wrote this answer."
            )
        elif self.provider is not None:
            try:
                answer = self._llm_answer(question, query_plan, evidence, tier, model, on_token)
            except ProviderError as exc:
                log.warning("LLM answer failed, falling back to the extractive analyst: %s", exc)
                notes.append(f"{exc}; the embedded analyst wrote this answer instead.")
        if answer is None:
            answer = self._extractive(question, query_plan, evidence, now, tier)
            if on_token is not None:
                on_token(answer.text)
        answer.notes = notes + answer.notes
        answer.latency_ms = (time.perf_counter() - started) * 1000
        if not notes:  # a fallback is not cached: the next ask retries the provider
            self._cache[key] = answer
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return answer

    def _extractive(
        self,
        question: str,
        query_plan: QueryPlan,
        evidence: list[Evidence],
        now: datetime,
        tier: Tier,
    ) -> Answer:
        newest = self._newest_telemetry()
        draft = extractive.compose(
            question,
            query_plan,
            evidence,
            self.analysis,
            self.prompts.answer_structure,
            now,
            newest,
        )
        prompt_tokens = estimate_tokens(question) + estimate_tokens(evidence_block(evidence))
        answer = Answer(
            question=question,
            conclusion=draft.conclusion,
            sections=draft.sections,
            evidence=evidence,
            provider=extractive.NAME,
            model=extractive.MODEL,
            tier=tier,
            prompt_tokens=prompt_tokens,
        )
        answer.completion_tokens = estimate_tokens(answer.text)
        return answer

    def _newest_telemetry(self) -> datetime | None:
        if self.retriever is None:
            return None
        try:
            return self.retriever.store.newest_telemetry()
        except Exception:  # the answer can do without it
            return None

    def _llm_answer(
        self,
        question: str,
        query_plan: QueryPlan,
        evidence: list[Evidence],
        tier: Tier,
        model: str,
        on_token: OnToken | None,
    ) -> Answer:
        assert self.provider is not None
        prompt = build_prompt(
            question, evidence, self.analysis, self.prompts, self.max_context_tokens
        )
        messages = prompt.messages
        pseudonyms: Pseudonymiser | None = None
        if self.privacy.external_llm == "redact" and self.provider.name not in IN_PROCESS_PROVIDERS:
            pseudonyms = Pseudonymiser(self.redactor)
            messages = [replace(m, content=pseudonyms.mask(m.content)) for m in messages]
        stream = None
        if on_token is not None:
            stream = pseudonyms.streaming(on_token) if pseudonyms else None
        completion = self.provider.complete(
            messages,
            model,
            temperature=self.llm.temperature,
            timeout_s=self.llm.timeout_s,
            on_token=(stream.feed if stream else on_token),
        )
        if stream is not None:
            stream.close()
        text = pseudonyms.restore(completion.text) if pseudonyms else completion.text
        if not text.strip():
            raise ProviderError(f"{self.provider.name} returned an empty answer")
        conclusion, _, body = text.strip().partition("\n")
        notes = []
        if prompt.dropped:
            notes.append(f"{prompt.dropped} lower-ranked evidence item(s) did not fit the context.")
        if pseudonyms is not None and len(pseudonyms):
            notes.append(f"{len(pseudonyms)} private value(s) were pseudonymised before sending.")
        return Answer(
            question=question,
            conclusion=conclusion.strip(),
            sections=[],
            body=body.strip(),
            evidence=prompt.evidence,
            provider=self.provider.name,
            model=completion.model or model,
            tier=tier,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            tokens_estimated=completion.estimated,
            notes=notes,
        )


def validate_question(question: str) -> str:
    """The question, stripped; ``QueryError`` when it is empty or too long."""
    question = (question or "").strip()
    if not question:
        raise QueryError("the question is empty: ask something, e.g. `why is checkout slow?`")
    if len(question) > MAX_QUESTION_CHARS:
        raise QueryError(
            f"the question is {len(question):,} characters long; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Please shorten it."
        )
    return question


def _cache_key(question: str, evidence: Sequence[Evidence], provider: str, model: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in (" ".join(question.lower().split()), provider, model, *(e.id for e in evidence)):
        digest.update(part.encode())
        digest.update(b"\x1f")
    return digest.hexdigest()


def select_provider(
    llm: LLMConfig,
    ollama_host: str | None,
    openai_api_key: str | None,
    openai_base_url: str | None,
) -> Provider | None:
    """The configured provider, or ``None`` for the extractive analyst (``auto`` with no LLM
    endpoint configured)."""
    choice = llm.provider
    if choice == "auto":
        if ollama_host:
            choice = "ollama"
        elif openai_api_key or openai_base_url:
            choice = "openai"
        elif llm.local_model:
            choice = "transformers"
        else:
            return None
    if choice == "extractive":
        return None
    if choice == "transformers":
        return _transformers_provider(llm)
    if choice == "ollama":
        if not ollama_host:
            raise ConfigError("llm.provider", "ai-config.yml", "ollama needs OLLAMA_HOST in .env")
        from knowledge.llm.ollama import OllamaProvider

        return OllamaProvider(ollama_host)
    if not (openai_api_key or openai_base_url):
        raise ConfigError(
            "llm.provider", "ai-config.yml", "openai needs OPENAI_API_KEY or OPENAI_BASE_URL"
        )
    from knowledge.llm.openai import OpenAIProvider

    return OpenAIProvider(openai_api_key, openai_base_url)


def _transformers_provider(llm: LLMConfig) -> Provider:
    """The in-process provider for ``llm.local_model``; a missing or empty folder is a config
    error (the model itself loads on the first answer)."""
    if not llm.local_model:
        raise ConfigError(
            "llm.local_model",
            "ai-config.yml",
            "transformers needs llm.local_model: a local Hugging Face model folder",
        )
    if not (Path(llm.local_model) / "config.json").is_file():
        raise ConfigError(
            "llm.local_model",
            "ai-config.yml",
            "expected a Hugging Face model folder with config.json",
            llm.local_model,
        )
    from knowledge.llm.transformers import TransformersProvider

    return TransformersProvider(llm.local_model, max_new_tokens=llm.max_new_tokens)
