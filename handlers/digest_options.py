"""What a digest may include and cover: light enough for ``bot.config`` to import (no plotting,
no store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol, get_args

Include = Literal["alerts", "anomalies", "logs", "baselines", "chart", "attention"]
SECTIONS: tuple[Include, ...] = get_args(Include)
DEFAULT_PERIOD = timedelta(hours=24)
MIN_PERIOD = timedelta(minutes=10)
MAX_PERIOD = timedelta(days=31)


class DigestSettings(Protocol):
    """What a digest needs from its channel's configuration (``bot.digests.DigestConfig``)."""

    @property
    def timezone(self) -> str: ...

    @property
    def include(self) -> tuple[str, ...]: ...

    @property
    def services(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class DigestOptions:
    """The settings of a channel without a configured digest: UTC, everything, every service."""

    timezone: str = "UTC"
    include: tuple[str, ...] = SECTIONS
    services: tuple[str, ...] = ()
