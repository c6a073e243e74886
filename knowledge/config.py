"""Schemas of the parts of ``data_config/ai-config.yml`` that the knowledge layer and handlers use.

Each model forbids unknown keys, so a misspelt key is an error rather than a silently ignored
setting. ``bot.config`` loads the file and turns validation errors into one-line messages.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


class LLMConfig(StrictModel):
    provider: Literal["auto", "extractive", "ollama", "openai"] = "auto"
    models: dict[Tier, str] = Field(default_factory=lambda: dict(DEFAULT_MODELS))
    routing: tuple[RoutingRule, ...] = ()
    timeout_s: float = Field(default=30.0, gt=0)
    temperature: float = Field(default=0.1, ge=0, le=2)


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
