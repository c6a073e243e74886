"""Jaeger source.
(Being built: see issue 4.)"""

from __future__ import annotations

from datetime import datetime

from knowledge.sources.base import Fetch, Source, SourceConfig


class JaegerConfig(SourceConfig):
    url: str | None = None
    """``JAEGER_URL`` from the environment fills this in."""


class JaegerSource(Source):
    kind = "jaeger"
    Config = JaegerConfig

    def configured(self) -> bool:
        return bool(getattr(self.config, "url", None))

    def health(self) -> tuple[bool, str]:
        return False, "not built yet"

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        return Fetch.error("not built yet")
