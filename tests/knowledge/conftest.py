"""Knowledge fixtures: the real embedding model (loaded once per session) and stores built
from the demo world, the shipped runbooks and the domain notes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from knowledge.config import AnalysisConfig
from knowledge.demo import DemoWorld
from knowledge.demo.incidents import Incident
from knowledge.embeddings import Embedder
from knowledge.ingest import ingest_telemetry, sync_domain, sync_runbooks
from knowledge.redaction import Redactor
from knowledge.store import KnowledgeStore
from tests.conftest import REPO

WORLD_START = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path, embedder: Embedder) -> KnowledgeStore:
    return KnowledgeStore.open(tmp_path / "var", embedder)


@pytest.fixture(scope="session")
def analysis() -> AnalysisConfig:
    from bot.config import load_settings

    settings = load_settings(config_dir=REPO / "data_config", environ={})
    return settings.ai.analysis


@pytest.fixture(scope="session")
def world() -> DemoWorld:
    return DemoWorld(seed=42, start=WORLD_START)


@pytest.fixture(scope="session")
def incident(world: DemoWorld) -> Incident:
    """The first gc_pressure incident on payments: the demo store covers it."""
    return next(i for i in world.incidents() if i.type == "gc_pressure")


@pytest.fixture(scope="session")
def demo_store(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: Embedder,
    world: DemoWorld,
    analysis: AnalysisConfig,
    incident: Incident,
) -> Iterator[KnowledgeStore]:
    """Two hours of the demo world around ``incident``, the runbooks and the domain notes.
    Shared by the tests of a session: do not write to it."""
    kb = KnowledgeStore.open(tmp_path_factory.mktemp("demo-kb"), embedder)
    redact = Redactor().redact
    start = incident.start - timedelta(minutes=60)
    ingest_telemetry(kb, world, analysis, start, incident.end + timedelta(minutes=30), redact)
    sync_runbooks(kb, REPO / "data_config" / "runbooks", redact)
    sync_domain(kb, analysis, redact)
    kb.ensure_indexes()
    yield kb
