"""Incident thread summaries and incident memory.

A chat thread about an incident (Slack, Discord, the web console, or an exported file) becomes an
``IncidentSummary``: a timeline with times and people, the impact, the suspected root cause with
evidence from the knowledge store for the same window, the actions taken and by whom, and the
open questions with their owners.

- **Extractive** (always; no LLM): the structure is read from the messages themselves: times
  from their timestamps, actions by their verbs ("rolled back", "restarted", "scaled"...), impact
  by its numbers and words, the root cause from messages that say so (later and confirmed ones
  preferred), questions that nobody answered, follow-ups with owners ("@maria will ...",
  "dan to ...", "TODO").
- **LLM** (when the answerer has a provider): summarised in stages so that every prompt stays
  within the context budget (counted as ``knowledge.prompting`` counts): chunks of messages ->
  notes -> (merged notes) -> a JSON summary in the same structure; fields the LLM leaves out or
  gets wrong fall back to the extractive ones. ``privacy.external_llm: block`` keeps it
  extractive.
- **Memory**: ``IncidentMemory.remember`` upserts the summary as an ``incident`` document (a
  stable id from the thread: channel + first message) and merges its record into
  ``incidents.json`` (the format ``vigil dataset from-incidents`` reads), atomically, by id.

Every message text is redacted before anything else looks at it, so nothing private reaches
the store, the records file, a log line or an LLM.

The model lives in ``knowledge.incident_model``, the extractive rules in
``knowledge.incident_extract``, the staged LLM path in ``knowledge.incident_llm`` and the
evidence search in ``knowledge.incident_evidence``; this module composes them
(``Summarizer``) and keeps the memory, and re-exports the model.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from knowledge.answer import IN_PROCESS_PROVIDERS
from knowledge.config import LLMConfig, PrivacyConfig
from knowledge.documents import Document
from knowledge.errors import ProviderError, VigilError
from knowledge.incident_evidence import find_evidence
from knowledge.incident_extract import extract, prepare
from knowledge.incident_llm import DEADLINE_S, MAX_CALLS, LLMBudgetExceeded, StagedLLM, merge_llm
from knowledge.incident_model import (
    EXTRACTIVE,
    INCIDENTS_FILE,
    MAX_ACTIONS,
    MAX_IMPACT,
    MAX_QUESTIONS,
    MAX_TIMELINE,
    Event,
    IncidentError,
    IncidentSummary,
    Msg,
    Question,
    Remembered,
    ThreadLike,
    incident_id,
)
from knowledge.llm.base import Provider
from knowledge.redaction import Redactor
from knowledge.retrieval import Retriever
from knowledge.statefile import write_json_atomic
from knowledge.store import KnowledgeStore, sql_str

log = logging.getLogger(__name__)

__all__ = [
    "EXTRACTIVE",
    "INCIDENTS_FILE",
    "MAX_ACTIONS",
    "MAX_IMPACT",
    "MAX_QUESTIONS",
    "MAX_TIMELINE",
    "Event",
    "IncidentError",
    "IncidentMemory",
    "IncidentSummary",
    "Msg",
    "Question",
    "Remembered",
    "StagedLLM",
    "Summarizer",
    "ThreadLike",
    "extract",
    "find_evidence",
    "incident_id",
    "merge_record",
]


@dataclass
class Summarizer:
    """Summarises threads: extractive always, refined by an LLM when one is configured."""

    redactor: Redactor = field(default_factory=Redactor)
    retriever: Retriever | None = None
    provider: Provider | None = None
    llm: LLMConfig = field(default_factory=LLMConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    max_tokens: int = 3000
    max_calls: int = MAX_CALLS
    deadline_s: float = DEADLINE_S
    last_run: StagedLLM | None = None

    @classmethod
    def from_answerer(cls, answerer: Any) -> Summarizer:
        """The summariser matching a ``knowledge.answer.Answerer`` (same store, provider,
        privacy and context budget)."""
        return cls(
            redactor=answerer.redactor,
            retriever=answerer.retriever,
            provider=answerer.provider,
            llm=answerer.llm,
            privacy=answerer.privacy,
            max_tokens=answerer.max_context_tokens,
        )

    def known_names(self) -> tuple[set[str], set[str]]:
        """The services and hosts to look for: the store's, else the demo fleet's."""
        if self.retriever is not None:
            try:
                services, hosts = self.retriever.store.names()
                if services or hosts:
                    return services, hosts
            except VigilError as exc:
                log.warning("summarize: cannot read service names from the store: %s", exc)
        from knowledge.demo.topology import HOSTS

        return {s for s, _ in HOSTS}, {h for _, h in HOSTS}

    def summarize(self, messages: Sequence[ThreadLike], channel: str = "") -> IncidentSummary:
        services, hosts = self.known_names()
        summary = extract(messages, self.redactor, channel=channel, services=services,
                          hosts=hosts)  # fmt: skip
        if self.retriever is not None:
            try:
                summary.evidence = find_evidence(self.retriever, summary)
            except VigilError as exc:
                log.warning("summarize: evidence search failed: %s", exc)
                summary.notes.append("The knowledge store could not be searched for evidence.")
        if self.provider is None:
            return summary
        external = self.provider.name not in IN_PROCESS_PROVIDERS
        if external and self.privacy.external_llm == "block":
            summary.notes.append(
                "privacy.external_llm is `block`: nothing was sent to an LLM; the summary is "
                "extractive."
            )
            return summary
        staged = StagedLLM(
            self.provider,
            self.llm.models.get("complex", ""),
            self.max_tokens,
            temperature=self.llm.temperature,
            timeout_s=self.llm.timeout_s,
            max_calls=self.max_calls,
            deadline_s=self.deadline_s,
        )
        self.last_run = staged
        msgs = prepare(messages, self.redactor)
        try:
            data = staged.summarise(msgs, summary.evidence)
        except LLMBudgetExceeded as exc:
            log.warning("summarize: over the LLM budget, keeping the extractive summary: %s", exc)
            summary.notes.append(f"{exc}; the summary is extractive.")
            return summary
        except ProviderError as exc:
            log.warning("summarize: the LLM failed, keeping the extractive summary: %s", exc)
            summary.notes.append(f"{exc}; the summary is extractive.")
            return summary
        if not data:
            summary.notes.append("The LLM's answer was not JSON; the summary is extractive.")
            return summary
        fell_back = merge_llm(summary, data, self.redactor)
        summary.provider = f"{self.provider.name} ({staged.calls} calls)"
        if fell_back:
            summary.notes.append("Extractive fields kept for: " + ", ".join(fell_back) + ".")
        return summary


class IncidentMemory:
    """Where summarised incidents go: the knowledge store (``incident`` documents, so that
    ``ask "has this happened before?"`` finds them) and ``incidents.json`` (a source for
    ``vigil dataset from-incidents``). Either may be ``None``."""

    def __init__(
        self, store: KnowledgeStore | None, records: Path | None, redactor: Redactor
    ) -> None:
        self.store = store
        self.records = records
        self.redactor = redactor

    def remember(self, summary: IncidentSummary) -> Remembered:
        """Upsert the summary into the store and merge its record into incidents.json (unless
        it is unfit for training data: ``record="skipped: why"``). A store failure is reported
        in ``problem`` and the record is still written; a records failure is ``IncidentError``."""
        stored = False
        problem = None
        if self.store is not None:
            from knowledge.ingest import upsert

            try:
                upsert(self.store, "incident", [summary.to_document(self.redactor)],
                       self.redactor.redact)  # fmt: skip
                stored = True
            except VigilError as exc:
                log.warning("incidents: cannot store %s: %s", summary.id, exc)
                problem = f"the knowledge store could not be written ({exc})"
        record = "skipped"
        if self.records is not None:
            gap = summary.record_gap()
            if gap is not None:
                record = f"skipped: {gap}"
            else:
                record = merge_record(self.records, summary.to_incident_record(self.redactor))
        return Remembered(summary.id, stored, record, problem)

    def recent(self, limit: int = 10) -> list[Document]:
        """Remembered incidents, most recent first (from incidents.json when the store is
        missing or cannot be read)."""
        if self.store is not None:
            try:
                return self.store.scan(f"kind = {sql_str('incident')}")[:limit]
            except VigilError as exc:
                log.warning("incidents: the store cannot be read, using the records: %s", exc)
        return sorted(self.from_records(), key=lambda d: d.ts, reverse=True)[:limit]

    def search(self, query: str, limit: int = 5) -> list[Document]:
        """Remembered incidents matching ``query`` (hybrid search), best first (words shared
        with the records in incidents.json when the store is missing or cannot be read)."""
        if self.store is not None:
            try:
                retriever = Retriever(self.store, budget={})
                where = f"kind = {sql_str('incident')}"
                return [h.document for h in retriever.search(query, limit=limit, where=where)]
            except VigilError as exc:
                log.warning("incidents: the store cannot be searched, using the records: %s", exc)
        words = _words(query)
        scored = [(len(words & _words(d.title + " " + d.text)), d) for d in self.from_records()]
        ranked = sorted(
            (sd for sd in scored if sd[0]), key=lambda sd: (-sd[0], -sd[1].ts.timestamp())
        )
        return [d for _, d in ranked[:limit]]

    def from_records(self) -> list[Document]:
        """The records in incidents.json as ``incident`` documents (``[]`` when there is no
        file or it cannot be read)."""
        if self.records is None or not self.records.exists():
            return []
        try:
            raw = json.loads(self.records.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("incidents: cannot read %s: %s", self.records, exc)
            return []
        items = raw.get("incidents") if isinstance(raw, dict) else raw
        docs = []
        for item in items if isinstance(items, list) else []:
            doc = _record_document(item)
            if doc is not None:
                docs.append(doc)
        return docs


def _words(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z][a-z0-9]{2,}", text.lower())}


def _record_document(item: Any) -> Document | None:
    """An incidents.json record as an ``incident`` document (``None`` when it is malformed)."""
    if not isinstance(item, dict) or not item.get("id"):
        return None
    try:
        ts = datetime.fromisoformat(str(item.get("started_at") or ""))
    except ValueError:
        return None
    fields = ("title", "root_cause", "resolution", "metrics", "context")
    return Document(
        id=str(item["id"]),
        source="incident",
        kind="incident",
        text="\n".join(str(item.get(f) or "") for f in fields),
        ts=ts,
        service=str(item.get("service") or "").split(",")[0].strip(),
        host=str(item.get("host") or "").split(",")[0].strip(),
        title=str(item.get("title") or item["id"]),
        payload=dict(item),
    )


def merge_record(path: Path, record: dict[str, Any]) -> str:
    """Add ``record`` to the incidents file at ``path`` or replace the one with its id
    (atomically); returns ``added``, ``updated`` or ``unchanged``. A file that is not a list of
    incidents (or ``{"incidents": [...]}``) is left alone: ``IncidentError``."""
    path = Path(path)
    wrapped = False
    items: list[Any] = []
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IncidentError(f"{path}: cannot read it as JSON ({exc}); left as it is") from None
        wrapped = isinstance(raw, dict) and isinstance(raw.get("incidents"), list)
        items = raw["incidents"] if wrapped else raw
        if not isinstance(items, list):
            raise IncidentError(f"{path}: expected a list of incidents; left as it is")
    at = next((i for i, x in enumerate(items) if isinstance(x, dict) and x.get("id") == record["id"]), None)  # fmt: skip  # noqa: E501
    if at is not None and items[at] == record:
        return "unchanged"
    if at is None:
        items.append(record)
    else:
        items[at] = record
    try:
        write_json_atomic(path, {"incidents": items} if wrapped else items)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise IncidentError(f"{path}: cannot write it ({reason}); not remembered there") from None
    return "added" if at is None else "updated"
