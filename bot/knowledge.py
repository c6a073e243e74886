"""Building the knowledge engine from settings: the store, the retriever and the answerer."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.config import Settings
from knowledge.answer import Answerer, select_provider
from knowledge.embeddings import Embedder
from knowledge.redaction import Redactor
from knowledge.retrieval import Retriever
from knowledge.store import KnowledgeStore

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


def open_store(settings: Settings, embedder: Embedder | None = None) -> KnowledgeStore:
    """The knowledge store under ``VIGIL_DATA_DIR``; raises ``StoreError`` if it is unreadable."""
    config = settings.ai.knowledge
    embedder = embedder or Embedder(config.embedding_model or None)
    return KnowledgeStore.open(
        Path(settings.data_dir),
        embedder,
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
