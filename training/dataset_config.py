"""The ``datasets:`` section of ``ai-config.yml``: how many samples to make, which models to
distil from, and how hard to push them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from knowledge.config import StrictModel
from knowledge.timeparse import parse_duration
from training.dataset_paths import SAMPLE_TYPES

Backend = Literal["ollama", "openai", "transformers", "static"]
BACKENDS: tuple[str, ...] = ("ollama", "openai", "transformers", "static")
DEFAULT_CONCURRENCY = {"ollama": 2, "openai": 8, "transformers": 1, "static": 1}


class PoolMember(StrictModel):
    """One model of the rotating pool. ``static`` needs no model: it answers from the
    vocabulary's own content."""

    backend: Backend
    model: str = ""

    @model_validator(mode="after")
    def _model_named(self) -> PoolMember:
        if self.backend != "static" and not self.model.strip():
            raise ValueError(f"a {self.backend} pool member needs a model")
        return self


class DatasetConfig(StrictModel):
    language_samples: int = Field(default=2000, ge=1, le=10_000_000)
    """Language samples wanted in all (split evenly over the types, as far as the vocabulary
    allows)."""
    metrics_samples: int = Field(default=20_000, ge=100, le=10_000_000)
    anomaly_ratio: float = Field(default=0.2, ge=0, le=0.8)
    seed: int = 0
    pool: tuple[PoolMember, ...] = ()
    """Models to distil from. Empty: the models of the configured LLM (llm.models), else the
    static templates."""
    models_per_prompt: int = Field(default=2, ge=1, le=10)
    swap_interval: int = Field(default=25, ge=1)
    """Prompts asked before the active models rotate to the next ones in the pool (so an
    Ollama host holds only ``models_per_prompt`` models in memory at a time)."""
    concurrency: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_CONCURRENCY))
    """Requests in flight at once, per backend (the static templates answer in-process, one
    at a time, whatever their limit)."""
    temperature: float = Field(default=0.7, ge=0, le=2)
    timeout: timedelta = timedelta(seconds=120)
    attempts: int = Field(default=2, ge=1, le=10)
    """Tries per prompt and model before it is recorded as failed (see retry-failed)."""
    give_up_after: int = Field(default=5, ge=1)
    """Consecutive failures after which a model is left out for the rest of the run."""
    keep_alive: str = "30m"
    """How long Ollama keeps a model loaded between requests during a run."""
    min_words: int = Field(default=20, ge=1)
    near_duplicate: float = Field(default=0.85, gt=0, le=1)
    weights: dict[str, float] = Field(default_factory=dict)
    """Relative share of each sample type (default: equal)."""
    keep_backups: int = Field(default=3, ge=1, le=100)
    checkpoint_every: timedelta = timedelta(seconds=2)

    @field_validator("timeout", "checkpoint_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("concurrency", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """Backends not named keep their default limit."""
        return {**DEFAULT_CONCURRENCY, **value} if isinstance(value, dict) else value

    @field_validator("concurrency")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        for backend, limit in value.items():
            if backend not in BACKENDS:
                raise ValueError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
            if limit < 1:
                raise ValueError(f"concurrency.{backend} must be at least 1")
        return value

    @field_validator("weights")
    @classmethod
    def _known_types(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if name not in SAMPLE_TYPES:
                raise ValueError(f"unknown sample type {name!r} (one of {', '.join(SAMPLE_TYPES)})")
            if weight < 0:
                raise ValueError(f"weights.{name} cannot be negative")
        return value

    def limit(self, backend: str) -> int:
        return self.concurrency.get(backend, 1)
