"""The transformers provider on a tiny GPT-2-style model that the test builds from a config and
a byte-level BPE tokenizer trained in tmp (nothing is downloaded): loading once, plain and
streamed answers, timeouts, bad folders, and how ai-config selects it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from knowledge.answer import Answerer, select_provider
from knowledge.config import AnalysisConfig, LLMConfig, PrivacyConfig, PromptsConfig
from knowledge.errors import ConfigError, ProviderError
from knowledge.llm.base import Message
from knowledge.llm.transformers import TransformersProvider, render_chat
from knowledge.redaction import Redactor
from tests.knowledge.tiny_model import build_tiny_model

SECRET = "customer-ssn-078-05-1120"
MESSAGES = [
    Message("system", "You are Vigil. Answer from the findings only."),
    Message("user", f"Why does a full GC stall threads? (ticket note: {SECRET})"),
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-gpt2")


def test_greedy_answer_streams_the_same_text_and_counts_tokens(tiny_model: Path) -> None:
    provider = TransformersProvider(tiny_model, max_new_tokens=12)
    plain = provider.complete(MESSAGES, "ignored", temperature=0, timeout_s=30)
    pieces: list[str] = []
    streamed = provider.complete(
        MESSAGES, "ignored", temperature=0, timeout_s=30, on_token=pieces.append
    )

    _, tokenizer = provider.load()
    prompt_ids = tokenizer(render_chat(MESSAGES, tokenizer))["input_ids"]
    assert plain.model == "tiny-gpt2" and not plain.estimated
    assert plain.prompt_tokens == len(prompt_ids)
    assert 1 <= plain.completion_tokens <= 12
    assert streamed.text == plain.text  # greedy decoding is deterministic
    assert len(pieces) > 1 and "".join(pieces) == streamed.text


def test_sampling_answers_within_the_token_limit(tiny_model: Path) -> None:
    provider = TransformersProvider(tiny_model, max_new_tokens=6)
    completion = provider.complete(MESSAGES, "m", temperature=0.8, timeout_s=30)
    assert 1 <= completion.completion_tokens <= 6


def test_the_model_loads_once_for_concurrent_callers(tiny_model: Path) -> None:
    provider = TransformersProvider(tiny_model)
    loaded: list[tuple[object, object]] = []
    threads = [threading.Thread(target=lambda: loaded.append(provider.load())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loaded) == 4
    assert all(pair[0] is loaded[0][0] and pair[1] is loaded[0][1] for pair in loaded)


def test_a_slow_generation_times_out_with_one_line(tiny_model: Path) -> None:
    provider = TransformersProvider(tiny_model, max_new_tokens=900)
    provider.load()
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        provider.complete(MESSAGES, "m", temperature=0, timeout_s=0.2, on_token=lambda _: None)
    message = str(caught.value)
    assert time.monotonic() - started < 1.5
    assert message.startswith(f"transformers at {tiny_model} ")
    assert "timed out after 0.2s" in message
    assert "\n" not in message and SECRET not in message
    # the generation was stopped, so the provider answers the next question at once
    provider.max_new_tokens = 4
    assert provider.complete(MESSAGES, "m", temperature=0, timeout_s=30).completion_tokens > 0


def test_a_folder_without_a_model_is_a_provider_error(tmp_path: Path) -> None:
    provider = TransformersProvider(tmp_path / "nothing-here")
    with pytest.raises(ProviderError) as caught:
        provider.complete(MESSAGES, "m", temperature=0, timeout_s=5)
    assert "expected a Hugging Face model folder" in str(caught.value)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ProviderError) as caught:
        TransformersProvider(broken).complete(MESSAGES, "m", temperature=0, timeout_s=5)
    assert str(caught.value).startswith(f"transformers at {broken} could not load the model")
    assert "\n" not in str(caught.value)


def test_ai_config_selects_the_local_model(tiny_model: Path, tmp_path: Path) -> None:
    chosen = select_provider(
        LLMConfig(provider="transformers", local_model=str(tiny_model), max_new_tokens=7),
        None,
        None,
        None,
    )
    assert isinstance(chosen, TransformersProvider) and chosen.max_new_tokens == 7
    auto = select_provider(LLMConfig(local_model=str(tiny_model)), None, None, None)
    assert isinstance(auto, TransformersProvider)
    ollama_first = select_provider(LLMConfig(local_model=str(tiny_model)), "http://h:1", None, None)
    assert ollama_first is not None and ollama_first.name == "ollama"
    with pytest.raises(ConfigError, match=r"llm\.local_model"):
        select_provider(LLMConfig(provider="transformers"), None, None, None)
    with pytest.raises(ConfigError, match=r"config\.json"):
        select_provider(
            LLMConfig(provider="transformers", local_model=str(tmp_path)), None, None, None
        )


def test_an_in_process_model_answers_even_when_external_llms_are_blocked(
    tiny_model: Path,
) -> None:
    llm = LLMConfig(provider="transformers", local_model=str(tiny_model), max_new_tokens=16)
    engine = Answerer(
        None,
        AnalysisConfig(),
        PromptsConfig(),
        llm,
        PrivacyConfig(external_llm="block"),
        Redactor(),
        provider=TransformersProvider(tiny_model, max_new_tokens=16),
    )
    answer = engine.ask("why does a full GC stall the checkout threads?")
    assert answer.provider == "transformers", answer.notes
    assert answer.model == "tiny-gpt2" and answer.completion_tokens > 0
    assert not any("block" in note for note in answer.notes)
