"""Where the training datasets live (``VIGIL_DATA_DIR/datasets``) and the names every part of
dataset generation, export and fine-tuning shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SAMPLE_TYPES: tuple[str, ...] = (
    "technical_explanation",
    "error_troubleshooting",
    "conversation",
    "personality_response",
    "question_style_variation",
    "english_pattern",
    "project_management",
    "banking_scenario",
    "metrics_explanation",
)
"""The language sample types the generator makes, one per vocabulary source."""

INCIDENT_TYPE = "incident_analysis"
"""Samples made from the team's incidents by ``vigil dataset from-incidents``."""


@dataclass(frozen=True)
class DatasetPaths:
    """The files of one datasets folder."""

    root: Path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> DatasetPaths:
        return cls(Path(data_dir) / "datasets")

    @property
    def language(self) -> Path:
        return self.root / "language_dataset.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics_dataset.json"

    @property
    def incidents(self) -> Path:
        return self.root / "incidents_dataset.json"

    @property
    def progress(self) -> Path:
        return self.root / "generation_progress.json"

    @property
    def journal(self) -> Path:
        """Language samples appended as they complete, folded into the dataset at checkpoints."""
        return self.root / "language_dataset.journal"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def logs(self) -> Path:
        return self.root / "generation_logs"
