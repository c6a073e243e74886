"""Building the knowledge engine from settings: the store, the retriever and the answerer."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.config import EnvSettings, Settings
from knowledge.answer import Answerer, select_provider
from knowledge.embeddings import Embedder
from knowledge.redaction import Redactor
from knowledge.retrieval import Retriever
from knowledge.store import STORE_DIR, KnowledgeStore, is_remote

log = logging.getLogger(__name__)


def make_redactor(settings: Settings) -> Redactor:
    privacy = settings.ai.privacy
    return Redactor(
        redact_emails=privacy.redact_emails,
        redact_ips=privacy.redact_ips,
        extra_patterns=privacy.extra_patterns,
        known_secrets=settings.env.secret_values(),
    )


def runbooks_dir(settings: Settings) -> Path:
    """``knowledge.runbooks_dir``, relative to the config folder unless absolute."""
    folder = Path(settings.ai.knowledge.runbooks_dir)
    return folder if folder.is_absolute() else settings.config_dir / folder


def store_location(settings: Settings) -> str:
    """``VIGIL_LANCEDB_URI`` (a folder or an object-store URI), else ``VIGIL_DATA_DIR/lancedb``."""
    uri = settings.env.VIGIL_LANCEDB_URI
    if uri:
        return uri
    return str(Path(settings.data_dir) / STORE_DIR)


def store_present(settings: Settings) -> bool:
    """Whether there may be a store to read: its folder exists, or it is on object storage
    (only opening it tells)."""
    location = store_location(settings)
    if is_remote(location):
        return True
    folder = location.removeprefix("file://")
    return Path(folder).expanduser().is_dir()


def storage_options(env: EnvSettings, location: str) -> dict[str, str]:
    """LanceDB ``storage_options`` for ``location``: for ``s3://``, the ``AWS_*`` settings (from
    ``.env`` as well as the environment), ``allow_http`` for an ``http://`` endpoint. Other
    object stores read their credentials from the process environment."""
    if not location.lower().startswith(("s3://", "s3+ddb://")):
        return {}
    options: dict[str, str] = {}
    if env.AWS_ACCESS_KEY_ID:
        options["aws_access_key_id"] = env.AWS_ACCESS_KEY_ID
    if env.AWS_SECRET_ACCESS_KEY:
        options["aws_secret_access_key"] = env.AWS_SECRET_ACCESS_KEY.get_secret_value()
    if env.AWS_SESSION_TOKEN:
        options["aws_session_token"] = env.AWS_SESSION_TOKEN.get_secret_value()
    if env.AWS_REGION:
        options["aws_region"] = env.AWS_REGION
    if env.AWS_ENDPOINT_URL:
        options["aws_endpoint"] = env.AWS_ENDPOINT_URL
        if env.AWS_ENDPOINT_URL.startswith("http://"):
            options["allow_http"] = "true"
    return options


def open_store(settings: Settings, embedder: Embedder | None = None) -> KnowledgeStore:
    """The knowledge store at ``VIGIL_LANCEDB_URI`` (default ``VIGIL_DATA_DIR/lancedb``); raises
    ``StoreError`` if it is unreadable or unreachable."""
    config = settings.ai.knowledge
    embedder = embedder or Embedder(config.embedding_model or None)
    location = store_location(settings)
    return KnowledgeStore.at(
        location,
        embedder,
        storage_options=storage_options(settings.env, location),
        vector_index_min_rows=config.vector_index_min_rows,
        retention={source: config.retention_of(source) for source in config.retention},
    )


def build_answerer(
    settings: Settings, redactor: Redactor, store: KnowledgeStore | None
) -> Answerer:
    """The answerer with the configured provider; ``store=None`` answers from live evidence."""
    env = settings.env
    provider = select_provider(
        settings.ai.llm,
        env.OLLAMA_HOST,
        env.OPENAI_API_KEY.get_secret_value() if env.OPENAI_API_KEY else None,
        env.OPENAI_BASE_URL,
    )
    context = settings.ai.knowledge.context
    retriever = None
    if store is not None:
        budget = {k: v for k, v in context.per_source.items() if k != "live"}
        retriever = Retriever(store, budget=budget)
    return Answerer(
        retriever,
        settings.ai.analysis,
        settings.ai.prompts,
        settings.ai.llm,
        settings.ai.privacy,
        redactor,
        provider=provider,
        max_context_tokens=context.max_tokens,
        live_budget=context.per_source.get("live", 6),
    )
