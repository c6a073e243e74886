"""The model registry: versioned anomaly models under ``VIGIL_DATA_DIR/models/``.

Layout::

    models/
      v0001/  model.txt  model.json  meta.json     (one folder per version)
      v0002/  ...
      promoted.json                                {version, promoted_at}
      .tmp-<uuid>/                                 a version being written (never listed)

A version is written into ``.tmp-<uuid>/`` and renamed into place only when complete, so a crash
(kill -9) during ``add`` never leaves a half-written folder that looks like a version.
``promoted.json`` is replaced atomically. ``PromotedModel`` gives the running bot the promoted
model and picks up a newly promoted one without a restart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from knowledge.statefile import fsync_dir, read_json, write_json_atomic

if TYPE_CHECKING:
    from training.model import AnomalyModel

log = logging.getLogger(__name__)

MODELS_DIR = "models"
META_FILE = "meta.json"
PROMOTED_FILE = "promoted.json"
_VERSION = re.compile(r"^v(\d{4,})$")


class UnknownModel(KeyError):
    """No valid model of that version in the registry. ``str()`` is one line listing versions."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown model"


@dataclass(frozen=True)
class ModelInfo:
    """What ``meta.json`` says about one version, plus whether it is the promoted one."""

    version: str
    created: datetime
    threshold: float
    metrics: dict[str, Any]
    data_hash: str
    trained_on: str
    features: list[str]
    promoted: bool = False
    seed: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    path: Path = field(default=Path("."), compare=False)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["created"] = self.created.isoformat()
        data["path"] = str(self.path)
        return data


def data_hash(data: pd.DataFrame | bytes) -> str:
    """A short fingerprint of training data: sha256 of its canonical CSV bytes, 16 hex digits."""
    if isinstance(data, pd.DataFrame):
        data = data.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def version_number(version: str) -> int | None:
    """``v0012`` -> 12; None for anything that is not a version name."""
    match = _VERSION.match(version)
    return int(match.group(1)) if match else None


class ModelRegistry:
    """Versioned models in ``root`` (normally ``VIGIL_DATA_DIR/models``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> ModelRegistry:
        """The registry of a Vigil data folder: ``data_dir/models``."""
        return cls(Path(data_dir) / MODELS_DIR)

    # ------------------------------------------------------------------ writing

    def add(
        self, model: AnomalyModel, *, metrics: dict[str, Any], data_hash: str, trained_on: str
    ) -> str:
        """Save ``model`` as the next free version and return its name (``v0001``, ...)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep()
        tmp = self.root / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            model.save(tmp)
            with self._lock:
                version = self._claim(tmp, model, metrics, data_hash, trained_on)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.debug("model %s added to %s", version, self.root)
        return version

    def _claim(
        self,
        tmp: Path,
        model: AnomalyModel,
        metrics: dict[str, Any],
        hash_: str,
        trained_on: str,
    ) -> str:
        """Write meta.json for the next free number and rename ``tmp`` into place; retries on a
        number another process took meanwhile."""
        for _ in range(100):
            version = f"v{self._next_number():04d}"
            meta = _meta(version, model, metrics, hash_, trained_on)
            _write_synced(tmp / META_FILE, json.dumps(meta, indent=1, sort_keys=True, default=str))
            _fsync_tree(tmp)
            target = self.root / version
            if target.exists():
                continue
            try:
                os.rename(tmp, target)
            except OSError:
                if target.exists():  # taken by another writer between the check and the rename
                    continue
                raise
            fsync_dir(self.root)
            return version
        raise RuntimeError(f"could not find a free version number in {self.root}")

    def _sweep(self, older_than_s: float = 3600.0) -> None:
        """Remove what crashed ``add`` calls left behind (``.tmp-*`` folders over an hour old)."""
        cutoff = time.time() - older_than_s
        for path in self.root.glob(".tmp-*"):
            try:
                if path.is_dir() and path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue

    def _next_number(self) -> int:
        numbers = [version_number(p.name) for p in self._folders()]
        return max((n for n in numbers if n is not None), default=0) + 1

    def promote(self, version: str) -> ModelInfo:
        """Make ``version`` the model the bot and ``vigil anomaly score`` use."""
        info = self.info(version)
        write_json_atomic(
            self.root / PROMOTED_FILE,
            {"version": info.version, "promoted_at": datetime.now(UTC).isoformat()},
        )
        log.debug("model %s promoted", info.version)
        return dataclasses.replace(info, promoted=True)

    # ------------------------------------------------------------------ reading

    def versions(self) -> list[ModelInfo]:
        """Every valid version, oldest first; a corrupt folder is skipped with a warning."""
        promoted = self.promoted_version()
        infos = []
        for folder in self._folders():
            try:
                infos.append(_read_info(folder, promoted))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("model folder %s is not a valid model (%s); skipped", folder, exc)
        return infos

    def info(self, version: str) -> ModelInfo:
        """The metadata of ``version``; ``UnknownModel`` when there is no valid such version."""
        folder = self.root / version
        if version_number(version) is None or not folder.is_dir():
            raise UnknownModel(self._unknown(version))
        try:
            return _read_info(folder, self.promoted_version())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UnknownModel(f"model {version} is corrupt ({exc}); train a new one") from None

    def load(self, version: str) -> AnomalyModel:
        """The model of ``version``."""
        from training.model import AnomalyModel

        return AnomalyModel.load(self.info(version).path)

    def promoted_version(self) -> str | None:
        """The promoted version as recorded in ``promoted.json``; None when none is."""
        record = self._promoted_record()
        return record[0] if record else None

    def load_promoted(self) -> AnomalyModel | None:
        """The promoted model; None when none is promoted. A promoted version that is missing or
        corrupt raises ``UnknownModel``."""
        version = self.promoted_version()
        return None if version is None else self.load(version)

    def _promoted_record(self) -> tuple[str, str] | None:
        raw = read_json(self.root / PROMOTED_FILE, None)
        if not isinstance(raw, dict) or not isinstance(raw.get("version"), str):
            return None
        return raw["version"], str(raw.get("promoted_at", ""))

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        folders = [p for p in self.root.iterdir() if p.is_dir() and version_number(p.name)]
        return sorted(folders, key=lambda p: version_number(p.name) or 0)

    def _unknown(self, version: str) -> str:
        known = [info.version for info in self.versions()]
        listed = ", ".join(known) if known else "none yet (run `vigil model train`)"
        return f"no model {version!r} in {self.root}; versions: {listed}"


class PromotedModel:
    """A callable giving the promoted model (or None), for long-running code such as the alerts
    job. It re-reads ``promoted.json`` at most every ``check_every`` seconds and loads the new
    version when it changed: a promotion takes effect without a restart. A failed load keeps the
    previous model and logs one line (once per promotion)."""

    def __init__(
        self,
        registry: ModelRegistry,
        check_every: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.check_every = check_every
        self._clock = clock
        self._lock = threading.Lock()
        self._model: AnomalyModel | None = None
        self._current: tuple[str, str] | None = None  # (version, promoted_at) loaded
        self._failed: tuple[str, str] | None = None
        self._checked: float | None = None

    @property
    def version(self) -> str | None:
        """The version of the model returned now."""
        return self._current[0] if self._current else None

    def __call__(self) -> AnomalyModel | None:
        with self._lock:
            now = self._clock()
            if self._checked is None or now - self._checked >= self.check_every:
                self._checked = now
                self._refresh()
            return self._model

    def _refresh(self) -> None:
        record = self.registry._promoted_record()
        if record is None:
            self._model, self._current = None, None
            return
        if self._current is not None and record[0] == self._current[0]:
            return
        if record == self._failed:
            return
        try:
            model = self.registry.load(record[0])
        except Exception as exc:  # any failure keeps the running model
            self._failed = record
            kept = self.version or "none"
            log.warning("could not load promoted model %s (%s); keeping %s", record[0], exc, kept)
            return
        if self._current is not None:
            log.info("promoted model changed: %s -> %s", self._current[0], record[0])
        self._model, self._current, self._failed = model, record, None


# ---------------------------------------------------------------------- helpers


def _meta(
    version: str, model: AnomalyModel, metrics: dict[str, Any], hash_: str, trained_on: str
) -> dict[str, Any]:
    metadata = dict(getattr(model, "metadata", {}) or {})
    return {
        "version": version,
        "created": datetime.now(UTC).isoformat(),
        "features": list(metadata.get("features", [])),
        "data_hash": hash_,
        "metrics": _jsonable(metrics),
        "threshold": float(model.threshold),
        "trained_on": trained_on,
        "seed": metadata.get("seed"),
        "config": _jsonable(_config_of(model, metadata)),
    }


def _config_of(model: AnomalyModel, metadata: dict[str, Any]) -> Any:
    config = getattr(model, "config", None)
    if config is None:
        return metadata.get("config", {})
    if hasattr(config, "model_dump"):
        return config.model_dump(mode="json")
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return config


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and other odd types turned into plain JSON values."""
    return json.loads(json.dumps(value, default=_plain))


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _read_info(folder: Path, promoted: str | None) -> ModelInfo:
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError(f"{META_FILE} is not an object")
    if meta.get("version") != folder.name:
        raise ValueError(f"{META_FILE} names version {meta.get('version')!r}")
    missing = [n for n in ("model.txt", "model.json") if not (folder / n).is_file()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    created = datetime.fromisoformat(str(meta["created"]))
    return ModelInfo(
        version=folder.name,
        created=created if created.tzinfo else created.replace(tzinfo=UTC),
        threshold=float(meta["threshold"]),
        metrics=dict(meta.get("metrics") or {}),
        data_hash=str(meta.get("data_hash", "")),
        trained_on=str(meta.get("trained_on", "")),
        features=[str(f) for f in meta.get("features") or []],
        promoted=folder.name == promoted,
        seed=meta.get("seed"),
        config=dict(meta.get("config") or {}),
        path=folder,
    )


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(folder)
