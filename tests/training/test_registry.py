"""The model registry: versions on disk, promotion, and hot reload of the promoted model."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from training.model import AnomalyModel, ModelConfig
from training.registry import (
    ModelRegistry,
    PromotedModel,
    UnknownModel,
    data_hash,
)

REPO = Path(__file__).resolve().parents[2]


def _frame(seed: int, rows: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "cpu": 50 + 5 * rng.normal(size=rows),
            "memory": 30 + 2 * rng.normal(size=rows),
            "latency": 100 + 10 * rng.normal(size=rows),
        }
    )


@pytest.fixture(scope="module")
def models() -> tuple[AnomalyModel, AnomalyModel]:
    """Two different real models (trained once for the module)."""
    config = ModelConfig.model_validate({"n_estimators": 40, "windows": (1, 5, 30)})
    first = AnomalyModel.train(_frame(1), config)
    second = AnomalyModel.train(_frame(2), config.model_copy(update={"seed": 7}))
    return first, second


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry.in_data_dir(tmp_path / "var")


def _add(registry: ModelRegistry, model: AnomalyModel, note: str = "test") -> str:
    return registry.add(model, metrics={"f1": 0.5}, data_hash="abc", trained_on=note)


def test_add_writes_numbered_versions_with_metadata(
    registry: ModelRegistry, models: tuple[AnomalyModel, AnomalyModel]
) -> None:
    first = registry.add(
        models[0],
        metrics={"detection": {"f1": np.float64(0.75)}},
        data_hash="0123456789abcdef",
        trained_on="three columns",
    )
    second = _add(registry, models[1])
    assert (first, second) == ("v0001", "v0002")
    folder = registry.root / "v0001"
    assert {p.name for p in folder.iterdir()} >= {"model.txt", "model.json", "meta.json"}
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["version"] == "v0001"
    assert meta["threshold"] == pytest.approx(models[0].threshold)
    assert meta["metrics"] == {"detection": {"f1": 0.75}}
    assert meta["features"] == models[0].metadata["features"]
    assert meta["config"]["n_estimators"] == 40
    info = registry.info("v0001")
    assert info.data_hash == "0123456789abcdef"
    assert info.trained_on == "three columns"
    assert info.created.tzinfo is not None
    assert [i.version for i in registry.versions()] == ["v0001", "v0002"]
    assert not list(registry.root.glob(".tmp-*"))


def test_load_gives_back_the_same_model(
    registry: ModelRegistry, models: tuple[AnomalyModel, AnomalyModel]
) -> None:
    version = _add(registry, models[0])
    loaded = registry.load(version)
    frame = _frame(9, rows=400)
    assert loaded.threshold == pytest.approx(models[0].threshold)
    np.testing.assert_allclose(loaded.score(frame).score, models[0].score(frame).score)


def test_promote_marks_one_version(
    registry: ModelRegistry, models: tuple[AnomalyModel, AnomalyModel]
) -> None:
    assert registry.promoted_version() is None
    assert registry.load_promoted() is None
    _add(registry, models[0])
    _add(registry, models[1])
    registry.promote("v0002")
    assert registry.promoted_version() == "v0002"
    assert [i.promoted for i in registry.versions()] == [False, True]
    promoted = registry.load_promoted()
    assert promoted is not None
    assert promoted.threshold == pytest.approx(models[1].threshold)
    record = json.loads((registry.root / "promoted.json").read_text())
    assert record["version"] == "v0002" and record["promoted_at"]


def test_unknown_version_is_a_one_line_key_error_listing_versions(
    registry: ModelRegistry, models: tuple[AnomalyModel, AnomalyModel]
) -> None:
    with pytest.raises(UnknownModel) as empty:
        registry.load("v0001")
    assert "vigil model train" in str(empty.value)
    _add(registry, models[0])
    for call in (registry.info, registry.load, registry.promote):
        with pytest.raises(KeyError) as caught:
            call("v0042")
        message = str(caught.value)
        assert "v0042" in message and "v0001" in message and "\n" not in message
    assert registry.promoted_version() is None


def test_corrupt_versions_are_skipped_with_a_warning(
    registry: ModelRegistry,
    models: tuple[AnomalyModel, AnomalyModel],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _add(registry, models[0])
    _add(registry, models[1])
    (registry.root / "v0001" / "meta.json").write_text("{not json")
    (registry.root / "v0003").mkdir()  # a folder without any files
    with caplog.at_level(logging.WARNING, logger="training.registry"):
        listed = registry.versions()
    assert [i.version for i in listed] == ["v0002"]
    assert "v0001" in caplog.text and "v0003" in caplog.text
    with pytest.raises(UnknownModel, match="corrupt"):
        registry.load("v0001")
    # numbering never reuses a taken folder name, valid or not
    assert _add(registry, models[0]) == "v0004"


def test_a_version_killed_mid_write_never_appears(
    registry: ModelRegistry, models: tuple[AnomalyModel, AnomalyModel], tmp_path: Path
) -> None:
    _add(registry, models[0])
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from training.registry import ModelRegistry

        class HalfWritten:
            threshold = 1.0
            metadata = {{}}
            def save(self, directory: Path) -> None:
                (directory / "model.txt").write_text("tree")
                (directory / "model.json").write_text("{{}}")
                os.kill(os.getpid(), signal.SIGKILL)

        ModelRegistry(Path({str(registry.root)!r})).add(
            HalfWritten(), metrics={{}}, data_hash="x", trained_on="killed"
        )
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    leftovers = list(registry.root.glob(".tmp-*"))
    assert len(leftovers) == 1 and (leftovers[0] / "model.txt").exists()
    assert [i.version for i in registry.versions()] == ["v0001"]
    with pytest.raises(UnknownModel):
        registry.info(leftovers[0].name)
    assert _add(registry, models[1]) == "v0002"
    # leftovers older than an hour are swept by the next add
    os.utime(leftovers[0], (0, 0))
    _add(registry, models[1])
    assert not leftovers[0].exists()


def test_a_failed_save_leaves_nothing_behind(registry: ModelRegistry) -> None:
    class Broken:
        threshold = 1.0
        metadata: ClassVar[dict[str, object]] = {}

        def save(self, directory: Path) -> None:
            (directory / "model.txt").write_text("partial")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.add(Broken(), metrics={}, data_hash="x", trained_on="x")  # type: ignore[arg-type]
    assert list(registry.root.iterdir()) == []


def test_promoted_model_reloads_without_restart(
    registry: ModelRegistry, models: tuple[AnomalyModel, AnomalyModel]
) -> None:
    current = PromotedModel(registry, check_every=0)
    assert current() is None
    _add(registry, models[0])
    _add(registry, models[1])
    registry.promote("v0001")
    first = current()
    assert first is not None and current.version == "v0001"
    assert current() is first  # unchanged promotion: no reload
    registry.promote("v0002")
    second = current()
    assert current.version == "v0002"
    assert second is not None and second.threshold == pytest.approx(models[1].threshold)


def test_promoted_model_checks_at_most_every_interval(
    registry: ModelRegistry, models: tuple[AnomalyModel, AnomalyModel]
) -> None:
    now = [100.0]
    current = PromotedModel(registry, check_every=5.0, clock=lambda: now[0])
    _add(registry, models[0])
    _add(registry, models[1])
    registry.promote("v0001")
    assert current.version is None and current() is not None
    registry.promote("v0002")
    now[0] += 4.0
    current()
    assert current.version == "v0001"
    now[0] += 1.0
    current()
    assert current.version == "v0002"


def test_a_failed_reload_keeps_the_previous_model(
    registry: ModelRegistry,
    models: tuple[AnomalyModel, AnomalyModel],
    caplog: pytest.LogCaptureFixture,
) -> None:
    current = PromotedModel(registry, check_every=0)
    _add(registry, models[0])
    _add(registry, models[1])
    registry.promote("v0001")
    first = current()
    (registry.root / "v0002" / "model.txt").write_text("not a LightGBM model")
    registry.promote("v0002")
    with caplog.at_level(logging.WARNING, logger="training.registry"):
        assert current() is first
        assert current() is first
    warnings = [r for r in caplog.records if "v0002" in r.getMessage()]
    assert len(warnings) == 1 and "keeping v0001" in warnings[0].getMessage()
    assert current.version == "v0001"


def test_data_hash_is_a_short_stable_fingerprint() -> None:
    frame = _frame(3, rows=50)
    digest = data_hash(frame)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert data_hash(frame.copy()) == digest
    changed = frame.copy()
    changed.iloc[10, 1] += 1.0
    assert data_hash(changed) != digest
    assert data_hash(b"a,b\n1,2\n") != data_hash(b"a,b\n1,3\n")
