"""Building the dataset service from settings: the datasets folder, the vocabulary in the config
folder, the LLM endpoints of ``.env`` and the redactor."""

from __future__ import annotations

from bot.config import Settings
from bot.knowledge import make_redactor
from training.datasets import DatasetService, Endpoints


def endpoints(settings: Settings) -> Endpoints:
    """The endpoints, and which backend answers questions (``llm.provider`` resolved as the
    answerer resolves it: ``auto`` is Ollama, else OpenAI, else a local model, else none)."""
    env, llm = settings.env, settings.ai.llm
    key = env.OPENAI_API_KEY.get_secret_value() if env.OPENAI_API_KEY else None
    local_model = str(getattr(llm, "local_model", "") or "")
    backend: str | None = llm.provider
    if backend == "auto":
        if env.OLLAMA_HOST:
            backend = "ollama"
        elif key or env.OPENAI_BASE_URL:
            backend = "openai"
        elif local_model:
            backend = "transformers"
        else:
            backend = None
    elif backend == "extractive":
        backend = None
    return Endpoints(
        ollama_host=env.OLLAMA_HOST,
        openai_api_key=key,
        openai_base_url=env.OPENAI_BASE_URL,
        local_model=local_model,
        answering_backend=backend,
        answering_models=tuple(dict.fromkeys(llm.models.values())),
        privacy=settings.ai.privacy.external_llm,
    )


def dataset_service(settings: Settings) -> DatasetService:
    return DatasetService(
        settings.data_dir,
        settings.config_dir,
        settings.ai.datasets,
        endpoints(settings),
        make_redactor(settings),
    )
