"""Incident thread summaries (extractive and staged through an LLM stand-in) and incident memory
(the real store and embedding model; incidents.json for ``vigil dataset from-incidents``)."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.summarize import load_thread
from handlers.types import ThreadMessage
from knowledge.answer import Answerer
from knowledge.config import AnalysisConfig, LLMConfig, PrivacyConfig, PromptsConfig
from knowledge.demo import DemoWorld
from knowledge.embeddings import Embedder
from knowledge.incidents import (
    MAX_ACTIONS,
    MAX_QUESTIONS,
    MAX_TIMELINE,
    IncidentError,
    IncidentMemory,
    IncidentSummary,
    Summarizer,
    merge_record,
)
from knowledge.ingest import ingest_telemetry, sync_runbooks
from knowledge.llm.base import estimate_tokens
from knowledge.llm.openai import OpenAIProvider
from knowledge.redaction import Redactor
from knowledge.retrieval import Retriever
from knowledge.store import KnowledgeStore
from tests.conftest import REPO
from tests.standins import openai_api
from training.incidents import load_incidents

THREAD = REPO / "tests" / "data" / "incident_thread.json"
DAY = datetime(2026, 11, 21, tzinfo=UTC)
BUDGET = 1200


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return DAY.replace(hour=int(hours), minute=int(minutes))


@pytest.fixture(scope="module")
def thread() -> list[ThreadMessage]:
    return load_thread(THREAD)


def long_thread(base: list[ThreadMessage], total: int = 600) -> list[ThreadMessage]:
    """``base`` with chatter around it up to ``total`` messages: status pings, graphs, guesses,
    questions and a few actions, as long incident channels have."""
    rng = random.Random(7)
    chatter = [
        "still looking at the payments dashboards",
        "+1",
        "any update on payments?",
        "here is the grafana link for payments-2 latency, it is ugly",
        "maybe it is the network again? not sure",
        "I think the fraud API is slow too",
        "restarted my port-forward to payments-1",
        "sharing the heap dump from payments-2 in the doc",
        "customers on the EU site are complaining about checkout errors",
        "is anyone looking at inventory?",
        "ok",
        "the queue depth graph looks better now",
    ]
    users = ["frank", "gina", "hal", "ivy", "alice", "bob"]
    start, end = base[0].ts, base[-1].ts
    span = (end - start).total_seconds()
    extra = [
        ThreadMessage(
            rng.choice(users),
            start + timedelta(seconds=rng.uniform(1, span - 1)),
            f"{rng.choice(chatter)} ({n})",
        )
        for n in range(total - len(base))
    ]
    return sorted([*base, *extra], key=lambda m: m.ts)


# ----------------------------------------------------------------------------- extractive
def test_the_thread_yields_its_timeline_root_cause_actions_and_owners(
    thread: list[ThreadMessage],
) -> None:
    assert len(thread) >= 40
    summary = Summarizer().summarize(thread, channel="incidents")
    assert summary.services[0] == "payments" and summary.hosts[0] == "payments-2"
    assert summary.start == thread[0].ts and summary.end.strftime("%H:%M") == "13:56"
    assert "connection pool exhaustion" in summary.title
    assert "~3% of checkouts failed for 25 min" in summary.impact[0]

    assert "6.2.1 config push" in summary.root_cause and "pool was exhausted" in summary.root_cause
    assert summary.root_cause_by is not None and summary.root_cause_by.who == "bob"

    done = {(f"{a.at:%H:%M}", a.who, a.what) for a in summary.actions}
    assert ("13:47", "bob", "rolled back payments to 6.2.0 on both hosts") in done
    assert ("13:49", "alice", "restarted payments-2 to drop the stuck connections") in done
    assert ("13:53", "bob", "scaled payments to 6 replicas") in done
    assert ("14:05", "bob", "disabled the 6.2.1 release in the deploy pipeline") in done
    assert len(done) == 4  # not the plan ("I'll roll back"), not the rollback in progress

    times = {f"{e.at:%H:%M}": e for e in summary.timeline}
    assert times["13:33"].who == "alice" and "paged" in times["13:33"].what  # detection
    assert "6.2.1" in times["13:34"].what  # the change
    assert {"13:47", "13:49", "13:53", "13:56"} <= set(times)  # actions, mitigated
    assert [e.at for e in summary.timeline] == sorted(e.at for e in summary.timeline)

    owners = {q.owner: q.text for q in summary.questions}
    assert "postmortem" in owners["maria"] and "alert on db_pool_usage" in owners["dan"]
    assert "scale payments back down" in owners["bob"]
    unowned = [q.text for q in summary.questions if q.owner is None]
    assert any("connection timeout" in q for q in unowned)  # nobody answered it
    assert any(q.startswith("TODO") for q in unowned)
    answered = ("Did anything deploy", "Is the pool size", "Who owns scaling", "latency?")
    assert not any(q.text.startswith(answered) for q in summary.questions)
    assert summary.participants[:3] == ["alice", "bob", "carol"] and summary.messages == 50


def test_the_same_thread_gets_the_same_id_and_another_channel_another(
    thread: list[ThreadMessage],
) -> None:
    one = Summarizer().summarize(thread, channel="incidents")
    assert Summarizer().summarize(list(reversed(thread)), channel="incidents").id == one.id
    assert Summarizer().summarize(thread, channel="payments").id != one.id


def test_private_values_never_reach_the_summary_the_document_or_the_record(
    thread: list[ThreadMessage],
) -> None:
    secret = "sk-live-abcdefghijklmnopqrstuvwx"
    leaky = [
        *thread[:3],
        ThreadMessage("bob", thread[3].ts, f"restarted payments-2 with token={secret} for a@b.io"),
        *thread[4:],
    ]
    redactor = Redactor()
    summary = Summarizer(redactor=redactor).summarize(leaky)
    dumped = json.dumps(
        [
            summary.to_json(),
            summary.to_document(redactor).to_row(),
            summary.to_incident_record(redactor),
        ],
        default=str,
    )
    assert secret not in dumped and "a@b.io" not in dumped
    assert "[REDACTED:" in dumped


def test_an_empty_thread_is_one_clear_error() -> None:
    with pytest.raises(IncidentError, match="no messages"):
        Summarizer().summarize([ThreadMessage("a", DAY, "  ")])


def test_a_600_message_thread_is_summarised_fast_and_stays_bounded(
    thread: list[ThreadMessage],
) -> None:
    messages = long_thread(thread)
    assert len(messages) == 600
    started = time.perf_counter()
    summary = Summarizer().summarize(messages)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, elapsed
    assert summary.messages == 600
    assert len(summary.timeline) <= MAX_TIMELINE and len(summary.actions) <= MAX_ACTIONS
    assert len(summary.questions) <= MAX_QUESTIONS and len(summary.impact) <= 4
    assert "6.2.1 config push" in summary.root_cause  # hedged guesses do not win
    assert any(a.what.startswith("rolled back payments") for a in summary.actions)
    assert len(json.dumps(summary.to_json())) < 12_000


# ----------------------------------------------------------------------------- LLM, staged
FINAL = {
    "title": "Payments connection pool exhausted after config release 6.2.1",
    "impact": ["About 3% of checkouts failed for 25 minutes"],
    "timeline": [
        {"time": "13:33", "who": "alice", "what": "paged for payments latency"},
        {"time": "13:47", "who": "bob", "what": "rolled back to 6.2.0"},
    ],
    "root_cause": "Release 6.2.1 cut the DB pool from 50 to 10 connections",
    "actions": [{"time": "13:47", "who": "bob", "action": "rolled back payments to 6.2.0"}],
    "open_questions": [{"question": "Lower the connection timeout?", "owner": None}],
}


def staged_answer(request: openai_api.OpenAIRequest) -> str:
    system = request.body["messages"][0]["content"]
    if system.startswith("You take notes"):
        return "- 13:47 bob rolled back payments. " + "detail " * 400  # long: must be cut
    if system.startswith("Merge these notes"):
        return "- merged: pool exhausted after 6.2.1; rolled back 13:47 by bob. " + "x " * 400
    return "```json\n" + json.dumps(FINAL) + "\n```"


def llm_summarizer(url: str, **privacy: str) -> Summarizer:
    return Summarizer(
        provider=OpenAIProvider("sk-test-key", url),
        llm=LLMConfig(models={"simple": "big-model", "complex": "big-model"}, timeout_s=5),
        privacy=PrivacyConfig(**privacy),  # type: ignore[arg-type]
        max_tokens=BUDGET,
    )


def prompt_size(request: openai_api.OpenAIRequest) -> int:
    return sum(estimate_tokens(m["content"]) for m in request.body["messages"]) + 8


def test_a_600_message_thread_goes_through_the_llm_in_stages_within_the_budget(
    thread: list[ThreadMessage],
) -> None:
    with openai_api.serve(answer=staged_answer, models={"big-model"}) as server:
        summarizer = llm_summarizer(server.url)
        summary = summarizer.summarize(long_thread(thread))
        sent = list(server.completions)
    kinds = [r.body["messages"][0]["content"].split(" ")[0] for r in sent]
    assert kinds.count("You") >= 5 and kinds[-1] == "Summarise"  # notes per chunk, then final
    assert "Merge" in kinds  # the notes were too long together: merged in a further stage
    assert max(prompt_size(r) for r in sent) <= BUDGET
    assert summarizer.last_run is not None and summarizer.last_run.largest_prompt <= BUDGET
    assert summary.title == FINAL["title"] and summary.root_cause == FINAL["root_cause"]
    assert [(f"{a.at:%H:%M}", a.who) for a in summary.actions] == [("13:47", "bob")]
    assert summary.questions[0].text == "Lower the connection timeout?"
    assert summary.provider.startswith("openai (") and summary.notes == []


def test_a_short_thread_is_one_call_and_a_bad_answer_keeps_the_extractive_summary(
    thread: list[ThreadMessage],
) -> None:
    with openai_api.serve(answer=lambda r: "I cannot do JSON today.", models={"big-model"}) as s:
        summary = Summarizer(
            provider=OpenAIProvider("sk-test-key", s.url),
            llm=LLMConfig(models={"simple": "big-model", "complex": "big-model"}),
            max_tokens=20_000,
        ).summarize(thread)
        assert len(s.completions) == 1
        assert "[13:58] bob: Root cause" in s.completions[0].body["messages"][1]["content"]
    assert "6.2.1 config push" in summary.root_cause and summary.provider == "extractive"
    assert any("not JSON" in n for n in summary.notes)


def test_partial_llm_fields_fall_back_and_privacy_block_sends_nothing(
    thread: list[ThreadMessage],
) -> None:
    partial = {"title": "Pool exhaustion", "root_cause": "", "actions": [{"time": "soon"}]}
    with openai_api.serve(answer=lambda r: json.dumps(partial), models={"big-model"}) as s:
        summary = llm_summarizer(s.url).summarize(thread)
    assert summary.title == "Pool exhaustion"
    assert "6.2.1 config push" in summary.root_cause and len(summary.actions) == 4
    assert "root_cause" in summary.notes[-1] and "actions" in summary.notes[-1]
    with openai_api.serve(models={"big-model"}) as s:
        blocked = llm_summarizer(s.url, external_llm="block").summarize(thread)
        assert s.completions == []
    assert blocked.provider == "extractive" and "block" in blocked.notes[0]


# ----------------------------------------------------------------------------- memory
@pytest.fixture(scope="module")
def incident_store(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[KnowledgeStore]:
    """The demo world around its payments pool exhaustion (13:32-13:55, payments-2), and the
    pool and rollback runbooks."""
    from bot.config import load_settings

    analysis: AnalysisConfig = load_settings(
        config_dir=REPO / "data_config", environ={}
    ).ai.analysis
    world = DemoWorld(seed=42, start=at("08:00"))
    truth = next(i for i in world.incidents() if i.id == "inc-0009")
    assert (truth.type, truth.host) == ("connection_pool_exhaustion", "payments-2")
    root = tmp_path_factory.mktemp("incident-kb")
    runbooks = root / "runbooks"
    runbooks.mkdir()
    for name in ("db-pool-exhaustion.md", "release-rollback.md"):
        (runbooks / name).write_text((REPO / "data_config" / "runbooks" / name).read_text())
    kb = KnowledgeStore.open(root / "var", embedder)
    redact = Redactor().redact
    ingest_telemetry(kb, world, analysis, at("13:25"), at("13:55"), redact)
    sync_runbooks(kb, runbooks, redact)
    yield kb


def test_evidence_comes_from_the_same_window_and_a_later_ask_finds_the_incident(
    thread: list[ThreadMessage], incident_store: KnowledgeStore, tmp_path: Path
) -> None:
    redactor = Redactor()
    summary = Summarizer(redactor=redactor, retriever=Retriever(incident_store)).summarize(
        thread, channel="incidents"
    )
    telemetry = [e for e in summary.evidence if e.kind != "runbook"]
    assert telemetry and all(e.service == "payments" for e in telemetry)
    assert all(at("13:03") <= e.ts <= at("14:06") for e in telemetry if e.ts)  # type: ignore[operator]
    assert any(e.host == "payments-2" for e in telemetry)
    assert any("connection pool" in e.label.lower() for e in summary.evidence)  # the runbook
    assert len(summary.citations()) == len(summary.evidence) <= 5

    memory = IncidentMemory(incident_store, tmp_path / "incidents" / "incidents.json", redactor)
    first = memory.remember(summary)
    assert first.stored and first.record == "added" and first.id == summary.id
    stored = incident_store.get([summary.id])
    assert stored and stored[0].kind == "incident" and stored[0].service == "payments"
    assert memory.remember(summary).record == "unchanged"
    assert incident_store.count("kind = 'incident'") == 1  # upserted, not added twice

    answerer = Answerer(
        Retriever(incident_store), AnalysisConfig(), PromptsConfig(), LLMConfig(),
        PrivacyConfig(), redactor,
    )  # fmt: skip
    answer = answerer.ask("has this happened before? payments pool exhaustion", at("18:00"))
    incident = [s for s in answer.sources() if s["kind"] == "incident"]
    assert incident and incident[0]["id"] == summary.id
    assert "Past incident" in answer.text and "6.2.1" in answer.text
    assert [d.id for d in memory.search("what fixed the payments pool exhaustion")][:1] == [
        summary.id
    ]
    assert [d.id for d in memory.recent()] == [summary.id]


def _summary(thread: list[ThreadMessage]) -> IncidentSummary:
    return Summarizer().summarize(thread, channel="incidents")


def test_incidents_json_merges_by_id_atomically_and_feeds_from_incidents(
    thread: list[ThreadMessage], tmp_path: Path
) -> None:
    path = tmp_path / "incidents.json"
    redactor = Redactor()
    record = _summary(thread).to_incident_record(redactor)
    other = {"id": "INC-1", "metrics": "cpu 90%", "root_cause": "x", "resolution": "y"}
    path.write_text(json.dumps({"incidents": [other]}))
    assert merge_record(path, record) == "added"
    assert merge_record(path, record) == "unchanged"
    assert merge_record(path, {**record, "resolution": "rolled back"}) == "updated"
    saved = json.loads(path.read_text())
    assert [i["id"] for i in saved["incidents"]] == ["INC-1", record["id"]]  # shape kept
    assert not list(tmp_path.glob(".*.tmp"))
    loaded = {i.id: i for i in load_incidents(path)}  # what `vigil dataset from-incidents` reads
    mine = loaded[record["id"]]
    assert mine.service == "payments, checkout" and "6.2.1" in mine.root_cause
    assert "HikariPool" in " ".join(mine.logs) and "3%" in mine.metrics

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(IncidentError, match="left as it is"):
        merge_record(broken, record)
    assert broken.read_text() == "{not json"


# ----------------------------------------------------------------------------- review fixes
SLACK_IDS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dan": "U0DAN",
             "erin": "U0ERIN", "maria": "U0MARIAX"}  # fmt: skip


def slack_format(thread: list[ThreadMessage]) -> list[ThreadMessage]:
    """The thread as Slack's loader gives it: users as ids, mentions as ``<@ID>``."""
    out = []
    for m in thread:
        text = m.text.replace("@maria", "<@U0MARIAX>")
        text = text.replace("dan to add", "<@U0DAN|dan> to add")
        text = text.replace("alice can you", "<@!U0ALICE> can you")
        out.append(ThreadMessage(SLACK_IDS[m.user], m.ts, text))
    return out


def test_slack_mentions_and_user_ids_keep_the_owners(thread: list[ThreadMessage]) -> None:
    summary = Summarizer().summarize(slack_format(thread), channel="incidents")
    owners = {q.owner: q.text for q in summary.questions}
    assert "postmortem" in owners["U0MARIAX"] and "alert on db_pool_usage" in owners["U0DAN"]
    assert "scale payments back down" in owners["U0BOB"]
    assert "@U0MARIAX will write the postmortem" in owners["U0MARIAX"]  # no <@...> left
    assert summary.root_cause_by is not None and summary.root_cause_by.who == "U0BOB"


def test_questions_answered_minutes_later_in_a_long_thread_are_not_open(
    thread: list[ThreadMessage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from knowledge import incident_extract

    monkeypatch.setattr(incident_extract, "MAX_QUESTIONS", 1000)  # every open one, not the last 8
    summary = Summarizer().summarize(long_thread(thread))
    asked = [q.text for q in summary.questions]
    answered = ("Did anything deploy", "Is the pool size", "Who owns scaling", "latency?",
                "Is the 6.2.1 release blocked", "Is the rollback faster")  # fmt: skip
    assert not [q for q in asked if q.startswith(answered)]
    assert any("lower the connection timeout" in q for q in asked)  # nobody answered it


def test_a_failed_write_of_incidents_json_is_one_line(
    thread: list[ThreadMessage], tmp_path: Path
) -> None:
    (tmp_path / "incidents").write_text("a file where the folder should be")
    record = _summary(thread).to_incident_record(Redactor())
    with pytest.raises(IncidentError, match="cannot write it") as caught:
        merge_record(tmp_path / "incidents" / "incidents.json", record)
    assert "\n" not in str(caught.value)


def test_records_without_cause_actions_or_numbers_are_not_written(
    thread: list[ThreadMessage], tmp_path: Path
) -> None:
    path = tmp_path / "incidents.json"
    memory = IncidentMemory(None, path, Redactor())
    no_cause = [m for m in thread if not re.search(r"root cause|caused|because", m.text, re.I)]
    remembered = memory.remember(_summary(no_cause))
    assert remembered.record == "skipped: no root cause was established" and not path.exists()

    summary = _summary(thread)
    assert summary.record_gap() is None
    summary.impact, summary.log_lines = [], []
    assert summary.record_gap() == "neither metrics nor log lines were found"
    summary = _summary(thread)
    summary.actions = []
    assert memory.remember(summary).record == "skipped: no actions were recorded"
    assert memory.remember(_summary(thread)).record == "added"


def test_an_earlier_vigil_summary_is_not_summarised_again(thread: list[ThreadMessage]) -> None:
    earlier = ThreadMessage(
        "vigil", thread[-1].ts, "Incident summary: payments: rolled back, restarted and scaled"
    )
    summary = Summarizer().summarize([*thread, earlier])
    assert summary.messages == 50 and "vigil" not in summary.participants
    assert not any("Incident summary" in e.what for e in summary.timeline)


def test_the_llm_root_cause_is_nobodys_and_content_free_lines_are_not_sent(
    thread: list[ThreadMessage],
) -> None:
    noise = [ThreadMessage("frank", thread[5].ts, t) for t in ("+1", "ok!", "thanks", "🎉🎉")]
    with openai_api.serve(answer=lambda r: json.dumps(FINAL), models={"big-model"}) as s:
        summary = Summarizer(
            provider=OpenAIProvider("sk-test-key", s.url),
            llm=LLMConfig(models={"simple": "big-model", "complex": "big-model"}),
            max_tokens=20_000,
        ).summarize([*thread, *noise])
        sent = s.completions[0].body["messages"][1]["content"]
    assert summary.root_cause == FINAL["root_cause"] and summary.root_cause_by is None
    assert "frank" not in sent and "] alice: ok\n" not in sent  # "+1", "ok", "thanks", emoji
    assert sent.count("\n[") == 49 and "] maria: ack, on it" in sent  # the rest all went


def test_llm_calls_are_capped_and_the_summary_stays_extractive(
    thread: list[ThreadMessage],
) -> None:
    with openai_api.serve(answer=staged_answer, models={"big-model"}) as server:
        summarizer = llm_summarizer(server.url)
        summarizer.max_calls = 3
        capped = summarizer.summarize(long_thread(thread))
        assert server.completions == []  # known before the first call: nothing is spent
        summarizer = llm_summarizer(server.url)
        summarizer.deadline_s = 0.0
        late = summarizer.summarize(thread)
        assert server.completions == []
    assert capped.provider == "extractive" and "over the cap of 3" in capped.notes[-1]
    assert "6.2.1 config push" in capped.root_cause and capped.root_cause_by is not None
    assert late.provider == "extractive" and "took over 0 s" in late.notes[-1]


def test_incidents_fall_back_to_the_records_file_without_the_store(
    thread: list[ThreadMessage], tmp_path: Path
) -> None:
    path = tmp_path / "incidents.json"
    memory = IncidentMemory(None, path, Redactor())
    assert memory.recent() == [] and memory.search("payments") == []
    summary = _summary(thread)
    memory.remember(summary)
    assert [(d.id, d.kind, d.service) for d in memory.recent()] == [
        (summary.id, "incident", "payments")
    ]
    assert [d.id for d in memory.search("pool exhaustion")] == [summary.id]
    assert memory.search("kafka rebalancing storm") == []
