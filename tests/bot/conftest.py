"""Fixtures of the CLI tests that run ``vigil`` in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowledge.embeddings import Embedder

ENDPOINTS = (
    "OLLAMA_HOST", "OPENAI_API_KEY", "OPENAI_BASE_URL",
    "PROMETHEUS_URL", "ELASTICSEARCH_URL", "JAEGER_URL",
)  # fmt: skip


@pytest.fixture
def cli(
    config_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    embedder: Embedder,
) -> CliRunner:
    """A runner for ``bot.cli.app`` in-process (the embedding model is loaded once per session)
    with this test's data and config folders and no endpoint from the caller's environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VIGIL_CONFIG_DIR", str(config_dir))
    for key in ENDPOINTS:
        monkeypatch.delenv(key, raising=False)
    return CliRunner()
