"""Fine-tuning: the file checks, the OpenAI file and fine-tuning endpoints through the real
``openai`` client against a loopback stand-in, and local training of a tiny GPT-2-style model
(full and LoRA) whose saved folder the transformers provider then serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.llm.base import Message
from knowledge.llm.transformers import TransformersProvider
from tests.knowledge.tiny_model import build_tiny_model
from tests.standins import openai_api
from training.finetune import (
    FineTuneError,
    JobBook,
    OpenAIFineTuning,
    check_chat_file,
    config_snippet,
    refresh,
    start_openai_job,
)
from training.local_finetune import LocalOptions, finetune_local

KEY = "sk-test-finetune-0123456789"
FACTS = [
    ("What does vemkd do?", "vemkd is the EGO master daemon that gives slots to consumers."),
    ("Why does a full GC stall threads?", "A full GC stops all threads to compact the heap."),
    ("What is a Splunk saved search?", "A saved search runs SPL on a schedule and can alert."),
    ("What is an error budget?", "It is the unreliability an SLO allows over its window."),
]


def chat_lines(count: int) -> list[str]:
    out = []
    for i in range(count):
        question, answer = FACTS[i % len(FACTS)]
        messages = [
            {"role": "system", "content": "You are Vigil."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
        out.append(json.dumps({"messages": messages}))
    return out


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(chat_lines(12)) + "\n")
    return path


# --- the file ------------------------------------------------------------------------------


def test_chat_file_checks_name_the_line(tmp_path: Path, train_file: Path) -> None:
    assert check_chat_file(train_file) == 12
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(chat_lines(9)))
    with pytest.raises(FineTuneError, match="9 example\\(s\\); fine-tuning needs at least 10"):
        check_chat_file(few)
    cases = {
        "not json": "line 3: not valid JSON",
        json.dumps({"prompt": "x"}): "line 3: expected an object with a non-empty 'messages'",
        json.dumps({"messages": [{"role": "bot", "content": "x"}]}): "messages[0]: 'role'",
        json.dumps({"messages": [{"role": "user", "content": " "}]}): "'content' must be",
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}): "the last message",
    }
    for bad, expected in cases.items():
        path = tmp_path / "bad.jsonl"
        path.write_text("\n".join([*chat_lines(2), bad, *chat_lines(10)]))
        with pytest.raises(FineTuneError) as caught:
            check_chat_file(path)
        assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value)


# --- OpenAI ----------------------------------------------------------------------------------


def test_openai_job_from_upload_to_ft_model(train_file: Path, tmp_path: Path) -> None:
    data = train_file.read_bytes()
    with openai_api.serve(api_key=KEY) as server:
        api = OpenAIFineTuning(KEY, server.url)
        record = start_openai_job(
            api, data, "train.jsonl", training_file=train_file, model=openai_api.FINE_TUNABLE_MODEL
        )
        assert record.status == "validating_files" and record.file_id in server.files
        upload = server.files[record.file_id]
        assert upload.content == data and upload.purpose == "fine-tune"
        assert upload.filename == "train.jsonl"
        created = [r for r in server.requests if r.path == "/v1/fine_tuning/jobs"]
        assert created[0].body["training_file"] == record.file_id
        assert created[0].body["model"] == openai_api.FINE_TUNABLE_MODEL
        statuses = [refresh(record, api).status for _ in range(3)]
        events = api.events(record.id)
        api.close()
    assert statuses == ["queued", "running", "succeeded"]
    assert record.fine_tuned_model.startswith(f"ft:{openai_api.FINE_TUNABLE_MODEL}:")
    assert record.details["trained_tokens"] > 0
    assert [e.message for e in events][-1] == "The job has successfully completed"
    snippet = config_snippet(record)
    assert "provider: openai" in snippet and f'simple: "{record.fine_tuned_model}"' in snippet

    book = JobBook(tmp_path / "finetune_jobs.json")
    book.put(record)
    book.put(record)
    assert [j.id for j in book.all()] == [record.id]
    assert book.get(None) == record and book.get("nope") is None


def test_openai_failures_are_one_line_without_the_key(train_file: Path) -> None:
    data = train_file.read_bytes()
    with openai_api.serve(api_key=KEY, job_outcome="failed") as server:
        wrong = OpenAIFineTuning("sk-test-wrong-key-987654321", server.url)
        with pytest.raises(FineTuneError) as caught:
            wrong.upload(data, "train.jsonl")
        assert "rejected the API key (HTTP 401)" in str(caught.value)
        assert "987654321" not in str(caught.value)

        api = OpenAIFineTuning(KEY, server.url)
        with pytest.raises(FineTuneError) as caught:
            start_openai_job(api, data, "t.jsonl", training_file=train_file, model="gpt-9")
        message = str(caught.value)
        assert message.startswith(f"OpenAI at {server.url}")
        assert "refused to create the fine-tuning job (HTTP 400)" in message
        assert "gpt-9 is not available for fine-tuning" in message and "\n" not in message

        record = start_openai_job(
            api, data, "t.jsonl", training_file=train_file, model=openai_api.FINE_TUNABLE_MODEL
        )
        for _ in range(3):
            refresh(record, api)
        with pytest.raises(FineTuneError, match="No such fine-tuning job"):
            api.job("ftjob-missing")
        api.close()
    assert record.status == "failed" and "invalid training file" in record.error
    assert not record.fine_tuned_model


# --- local -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = [text for pair in FACTS for text in pair]
    return build_tiny_model(tmp_path_factory.mktemp("base") / "tiny-base", corpus, positions=256)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_local_finetuning_lowers_the_loss_and_saves_a_servable_model(
    tiny_model: Path, train_file: Path, tmp_path: Path, lora: bool
) -> None:
    import torch
    from safetensors.torch import load_file

    threads = torch.get_num_threads()
    steps: list[tuple[int, float]] = []
    options = LocalOptions(
        max_steps=12, lora=lora, learning_rate=1e-2 if lora else 3e-3, threads=1, batch_size=4
    )
    result = finetune_local(
        train_file,
        tiny_model,
        tmp_path / "out",
        options,
        on_step=lambda step, total, loss: steps.append((step, loss)),
    )
    print(
        f"\nlocal {'LoRA' if lora else 'full'}: {result.steps} steps in {result.seconds:.2f} s, "
        f"eval loss {result.loss_before:.3f} -> {result.loss_after:.3f}, "
        f"train loss {result.first_loss:.3f} -> {result.last_loss:.3f}, "
        f"{result.trainable_parameters:,} trainable parameters"
    )
    assert torch.get_num_threads() == threads  # restored
    assert [s for s, _ in steps] == list(range(1, 13)) and result.steps == 12
    assert result.loss_after < result.loss_before
    assert result.first_loss == steps[0][1] and result.last_loss == steps[-1][1]

    out = result.output_dir
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    info = json.loads((out / "vigil_finetune.json").read_text())
    assert info["base_model"] == str(tiny_model) and info["lora"] is lora
    base = load_file(str(tiny_model / "model.safetensors"))
    tuned = load_file(str(out / "model.safetensors"))
    assert not any("lora" in name for name in tuned)  # adapters merged into plain weights
    assert set(tuned) == set(base)
    attention = "transformer.h.0.attn.c_attn.weight"
    assert not torch.equal(base[attention], tuned[attention])

    provider = TransformersProvider(out, max_new_tokens=8)
    question = [Message("system", "You are Vigil."), Message("user", FACTS[0][0])]
    completion = provider.complete(question, "local", temperature=0, timeout_s=30)
    assert completion.model == "out" and completion.completion_tokens > 0


def test_local_finetuning_needs_a_model_folder(train_file: Path, tmp_path: Path) -> None:
    with pytest.raises(FineTuneError, match="not a Hugging Face model folder"):
        finetune_local(train_file, tmp_path / "gpt2", tmp_path / "out")
    assert not (tmp_path / "out").exists()
