"""Both LLM providers against loopback stand-ins of their HTTP APIs, through the real client
libraries: what reaches the server, what comes back, and how each failure is reported."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from knowledge.errors import ProviderError
from knowledge.llm.base import Completion, Message, Provider, estimate_tokens
from knowledge.llm.ollama import OllamaProvider
from knowledge.llm.openai import OpenAIProvider
from tests.standins import ollama_api, openai_api
from tests.standins.ollama_api import OllamaStandIn
from tests.standins.openai_api import OpenAIStandIn

SECRET = "customer-ssn-078-05-1120"
MESSAGES = [
    Message("system", "You are Vigil. Answer from the findings only."),
    Message("user", f"Is checkout healthy? (ticket note: {SECRET})"),
]
KEY = "sk-test-0123456789abcdef"
PROMPT_WORDS = 14  # what both stand-ins report as prompt tokens for MESSAGES
LONG_ANSWER = " ".join(f"word{i}" for i in range(30))


@pytest.fixture
def ollama() -> Iterator[OllamaStandIn]:
    with ollama_api.serve() as stand_in:
        yield stand_in


@pytest.fixture
def oai() -> Iterator[OpenAIStandIn]:
    with openai_api.serve(api_key=KEY) as stand_in:
        yield stand_in


def closed_port_url() -> str:
    """A loopback URL on which nothing listens, so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def failure(provider: Provider, model: str, *, timeout_s: float = 5, stream: bool = False) -> str:
    """Run a completion that must fail; return the error's text after the common checks."""
    started = time.monotonic()
    pieces: list[str] = []
    with pytest.raises(ProviderError) as caught:
        provider.complete(
            MESSAGES,
            model,
            temperature=0.1,
            timeout_s=timeout_s,
            on_token=pieces.append if stream else None,
        )
    message = str(caught.value)
    assert time.monotonic() - started < timeout_s + 1.5
    assert message.startswith(f"{provider.name} at http://127.0.0.1:")
    assert "\n" not in message
    assert SECRET not in message and KEY not in message
    return message


# --- Ollama -------------------------------------------------------------------------------


def test_ollama_plain_completion_reaches_the_server_as_sent(ollama: OllamaStandIn) -> None:
    provider = OllamaProvider(ollama.url)
    completion = provider.complete(MESSAGES, "llama3.2:1b", temperature=0.2, timeout_s=5)

    assert completion == Completion(
        text=ollama_api.DEFAULT_ANSWER,
        model="llama3.2:1b",
        prompt_tokens=PROMPT_WORDS,
        completion_tokens=len(ollama_api.DEFAULT_ANSWER.split()),
        estimated=False,
    )
    [chat] = ollama.chats
    assert chat.method == "POST"
    assert chat.body["model"] == "llama3.2:1b"
    assert chat.body["stream"] is False
    assert chat.body["options"] == {"temperature": 0.2}
    assert chat.body["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]


def test_ollama_streams_pieces_that_join_to_the_whole_text(ollama: OllamaStandIn) -> None:
    ollama.answer = lambda request: f"{len(request.body['messages'])} messages read; all calm."
    pieces: list[str] = []
    completion = OllamaProvider(ollama.url).complete(
        MESSAGES, "llama3.2:1b", temperature=0.7, timeout_s=5, on_token=pieces.append
    )

    assert completion.text == "2 messages read; all calm."
    assert len(pieces) > 1 and "".join(pieces) == completion.text
    assert (completion.prompt_tokens, completion.completion_tokens) == (PROMPT_WORDS, 5)
    assert not completion.estimated
    [chat] = ollama.chats
    assert chat.body["stream"] is True and chat.body["options"] == {"temperature": 0.7}


def test_ollama_without_counts_estimates_them(ollama: OllamaStandIn) -> None:
    ollama.report_counts = False
    completion = OllamaProvider(ollama.url).complete(
        MESSAGES, "llama3.2:1b", temperature=0.2, timeout_s=5
    )
    assert completion.estimated
    assert completion.prompt_tokens == sum(estimate_tokens(m.content) for m in MESSAGES)
    assert completion.completion_tokens == estimate_tokens(ollama_api.DEFAULT_ANSWER)


def test_ollama_leaves_the_callers_own_errors_alone(ollama: OllamaStandIn) -> None:
    def on_token(piece: str) -> None:
        raise ValueError("the caller's bug")

    with pytest.raises(ValueError, match="the caller's bug"):
        OllamaProvider(ollama.url).complete(
            MESSAGES, "llama3.2:1b", temperature=0.2, timeout_s=5, on_token=on_token
        )


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_times_out_when_the_server_is_slow_to_answer(
    ollama: OllamaStandIn, stream: bool
) -> None:
    ollama.delay_s = 5
    message = failure(OllamaProvider(ollama.url), "llama3.2:1b", timeout_s=0.5, stream=stream)
    assert message == f"ollama at {ollama.url} timed out after 0.5s"


def test_ollama_times_out_when_a_stream_stalls(ollama: OllamaStandIn) -> None:
    ollama.chunk_delay_s = 5
    message = failure(OllamaProvider(ollama.url), "llama3.2:1b", timeout_s=0.5, stream=True)
    assert message.endswith("timed out after 0.5s")


def test_ollama_times_out_when_a_stream_trickles_past_the_deadline(ollama: OllamaStandIn) -> None:
    ollama.answer = lambda request: LONG_ANSWER  # 30 chunks of 0.1 s: 3 s, each gap under 0.6 s
    ollama.chunk_delay_s = 0.1
    message = failure(OllamaProvider(ollama.url), "llama3.2:1b", timeout_s=0.6, stream=True)
    assert message.endswith("timed out after 0.6s")


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_reports_an_http_error(ollama: OllamaStandIn, stream: bool) -> None:
    ollama.fail_status = 500
    message = failure(OllamaProvider(ollama.url), "llama3.2:1b", stream=stream)
    assert message == f"ollama at {ollama.url} answered HTTP 500: stand-in failure"


def test_ollama_reports_an_unknown_model(ollama: OllamaStandIn) -> None:
    message = failure(OllamaProvider(ollama.url), "mistral:7b")
    assert message == (
        f'ollama at {ollama.url} answered HTTP 404: model "mistral:7b" not found, '
        "try pulling it first"
    )


def test_ollama_reports_a_refused_connection() -> None:
    url = closed_port_url()
    message = failure(OllamaProvider(url), "llama3.2:1b")
    assert message.startswith(f"ollama at {url} could not be reached: ")
    assert "refused" in message.lower()


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_reports_a_malformed_answer(ollama: OllamaStandIn, stream: bool) -> None:
    ollama.raw_body = f"<html>{SECRET}</html>".encode()
    message = failure(OllamaProvider(ollama.url), "llama3.2:1b", stream=stream)
    assert "sent a malformed response" in message


def test_ollama_stand_in_lists_models_and_version(ollama: OllamaStandIn) -> None:
    import ollama as ollama_lib

    with ollama_lib.Client(host=ollama.url) as client:
        assert [m.model for m in client.list().models] == ["llama3.2:1b"]
    assert [(r.method, r.path) for r in ollama.requests] == [("GET", "/api/tags")]


# --- OpenAI -------------------------------------------------------------------------------


def test_openai_plain_completion_reaches_the_server_as_sent(oai: OpenAIStandIn) -> None:
    provider = OpenAIProvider(KEY, oai.url)
    completion = provider.complete(MESSAGES, "gpt-4o-mini", temperature=0.3, timeout_s=5)

    assert completion == Completion(
        text=openai_api.DEFAULT_ANSWER,
        model="gpt-4o-mini",
        prompt_tokens=PROMPT_WORDS,
        completion_tokens=len(openai_api.DEFAULT_ANSWER.split()),
        estimated=False,
    )
    [call] = oai.completions
    assert call.headers["authorization"] == f"Bearer {KEY}"
    assert call.body["model"] == "gpt-4o-mini"
    assert call.body["temperature"] == 0.3
    assert call.body.get("stream") in (None, False)
    assert call.body["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
    assert KEY not in repr(provider)


def test_openai_streams_pieces_and_reads_usage_from_the_last_chunk(oai: OpenAIStandIn) -> None:
    oai.answer = lambda request: f"{len(request.body['messages'])} messages read; all calm."
    pieces: list[str] = []
    completion = OpenAIProvider(KEY, oai.url).complete(
        MESSAGES, "gpt-4o-mini", temperature=0.7, timeout_s=5, on_token=pieces.append
    )

    assert completion.text == "2 messages read; all calm."
    assert len(pieces) > 1 and "".join(pieces) == completion.text
    assert (completion.prompt_tokens, completion.completion_tokens) == (PROMPT_WORDS, 5)
    assert not completion.estimated
    [call] = oai.completions
    assert call.body["stream"] is True
    assert call.body["stream_options"] == {"include_usage": True}
    assert call.body["temperature"] == 0.7


@pytest.mark.parametrize("stream", [False, True])
def test_openai_without_usage_estimates_it(oai: OpenAIStandIn, stream: bool) -> None:
    oai.report_usage = False
    completion = OpenAIProvider(KEY, oai.url).complete(
        MESSAGES,
        "gpt-4o-mini",
        temperature=0.2,
        timeout_s=5,
        on_token=(lambda piece: None) if stream else None,
    )
    assert completion.text == openai_api.DEFAULT_ANSWER
    assert completion.estimated
    assert completion.prompt_tokens == sum(estimate_tokens(m.content) for m in MESSAGES)
    assert completion.completion_tokens == estimate_tokens(openai_api.DEFAULT_ANSWER)


def test_openai_without_a_key_sends_a_placeholder_and_honours_the_env_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with openai_api.serve() as open_server:  # a local server that wants no key
        monkeypatch.setenv("OPENAI_BASE_URL", open_server.url)
        completion = OpenAIProvider(None, None).complete(
            MESSAGES, "gpt-4o-mini", temperature=0.2, timeout_s=5
        )
    assert completion.text == openai_api.DEFAULT_ANSWER
    [call] = open_server.completions
    assert call.headers["authorization"] == "Bearer not-needed"


@pytest.mark.parametrize("stream", [False, True])
def test_openai_times_out_when_the_server_is_slow_to_answer(
    oai: OpenAIStandIn, stream: bool
) -> None:
    oai.delay_s = 5
    message = failure(OpenAIProvider(KEY, oai.url), "gpt-4o-mini", timeout_s=0.5, stream=stream)
    assert message == f"openai at {oai.url} timed out after 0.5s"


def test_openai_times_out_when_a_stream_stalls(oai: OpenAIStandIn) -> None:
    oai.chunk_delay_s = 5
    message = failure(OpenAIProvider(KEY, oai.url), "gpt-4o-mini", timeout_s=0.5, stream=True)
    assert message.endswith("timed out after 0.5s")


def test_openai_times_out_when_a_stream_trickles_past_the_deadline(oai: OpenAIStandIn) -> None:
    oai.answer = lambda request: LONG_ANSWER
    oai.chunk_delay_s = 0.1
    message = failure(OpenAIProvider(KEY, oai.url), "gpt-4o-mini", timeout_s=0.6, stream=True)
    assert message.endswith("timed out after 0.6s")


@pytest.mark.parametrize("stream", [False, True])
def test_openai_reports_an_http_error(oai: OpenAIStandIn, stream: bool) -> None:
    oai.fail_status = 500
    message = failure(OpenAIProvider(KEY, oai.url), "gpt-4o-mini", stream=stream)
    assert message.startswith(f"openai at {oai.url} answered HTTP 500: The server had an error")


@pytest.mark.parametrize("key", ["sk-wrong-key-that-leaks-9876", None])
def test_openai_reports_a_rejected_key_without_quoting_it(
    oai: OpenAIStandIn, key: str | None
) -> None:
    message = failure(OpenAIProvider(key, oai.url), "gpt-4o-mini")
    assert message.startswith(f"openai at {oai.url} rejected the API key (HTTP 401")
    assert "9876" not in message and "sk-" not in message
    [call] = oai.completions
    assert call.headers["authorization"] == f"Bearer {key or 'not-needed'}"


def test_openai_reports_an_unknown_model(oai: OpenAIStandIn) -> None:
    message = failure(OpenAIProvider(KEY, oai.url), "gpt-9")
    assert message == (
        f"openai at {oai.url} answered HTTP 404: "
        "The model `gpt-9` does not exist or you do not have access to it."
    )


def test_openai_reports_a_refused_connection() -> None:
    url = closed_port_url() + "/v1"
    message = failure(OpenAIProvider(KEY, url), "gpt-4o-mini")
    assert message.startswith(f"openai at {url} could not be reached: ")
    assert "refused" in message.lower()


@pytest.mark.parametrize("stream", [False, True])
def test_openai_reports_a_malformed_answer(oai: OpenAIStandIn, stream: bool) -> None:
    oai.raw_body = f"<html>{SECRET}</html>".encode()
    message = failure(OpenAIProvider(KEY, oai.url), "gpt-4o-mini", stream=stream)
    assert "malformed" in message or "failed" in message


def test_openai_stand_in_lists_models_for_the_real_client(oai: OpenAIStandIn) -> None:
    import openai

    with openai.OpenAI(api_key=KEY, base_url=oai.url, max_retries=0) as client:
        assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]
    assert [(r.method, r.path) for r in oai.requests] == [("GET", "/v1/models")]
