"""Prometheus: metric windows as documents, firing alerts and rule states, numeric frames for the
anomaly job. (Being built: see issue 4.)"""

from __future__ import annotations

from datetime import datetime

from knowledge.sources.base import Fetch, Source, SourceConfig


class PrometheusConfig(SourceConfig):
    url: str | None = None
    """``PROMETHEUS_URL`` from the environment fills this in."""


class PrometheusSource(Source):
    kind = "prometheus"
    Config = PrometheusConfig

    def configured(self) -> bool:
        return bool(getattr(self.config, "url", None))

    def health(self) -> tuple[bool, str]:
        return False, "not built yet"

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        return Fetch.error("not built yet")
