"""Tokens used per provider and model, process-wide: what ``/metrics`` reports as LLM usage.

Every provider passes its ``Completion`` through ``USAGE.record`` before returning it, so
answers, summaries and dataset generation are all counted, whoever called.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from knowledge.llm.base import Completion


@dataclass
class ModelUsage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_calls: int = 0


class UsageMeter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage: dict[tuple[str, str], ModelUsage] = {}

    def record(self, provider: str, completion: Completion) -> Completion:
        with self._lock:
            usage = self._usage.setdefault((provider, completion.model), ModelUsage())
            usage.calls += 1
            usage.prompt_tokens += completion.prompt_tokens
            usage.completion_tokens += completion.completion_tokens
            usage.estimated_calls += int(completion.estimated)
        return completion

    def snapshot(self) -> dict[tuple[str, str], ModelUsage]:
        """``(provider, model)`` -> a copy of its counts."""
        with self._lock:
            return {key: ModelUsage(**vars(value)) for key, value in self._usage.items()}


USAGE = UsageMeter()
