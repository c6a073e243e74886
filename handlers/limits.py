"""Limits on what one person can ask of the bot: message length and request rate.

A token bucket per (platform, user): ``burst`` requests at once, refilled at ``requests`` per
``per``. Local platforms (terminal, CLI, scheduler) are not limited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import Field, field_validator

from handlers.access import LOCAL_PLATFORMS
from handlers.types import ChatRequest
from knowledge.config import StrictModel
from knowledge.timeparse import parse_duration


class ChatLimits(StrictModel):
    """``chat:`` in ai-config.yml."""

    max_input_chars: int = Field(default=4000, ge=20, le=40_000)
    """Longer messages are refused with their length (a pasted log belongs in a file)."""
    requests: int = Field(default=20, ge=1, le=10_000)
    """Requests per user per ``per``, sustained."""
    per: timedelta = timedelta(minutes=1)
    burst: int = Field(default=8, ge=1, le=10_000)
    """Requests one user may make at once before the rate applies."""

    @field_validator("per", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("per")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 1:
            raise ValueError("expected a duration of 1s or more, such as 1m")
        return value


class RateLimiter:
    """Token buckets per (platform, user); thread-safe. ``check`` returns 0 when the request
    may go, else the seconds until it could."""

    def __init__(self, limits: ChatLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._rate = limits.requests / max(limits.per.total_seconds(), 1e-9)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._told: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def check(self, req: ChatRequest) -> float:
        if req.platform in LOCAL_PLATFORMS:
            return 0.0
        key = (req.platform, req.user)
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.limits.burst), now))
            tokens = min(float(self.limits.burst), tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                self._told.discard(key)
                self._forget_idle(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate

    def first_refusal(self, req: ChatRequest) -> bool:
        """Whether this is the first refusal since the user's last accepted request: a user
        who keeps asking is told once, then ignored until the bucket refills (a platform
        where refusals are public must not echo every message)."""
        key = (req.platform, req.user)
        with self._lock:
            if key in self._told:
                return False
            self._told.add(key)
            return True

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled completely (bounded memory with many users)."""
        if len(self._buckets) < 10_000:
            return
        full = self.limits.burst / self._rate
        for key, (_, last) in list(self._buckets.items()):
            if now - last > full:
                del self._buckets[key]
                self._told.discard(key)
