"""The anomaly model in the running bot: the promoted model from the registry (a newly promoted
version is picked up without a restart), and a default model trained on the generated fleet on
first start when nothing is promoted yet."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from training.model import AnomalyModel
from training.pipeline import split_generated, train_and_register
from training.registry import ModelRegistry, PromotedModel
from training.simulate import simulate_fleet

log = logging.getLogger(__name__)

DEFAULT_SAMPLES = 20_000


class ModelService:
    def __init__(self, data_dir: Path, check_every: float = 5.0) -> None:
        self.registry = ModelRegistry.in_data_dir(data_dir)
        self.promoted = PromotedModel(self.registry, check_every)
        self._training: threading.Thread | None = None

    def current(self) -> AnomalyModel | None:
        return self.promoted()

    def ensure(self) -> None:
        """Train and promote the default model when none is promoted (in a thread: the bot
        answers questions meanwhile; alerts start once the model is there)."""
        if self.registry.promoted_version() is not None or self._training is not None:
            return
        self._training = threading.Thread(
            target=self._train_default, name="vigil-model-train", daemon=True
        )
        self._training.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._training is not None:
            self._training.join(timeout)

    def _train_default(self) -> None:
        try:
            fleet = simulate_fleet(DEFAULT_SAMPLES, 0.2, seed=0)
            data = split_generated(fleet, "generated fleet (default, seed 0)")
            trained = train_and_register(self.registry, data)
            log.info(
                "no anomaly model was promoted: trained and promoted %s in %.1f s",
                trained.version,
                trained.seconds,
            )
        except Exception:
            log.exception("could not train the default anomaly model; alerts stay off")
