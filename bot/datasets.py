"""Building the dataset service from settings: the datasets folder, the vocabulary in the config
folder, the LLM endpoints of ``.env`` and the redactor."""

from __future__ import annotations

from bot.config import Settings
from bot.knowledge import make_redactor
from knowledge.answer import select_provider
from training.datasets import DatasetService, Endpoints


def endpoints(settings: Settings) -> Endpoints:
    """The endpoints, and which backend answers questions: ``llm.provider`` resolved exactly as
    the answerer resolves it (None: the extractive analyst)."""
    env, llm = settings.env, settings.ai.llm
    key = env.OPENAI_API_KEY.get_secret_value() if env.OPENAI_API_KEY else None
    provider = select_provider(llm, env.OLLAMA_HOST, key, env.OPENAI_BASE_URL)
    return Endpoints(
        ollama_host=env.OLLAMA_HOST,
        openai_api_key=key,
        openai_base_url=env.OPENAI_BASE_URL,
        local_model=llm.local_model,
        answering_backend=provider.name if provider is not None else None,
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
