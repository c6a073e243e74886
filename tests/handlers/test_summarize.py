"""``summarize`` (inside a thread) and ``incidents``: through the router, with the real store."""

from __future__ import annotations

from pathlib import Path

from bot.summarize import load_thread
from handlers import summarize
from handlers.deps import Deps
from handlers.registry import default_registry
from handlers.router import Router
from handlers.types import ChatRequest, Reply, Section, Table, ThreadMessage
from knowledge.answer import Answerer
from knowledge.config import AnalysisConfig, LLMConfig, PrivacyConfig, PromptsConfig
from knowledge.embeddings import Embedder
from knowledge.incidents import IncidentMemory
from knowledge.redaction import Redactor
from knowledge.retrieval import Retriever
from knowledge.store import KnowledgeStore
from tests.conftest import REPO
from training.incidents import load_incidents

THREAD = load_thread(REPO / "tests" / "data" / "incident_thread.json")
ROUTER = Router(default_registry())


def in_thread(messages: list[ThreadMessage], text: str = "summarize") -> ChatRequest:
    asked = ThreadMessage("carol", messages[-1].ts, f"<@U0VIGIL> {text}")

    async def history() -> list[ThreadMessage]:
        return [*messages, asked]

    return ChatRequest(text, user="carol", channel="incidents", platform="slack",
                       thread_id="1795267990.000100", history=history)  # fmt: skip


def section(reply: Reply, title: str) -> str:
    return next(p.text for p in reply.parts if isinstance(p, Section) and p.title == title)


async def test_outside_a_thread_it_says_where_it_works() -> None:
    reply = await ROUTER.dispatch(ChatRequest("summarize"), Deps())
    assert reply.ephemeral and reply.text == summarize.NOT_IN_THREAD


async def test_a_thread_too_short_to_summarise_is_told_so() -> None:
    reply = await ROUTER.dispatch(in_thread(THREAD[:2]), Deps())
    assert reply.ephemeral and "too few messages to summarise (2)" in reply.text


async def test_the_summary_is_posted_and_without_a_store_not_remembered() -> None:
    reply = await ROUTER.dispatch(in_thread(THREAD), Deps())
    assert not reply.error and reply.text.startswith("Incident summary: payments: latency")
    table = next(p for p in reply.parts if isinstance(p, Table))
    assert table.columns == ("Time", "Who", "What") and ("13:49", "alice") in {
        r[:2] for r in table.rows
    }
    assert "6.2.1 config push" in section(reply, "Root cause (suspected)")
    assert "13:47 bob: rolled back payments to 6.2.0" in section(reply, "Actions")
    assert "(owner: maria)" in section(reply, "Open questions")
    assert "50 messages" in str(reply.parts)  # the request to summarise is not counted
    assert "remembered" not in str(reply.parts)


async def test_summaries_are_remembered_and_listed_by_incidents(
    tmp_path: Path, embedder: Embedder
) -> None:
    store = KnowledgeStore.open(tmp_path / "var", embedder)
    redactor = Redactor()
    answerer = Answerer(
        Retriever(store), AnalysisConfig(), PromptsConfig(), LLMConfig(), PrivacyConfig(), redactor
    )
    deps = Deps(redactor=redactor, answerer=answerer)
    records = tmp_path / "var" / "incidents" / "incidents.json"
    deps.incident_memory = IncidentMemory(store, records, redactor)  # type: ignore[attr-defined]

    empty = await ROUTER.dispatch(ChatRequest("incidents"), deps)
    assert empty.ephemeral and "don't remember any incidents" in empty.text

    reply = await ROUTER.dispatch(in_thread(THREAD), deps)
    footer = str(reply.parts[-1])
    assert "remembered as inc-" in footer
    incident_id = footer.split("remembered as ")[1].split(":")[0]
    assert [i.id for i in load_incidents(records)] == [incident_id]

    listed = await ROUTER.dispatch(ChatRequest("incidents"), deps)
    table = next(p for p in listed.parts if isinstance(p, Table))
    assert listed.text.startswith("1 remembered incident(s), most recent first")
    assert table.rows[0][0] == incident_id and table.rows[0][2] == "payments"
    assert "6.2.1" in table.rows[0][4]

    found = await ROUTER.dispatch(ChatRequest("incidents pool exhaustion after a release"), deps)
    assert next(p for p in found.parts if isinstance(p, Table)).rows[0][0] == incident_id

    again = await ROUTER.dispatch(in_thread(THREAD), deps)  # the same thread: the same incident
    assert incident_id in str(again.parts) and store.count("kind = 'incident'") == 1


async def test_a_thread_that_could_not_be_read_is_not_too_short() -> None:
    async def nothing() -> list[ThreadMessage]:
        return []  # what the loaders return when the platform refuses

    req = ChatRequest("summarize", user="carol", channel="incidents", platform="slack",
                      thread_id="1795267990.000100", history=nothing)  # fmt: skip
    reply = await ROUTER.dispatch(req, Deps())
    assert reply.error and reply.text.startswith("I couldn't read this thread's messages")
    assert "too few" not in reply.text


async def test_a_failed_write_still_posts_the_summary_and_records_serve_incidents(
    tmp_path: Path,
) -> None:
    redactor = Redactor()
    deps = Deps(redactor=redactor)
    (tmp_path / "incidents").write_text("a file where the folder should be")
    broken = IncidentMemory(None, tmp_path / "incidents" / "incidents.json", redactor)
    deps.incident_memory = broken  # type: ignore[attr-defined]
    reply = await ROUTER.dispatch(in_thread(THREAD), deps)
    assert not reply.error and reply.text.startswith("Incident summary: payments")
    assert "Note: It could not be remembered: " in str(reply.parts)
    assert "cannot write it" in str(reply.parts) and "remembered as" not in str(reply.parts)

    records = tmp_path / "ok" / "incidents.json"  # the store is down: the records file serves
    deps.incident_memory = IncidentMemory(None, records, redactor)  # type: ignore[attr-defined]
    earlier = ThreadMessage("vigil", THREAD[-1].ts, reply.text)  # Vigil's own summary
    again = await ROUTER.dispatch(in_thread([*THREAD, earlier]), deps)
    assert "50 messages" in str(again.parts) and "remembered as inc-" in str(again.parts)
    listed = await ROUTER.dispatch(ChatRequest("incidents"), deps)
    assert listed.text.startswith("1 remembered incident(s)")
    assert summarize.FROM_RECORDS in str(listed.parts)
    assert "6.2.1" in next(p for p in listed.parts if isinstance(p, Table)).rows[0][4]
