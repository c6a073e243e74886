"""``summarize`` and ``incidents``: incident thread summaries and the incidents Vigil remembers.

``summarize`` (mentioned inside a thread) reads the thread through ``req.history``, summarises
it (``knowledge.incidents``: extractive, or staged through the LLM when one is configured),
replies with the summary (the front posts it in the thread) and remembers it as an incident.
``incidents [QUERY]`` lists the remembered incidents, most recent first, or those matching QUERY.
"""

from __future__ import annotations

import asyncio
import logging
import re

from handlers.deps import Deps
from handlers.registry import Command
from handlers.types import ChatRequest, Context, Fields, Part, Reply, Section, Table, ThreadMessage
from knowledge.errors import VigilError
from knowledge.incident_extract import is_own_summary
from knowledge.incidents import IncidentMemory, IncidentSummary, Remembered, Summarizer

log = logging.getLogger(__name__)

NOT_IN_THREAD = (
    "summarize works inside a thread: mention me there with `summarize`, or run "
    "`vigil summarize THREAD.json`."
)
TOO_SHORT = "This thread has too few messages to summarise ({count}); I need at least {least}."
NO_MEMORY = (
    "I don't remember any incidents yet: `summarize` an incident thread and I will "
    "(I need the knowledge store for that)."
)
NOTHING_MATCHES = "No remembered incident matches {query!r}. `incidents` lists the recent ones."
HISTORY_FAILED = "I couldn't read this thread's messages: {reason}"
NO_HISTORY = (
    "the platform returned none (can I read this channel's history? Or run "
    "`vigil summarize THREAD.json` on an export)"
)
FROM_RECORDS = "The knowledge store is not available: these come from incidents.json."
MIN_MESSAGES = 3
LIST_LIMIT = 10
_OWN_COMMAND = re.compile(
    r"^\s*(?:<@!?[\w-]+>|@?vigil\b)?[\s,:]*/?(?:vigil\s+)?summari[sz]e\b", re.I
)


def memory_of(deps: Deps) -> IncidentMemory | None:
    """Where incidents are remembered: ``deps.incident_memory`` when the app sets one (store
    and incidents.json), else the answerer's store alone."""
    if deps.incident_memory is not None:
        return deps.incident_memory
    retriever = deps.answerer.retriever
    return IncidentMemory(retriever.store, None, deps.redactor) if retriever else None


def to_reply(summary: IncidentSummary, remembered: Remembered | None = None) -> Reply:
    """The summary as a reply: fields, impact, a timeline table, the suspected root cause with
    evidence citations, actions, open questions and a footer."""
    parts: list[Part] = [
        Fields(
            (
                ("Services", ", ".join(summary.services) or "unknown"),
                ("Hosts", ", ".join(summary.hosts) or "unknown"),
                ("Window", f"{summary.start:%Y-%m-%d %H:%M}–{summary.end:%H:%M} UTC"),
                ("Duration", summary.duration_text()),
                ("People", ", ".join(summary.participants)),
            )
        )
    ]
    if summary.impact:
        parts.append(Section("\n".join(f"- {line}" for line in summary.impact), "Impact"))
    if summary.timeline:
        rows = tuple((f"{e.at:%H:%M}", e.who, e.what) for e in summary.timeline)
        parts.append(Table(("Time", "Who", "What"), rows))
    cause = summary.root_cause or "Not established in the thread."
    if summary.root_cause_by is not None:
        by = summary.root_cause_by
        cause += f" (said by {by.who} at {by.at:%H:%M})"
    if summary.evidence:
        cause += "\nEvidence from the same window:\n" + "\n".join(summary.citations())
    parts.append(Section(cause, "Root cause (suspected)"))
    actions = [f"- {e.at:%H:%M} {e.who}: {e.what}" for e in summary.actions]
    parts.append(Section("\n".join(actions) or "No actions were recorded.", "Actions"))
    questions = [
        f"- {q.text} ({'owner: ' + q.owner if q.owner else 'no owner yet'})"
        for q in summary.questions
    ]
    parts.append(Section("\n".join(questions) or "None.", "Open questions"))
    footer = f"{summary.id} · {summary.messages} messages · summarised by {summary.provider}"
    if remembered is not None and remembered.stored:
        footer += f" · remembered as {remembered.id}: `incidents` lists it, `ask` finds it"
    elif remembered is not None and remembered.record in ("added", "updated", "unchanged"):
        footer += f" · remembered as {remembered.id} in incidents.json: `incidents` lists it"
    parts += [Context(footer), *(Context(f"Note: {n}") for n in summary.notes)]
    headline = (
        f"Incident summary: {summary.title} ({summary.start:%H:%M}–{summary.end:%H:%M} UTC, "
        f"{summary.duration_text()})"
    )
    return Reply(headline, parts=tuple(parts))


def thread_messages(messages: list[ThreadMessage]) -> list[ThreadMessage]:
    """The thread without the requests to summarise it and Vigil's earlier summaries."""
    return [
        m for m in messages if not _OWN_COMMAND.match(m.text) and not is_own_summary(m.user, m.text)
    ]


async def summarize(req: ChatRequest, deps: Deps) -> Reply:
    if req.history is None:
        return Reply(NOT_IN_THREAD, ephemeral=True)
    try:
        history = await req.history()
    except Exception as exc:  # a platform error: say so, in one line
        log.warning("summarize: reading the thread failed: %s: %s", type(exc).__name__, exc)
        return Reply(HISTORY_FAILED.format(reason=type(exc).__name__), ephemeral=True, error=True)
    if not history:  # the loaders return [] (and log why) when the platform refuses
        return Reply(HISTORY_FAILED.format(reason=NO_HISTORY), ephemeral=True, error=True)
    messages = thread_messages(history)
    if len(messages) < MIN_MESSAGES:
        return Reply(TOO_SHORT.format(count=len(messages), least=MIN_MESSAGES), ephemeral=True)
    summarizer = Summarizer.from_answerer(deps.answerer)
    summary = await asyncio.to_thread(summarizer.summarize, messages, req.channel)
    memory = memory_of(deps)
    remembered = None
    if memory is not None:
        try:
            remembered = await asyncio.to_thread(memory.remember, summary)
        except VigilError as exc:
            log.warning("summarize: could not remember %s: %s", summary.id, exc)
            summary.notes.append(f"It could not be remembered: {exc}")
    if remembered is not None and remembered.problem:
        summary.notes.append(f"It could not be fully remembered: {remembered.problem}")
    if remembered is not None and remembered.record.startswith("skipped: "):
        why = remembered.record.removeprefix("skipped: ")
        summary.notes.append(f"Not added to the training records: {why}.")
    return to_reply(summary, remembered)


async def incidents(req: ChatRequest, deps: Deps) -> Reply:
    memory = memory_of(deps)
    if memory is None:
        return Reply(NO_MEMORY, ephemeral=True)
    query = req.args.strip()
    try:
        if query:
            docs = await asyncio.to_thread(memory.search, query, LIST_LIMIT)
        else:
            docs = await asyncio.to_thread(memory.recent, LIST_LIMIT)
    except VigilError as exc:
        return Reply(f"I can't read the remembered incidents: {exc}", error=True)
    if not docs:
        return Reply(NOTHING_MATCHES.format(query=query) if query else NO_MEMORY, ephemeral=True)
    notes = (Context(FROM_RECORDS),) if memory.store is None else ()
    rows = tuple(
        (
            d.id,
            f"{d.ts:%Y-%m-%d %H:%M}",
            d.service or "-",
            d.title,
            str(d.payload.get("root_cause") or "")[:80],
        )
        for d in docs
    )
    head = f"{len(docs)} remembered incident(s)" + (f" matching {query!r}" if query else "")
    order = "best match first" if query else "most recent first"
    return Reply(
        f"{head}, {order}.",
        parts=(
            Table(("Id", "Started (UTC)", "Service", "Title", "Root cause"), rows),
            Context("Ask about one: `ask what fixed <title>?`"),
            *notes,
        ),
    )


COMMANDS = (
    Command(
        name="summarize",
        summary="Summarise this incident thread: timeline, impact, root cause, actions, "
        "open questions; and remember it.",
        usage="summarize (inside a thread)",
        handler=summarize,
        aliases=("summarise",),
        examples=("summarize",),
    ),
    Command(
        name="incidents",
        summary="The incidents I remember, most recent first, or those matching a query.",
        usage="incidents [QUERY]",
        handler=incidents,
        examples=("incidents", "incidents payments pool exhaustion"),
    ),
)
