"""Everything a handler may use, passed in explicitly (no globals)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from handlers.alertbook import AlertBook
from handlers.digest_options import DigestSettings
from handlers.routing import AlertRouter
from knowledge.answer import Answerer
from knowledge.config import AnalysisConfig, LLMConfig, PrivacyConfig, PromptsConfig
from knowledge.incidents import IncidentMemory
from knowledge.redaction import Redactor
from knowledge.sources.base import TelemetryReader

if TYPE_CHECKING:
    from training.live import Detection


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    telemetry: TelemetryReader | None = None
    redactor: Redactor = field(default_factory=Redactor)
    alerts: AlertBook = field(default_factory=AlertBook)
    clock: Callable[[], datetime] = _utcnow
    answerer: Answerer = field(
        default_factory=lambda: Answerer(
            None, AnalysisConfig(), PromptsConfig(), LLMConfig(), PrivacyConfig(), Redactor()
        )
    )

    detect: Callable[[datetime], list[Detection]] | None = None
    """The anomaly model's detections at a time (``LiveScorer.detect``); ``None``: no alerts."""
    alert_router: AlertRouter = field(default_factory=AlertRouter)
    """Which channel each alert goes to (``ChannelsConfig.alert_router()``)."""

    digests: Mapping[str, DigestSettings] = field(default_factory=dict)
    """Each channel's configured digest (``ChannelsConfig.digests``), for ``digest`` in chat."""
    incident_memory: IncidentMemory | None = None
    """Where summarised incidents are remembered (the store and incidents.json)."""

    ingestion_status: Callable[[], list[str]] | None = None
    """One line per ingested source (state, lag, throughput); ``None`` without ingestion."""

    def now(self) -> datetime:
        """The current time of the data: the demo world's simulated clock, or the wall clock."""
        return self.telemetry.now() if self.telemetry is not None else self.clock()
