"""Shared fixtures: an isolated data dir and config dir per test, and settings built from them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from knowledge.embeddings import Embedder
from tests.servers.prometheus import prometheus_server  # noqa: F401 (a real Prometheus, per module)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped data_config/, free to edit."""
    target = tmp_path / "data_config"
    shutil.copytree(REPO / "data_config", target)
    return target


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def make_settings(config_dir: Path, data_dir: Path, tmp_path: Path) -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        environ = {"VIGIL_DATA_DIR": str(data_dir), **env}
        return load_settings(config_dir=config_dir, env_file=tmp_path / "none.env", environ=environ)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model registry with the bot's default model promoted, trained once per session."""
    from training.pipeline import split_generated, train_and_register
    from training.registry import ModelRegistry
    from training.simulate import simulate_fleet

    root = tmp_path_factory.mktemp("models")
    fleet = split_generated(simulate_fleet(20_000, seed=0), "generated fleet (tests)")
    train_and_register(ModelRegistry(root), fleet)
    return root


@pytest.fixture
def promoted_model(data_dir: Path, trained_registry: Path) -> Path:
    """This test's data dir holds a promoted anomaly model, so the bot does not train one at
    start (which costs seconds of CPU)."""
    shutil.copytree(trained_registry, data_dir / "models")
    return data_dir / "models"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real embedding model, loaded once for the whole test session (about 5 s)."""
    model = Embedder()
    model.embed(["warm up"])
    return model
