"""Local fine-tuning (the origin's custom-training option): a causal language model from a local
Hugging Face model folder, trained on an ``openai-chat`` export with ``transformers`` and,
optionally, LoRA adapters through ``peft`` (merged back before saving). Nothing is downloaded.

The training text of each example is the prompt exactly as the ``transformers`` provider will
build it (``knowledge.llm.transformers.render_chat``), followed by the answer and the end-of-text
token; the loss is on the answer only. The result is a plain model folder with its tokenizer,
usable as ``llm.provider: transformers`` with ``llm.local_model: <folder>``.
"""

from __future__ import annotations

import json
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.llm.base import Message
from knowledge.llm.transformers import render_chat
from training.finetune import FineTuneError, check_chat_line

EVAL_EXAMPLES = 32
"""Examples on which the loss is measured before and after training."""


@dataclass(frozen=True)
class LocalOptions:
    """How to train: ``epochs`` passes over the examples, or exactly ``max_steps`` optimiser
    steps when that is set (cycling through the examples, as Hugging Face's Trainer does)."""

    epochs: int = 1
    max_steps: int | None = None
    lora: bool = True
    learning_rate: float | None = None
    """None: 2e-4 with LoRA, 5e-5 without."""
    batch_size: int = 4
    max_length: int = 512
    lora_rank: int = 8
    seed: int = 0
    threads: int | None = None
    """CPU threads for torch while training (restored after); None: torch's default."""


@dataclass(frozen=True)
class LocalResult:
    """What a local fine-tuning run did and where the model is."""

    output_dir: Path
    examples: int
    steps: int
    first_loss: float
    last_loss: float
    loss_before: float
    """Mean loss on the first ``EVAL_EXAMPLES`` examples before training."""
    loss_after: float
    lora: bool
    trainable_parameters: int
    seconds: float


def read_chat_examples(path: Path) -> list[list[Message]]:
    """The conversations of an ``openai-chat`` JSONL file (checked line by line)."""
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FineTuneError(f"{path}: cannot read it ({exc})") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            messages = check_chat_line(line, f"{path}: line {number}")
            out.append([Message(m["role"], m["content"]) for m in messages])  # type: ignore[arg-type]
    if not out:
        raise FineTuneError(f"{path}: no examples")
    return out


def encode(
    conversation: Sequence[Message], tokenizer: Any, max_length: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels of one conversation: the prompt (everything before the last
    assistant turn, as ``render_chat`` builds it) is masked out of the labels (-100)."""
    prompt = render_chat(conversation[:-1], tokenizer)
    answer = conversation[-1].content.strip() + (tokenizer.eos_token or "")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + answer_ids)[:max_length]
    return ids, labels


def finetune_local(
    train_file: Path,
    base_model: Path,
    output_dir: Path,
    options: LocalOptions = LocalOptions(),
    on_step: Callable[[int, int, float], None] | None = None,
) -> LocalResult:
    """Fine-tune ``base_model`` on ``train_file`` and save the merged model and its tokenizer in
    ``output_dir``. ``on_step(step, steps, loss)`` is called after each step."""
    import torch

    base_model, output_dir = Path(base_model), Path(output_dir)
    if not (base_model / "config.json").is_file():
        raise FineTuneError(
            f"{base_model}: not a Hugging Face model folder (config.json missing); nothing "
            "can be downloaded here, so give a local folder"
        )
    conversations = read_chat_examples(train_file)
    previous_threads = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        return _train(conversations, base_model, output_dir, options, on_step, train_file)
    finally:
        torch.set_num_threads(previous_threads)


def _load(base_model: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(base_model, local_files_only=True)
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise FineTuneError(f"{base_model}: cannot load the model: {reason}") from None
    if getattr(model, "loss_type", "") is None:  # e.g. GPT2LMHeadModel: it is a causal LM
        model.loss_type = "ForCausalLM"
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise FineTuneError(f"{base_model}: the tokenizer has no end-of-text token")
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _with_lora(model: Any, rank: int) -> Any:
    from peft import LoraConfig, get_peft_model
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as KNOWN

    model_type = getattr(model.config, "model_type", "")
    targets = None if model_type in KNOWN else "all-linear"
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.0,
        target_modules=targets,
        fan_in_fan_out=model_type == "gpt2",  # GPT-2 keeps its weights in Conv1D layout
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft asks the model a question transformers 5 renamed; harmless, and not ours to fix
        warnings.filterwarnings(
            "ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning
        )
        return get_peft_model(model, config)


def _batches(
    encoded: list[tuple[list[int], list[int]]], batch_size: int, pad_id: int, rng: random.Random
) -> list[dict[str, Any]]:
    import torch

    order = list(range(len(encoded)))
    rng.shuffle(order)
    out = []
    for start in range(0, len(order), batch_size):
        rows = [encoded[i] for i in order[start : start + batch_size]]
        width = max(len(ids) for ids, _ in rows)
        ids = [r[0] + [pad_id] * (width - len(r[0])) for r in rows]
        labels = [r[1] + [-100] * (width - len(r[1])) for r in rows]
        mask = [[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows]
        out.append(
            {
                "input_ids": torch.tensor(ids),
                "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask),
            }
        )
    return out


def _mean_loss(model: Any, batches: list[dict[str, Any]], device: Any) -> float:
    import torch

    model.eval()
    losses = []
    with torch.no_grad():
        for batch in batches:
            losses.append(float(model(**{k: v.to(device) for k, v in batch.items()}).loss))
    model.train()
    return sum(losses) / len(losses)


def _train(
    conversations: list[list[Message]],
    base_model: Path,
    output_dir: Path,
    options: LocalOptions,
    on_step: Callable[[int, int, float], None] | None,
    train_file: Path,
) -> LocalResult:
    import torch

    started = time.monotonic()
    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    model, tokenizer = _load(base_model)
    limit = min(options.max_length, getattr(model.config, "max_position_embeddings", 1 << 30))
    encoded = [encode(c, tokenizer, limit) for c in conversations]
    encoded = [e for e in encoded if any(label != -100 for label in e[1])]
    if not encoded:
        raise FineTuneError(
            f"{train_file}: no example has answer tokens within --max-length {limit}"
        )
    if options.lora:
        model = _with_lora(model, options.lora_rank)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    rate = options.learning_rate or (2e-4 if options.lora else 5e-5)
    optimiser = torch.optim.AdamW(trainable, lr=rate, weight_decay=0.0)
    per_epoch = math.ceil(len(encoded) / options.batch_size)
    steps = max(1, options.max_steps or options.epochs * per_epoch)
    pad_id = int(tokenizer.pad_token_id)
    probe = _batches(encoded[:EVAL_EXAMPLES], options.batch_size, pad_id, random.Random(0))
    loss_before = _mean_loss(model, probe, device)
    losses: list[float] = []
    batches: list[dict[str, Any]] = []
    for step in range(1, steps + 1):
        if not batches:
            batches = _batches(encoded, options.batch_size, pad_id, rng)
        batch = {k: v.to(device) for k, v in batches.pop(0).items()}
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, steps, losses[-1])
    loss_after = _mean_loss(model, probe, device)
    if options.lora:
        model = model.merge_and_unload()
    output_dir.mkdir(parents=True, exist_ok=True)
    model.to("cpu").save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    result = LocalResult(
        output_dir=output_dir,
        examples=len(encoded),
        steps=steps,
        first_loss=losses[0],
        last_loss=losses[-1],
        loss_before=loss_before,
        loss_after=loss_after,
        lora=options.lora,
        trainable_parameters=sum(p.numel() for p in trainable),
        seconds=time.monotonic() - started,
    )
    info = {
        **{k: v for k, v in asdict(result).items() if k != "output_dir"},
        "base_model": str(base_model),
        "training_file": str(train_file),
        "learning_rate": rate,
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (output_dir / "vigil_finetune.json").write_text(json.dumps(info, indent=1) + "\n")
    return result
