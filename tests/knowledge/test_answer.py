"""Answering: the extractive analyst, LLM providers behind loopback stand-ins, routing,
fallback, privacy policy, caching and bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from knowledge.answer import Answerer, route
from knowledge.config import LLMConfig, PrivacyConfig, PromptsConfig, RoutingRule
from knowledge.demo.incidents import Incident
from knowledge.errors import QueryError
from knowledge.llm.ollama import OllamaProvider
from knowledge.llm.openai import OpenAIProvider
from knowledge.redaction import Redactor
from knowledge.retrieval import Retriever
from knowledge.store import KnowledgeStore
from tests.standins import ollama_api, openai_api

LLM = LLMConfig(
    models={"simple": "small-model", "complex": "big-model"},
    routing=(
        RoutingRule(tier="complex", keywords=("why", "root cause")),
        RoutingRule(tier="simple", max_words=12),
    ),
    timeout_s=1.0,
)


def answerer(store: KnowledgeStore, analysis, provider=None, **privacy) -> Answerer:  # type: ignore[no-untyped-def]
    return Answerer(
        Retriever(store),
        analysis,
        PromptsConfig(),
        LLM,
        PrivacyConfig(**privacy),
        Redactor(),
        provider=provider,
    )


def question_for(incident: Incident) -> str:
    a = incident.start + timedelta(minutes=5)
    b = incident.start + timedelta(minutes=20)
    return f"why was {incident.service} slow between {a:%H:%M} and {b:%H:%M}?"


def test_routing_rules_pick_the_tier() -> None:
    rules = LLM.routing
    assert route("why is checkout slow?", rules) == "complex"
    assert route("status of payments", rules) == "simple"
    long = "list every host of the payments service with its cpu memory disk and heap please now"
    assert route(long, rules) == "complex"  # no rule matched
    assert route("anything", ()) == "complex"


def test_the_extractive_answer_cites_the_evidence_it_used(
    demo_store: KnowledgeStore, analysis, incident: Incident
) -> None:
    now = incident.end + timedelta(minutes=30)
    answer = answerer(demo_store, analysis).ask(question_for(incident), now)
    assert answer.provider == "extractive" and answer.latency_ms > 0
    assert incident.host in answer.conclusion
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert cited and max(cited) <= len(answer.evidence)
    first = int(re.findall(r"\[(\d+)\]", answer.conclusion)[0])
    evidence = answer.evidence[first - 1]
    assert evidence.host == incident.host and evidence.kind == "metric_window"
    # every number in the conclusion comes from the evidence it cites
    numbers = re.findall(r"\d+(?:\.\d+)?(?= ?%| ?ms)", answer.conclusion)
    assert numbers
    for number in numbers:
        assert number in evidence.text, number
    headings = [h for h, _ in answer.sections]
    assert headings == list(PromptsConfig().answer_structure)
    causes = dict(answer.sections)["Likely causes"]
    assert any("GC" in line for line in causes)
    assert any("JVM GC pressure" in line for line in causes)  # the matching runbook
    payload = answer.to_json()
    assert set(payload) >= {"answer", "sources", "provider", "latency_ms"}
    assert set(payload["sources"][0]) >= {"source", "id", "ts", "snippet", "score"}


def test_an_answer_says_when_nothing_matches(demo_store: KnowledgeStore, analysis) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    now = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
    answer = answerer(demo_store, analysis).ask("checkout logs between 19:00 and 19:30", now)
    assert "No metrics, logs or traces" in answer.text or "Nothing" in answer.conclusion


@pytest.mark.parametrize("text", ["", "   ", "x" * 100_000])
def test_bad_questions_get_a_clear_error(demo_store: KnowledgeStore, analysis, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QueryError, match=r"empty|limit is 4,000"):
        answerer(demo_store, analysis).ask(text)


def test_ollama_answers_with_the_routed_model_and_its_token_counts(
    demo_store: KnowledgeStore, analysis, incident: Incident
) -> None:
    now = incident.end + timedelta(minutes=30)
    with ollama_api.serve(models={"small-model", "big-model"}) as server:
        answer = answerer(demo_store, analysis, OllamaProvider(server.url)).ask(
            question_for(incident), now
        )
        assert len(server.chats) == 1
        body = server.chats[0].body
    assert answer.provider == "ollama" and answer.model == "big-model"
    assert body["model"] == "big-model"
    assert answer.conclusion == ollama_api.DEFAULT_ANSWER
    assert answer.prompt_tokens > 0 and not answer.tokens_estimated
    system, user = body["messages"][0]["content"], body["messages"][1]["content"]
    assert "API p95 response time under 200 ms" in system  # the team's baselines
    assert "What we don't know" in system  # the answer structure
    assert "[1] (" in user and incident.host in user  # numbered evidence


def test_a_provider_that_times_out_falls_back_and_says_so(
    demo_store: KnowledgeStore, analysis, incident: Incident
) -> None:
    now = incident.end + timedelta(minutes=30)
    with ollama_api.serve(models={"big-model"}, delay_s=3) as server:
        answer = answerer(demo_store, analysis, OllamaProvider(server.url)).ask(
            question_for(incident), now
        )
    assert answer.provider == "extractive"
    assert any("timed out" in n and "embedded analyst" in n for n in answer.notes)
    assert incident.host in answer.conclusion


def test_openai_streams_and_private_values_are_pseudonymised_then_restored(
    demo_store: KnowledgeStore, analysis, incident: Incident
) -> None:
    now = incident.end + timedelta(minutes=30)
    email, ip = "jane.doe@example.com", "10.20.30.40"

    def echo(request: openai_api.OpenAIRequest) -> str:
        user = request.body["messages"][-1]["content"]
        tokens = re.findall(r"\[(?:EMAIL|IP)_\d+\]", user)
        return "Conclusion line.\nAsk " + " and ".join(tokens) + " about it [1]."

    pieces: list[str] = []
    with openai_api.serve(
        api_key="sk-test-key-0123456789abcdef", answer=echo, models={"big-model"}
    ) as server:
        provider = OpenAIProvider("sk-test-key-0123456789abcdef", server.url)
        answer = answerer(demo_store, analysis, provider).ask(
            f"why did {email} see payments errors from {ip}?", now, on_token=pieces.append
        )
        sent = str(server.completions[0].body)
    assert email not in sent and ip not in sent
    assert "[EMAIL_1]" in sent and "[IP_2]" in sent
    assert len(pieces) > 1
    assert email in "".join(pieces) and ip in "".join(pieces)  # restored while streaming
    assert email in answer.body and ip in answer.body
    assert any("pseudonymised" in n for n in answer.notes)


def test_privacy_block_sends_nothing(
    demo_store: KnowledgeStore, analysis, incident: Incident
) -> None:
    now = incident.end + timedelta(minutes=30)
    with openai_api.serve() as server:
        provider = OpenAIProvider("sk-x", server.url)
        answer = answerer(demo_store, analysis, provider, external_llm="block").ask(
            question_for(incident), now
        )
        assert server.completions == []
    assert answer.provider == "extractive"
    assert any("block" in n for n in answer.notes)


def test_answers_are_cached_by_question_and_evidence(
    demo_store: KnowledgeStore, analysis, incident: Incident
) -> None:
    now = incident.end + timedelta(minutes=30)
    with ollama_api.serve(models={"big-model"}) as server:
        engine = answerer(demo_store, analysis, OllamaProvider(server.url))
        first = engine.ask(question_for(incident), now)
        second = engine.ask(question_for(incident), now)
        assert len(server.chats) == 1
    assert not first.cached and second.cached
    assert second.conclusion == first.conclusion
