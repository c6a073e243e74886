"""The transformers provider: a chat completion from a local Hugging Face model folder, run
in-process with the ``transformers`` library (no server, nothing leaves the machine).

The model is loaded once, lazily, on the first completion (thread-safe); generations run one at
a time. Every completion streams through ``TextIteratorStreamer``, so ``on_token`` sees the text
as it is made and the deadline is enforced while generating. Every failure comes out as one
``ProviderError`` naming the provider, the folder and the reason, never the messages sent.

The folder needs ``config.json``, the weights and a tokenizer, as ``save_pretrained`` writes them
(``vigil finetune start --provider local`` does). Nothing is downloaded: loading is offline.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from knowledge.errors import ProviderError
from knowledge.llm.base import Completion, Message, OnToken, scrub
from knowledge.llm.usage import USAGE

PLAIN_HEADINGS = {"system": "### System:", "user": "### User:", "assistant": "### Assistant:"}
"""The turn headings of Vigil's plain chat format, used when the tokenizer has no chat
template (a base model, or one ``vigil finetune`` trained from one)."""


def render_chat(messages: Sequence[Message], tokenizer: Any) -> str:
    """The prompt for ``messages``, ending where the assistant's answer starts: the tokenizer's
    own chat template when it has one, else Vigil's plain format (``### User:`` ... headings).
    Local fine-tuning formats its training text with this same function."""
    if getattr(tokenizer, "chat_template", None):
        payload = [{"role": m.role, "content": m.content} for m in messages]
        text = tokenizer.apply_chat_template(payload, tokenize=False, add_generation_prompt=True)
        return str(text)
    parts = [f"{PLAIN_HEADINGS[m.role]}\n{m.content.strip()}\n\n" for m in messages]
    return "".join(parts) + PLAIN_HEADINGS["assistant"] + "\n"


class TransformersProvider:
    """``complete`` with the causal language model in ``model_dir``.

    The ``model`` argument of ``complete`` (the routing tier's model name) is ignored: this
    provider serves one model, named after its folder in the ``Completion``. ``device``: ``cuda``
    when available, else ``cpu``, unless given.
    """

    name = "transformers"

    def __init__(
        self, model_dir: str | Path, *, max_new_tokens: int = 512, device: str | None = None
    ) -> None:
        self.model_dir = Path(model_dir)
        self.max_new_tokens = max_new_tokens
        self.device = device
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"TransformersProvider(model_dir={str(self.model_dir)!r})"

    @property
    def model_name(self) -> str:
        return self.model_dir.name or str(self.model_dir)

    def load(self) -> tuple[Any, Any]:
        """The ``(model, tokenizer)`` pair, loaded on the first call only (other threads wait
        for that load and get the same objects)."""
        if self._loaded is not None:
            return self._loaded
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> tuple[Any, Any]:
        if not (self.model_dir / "config.json").is_file():
            raise self._error("has no model: expected a Hugging Face model folder (config.json)")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a bar per load is noise in the bot's output
            tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            model: Any = AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True)
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model.to(device)
            model.eval()
        except ProviderError:
            raise
        except Exception as exc:  # OSError, ValueError, ImportError ... from the library
            raise self._error(f"could not load the model: {scrub(str(exc), [])}") from exc
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
            tokenizer.pad_token = tokenizer.eos_token
        return model, tokenizer

    def complete(
        self,
        messages: Sequence[Message],
        model: str,
        *,
        temperature: float,
        timeout_s: float,
        on_token: OnToken | None = None,
    ) -> Completion:
        deadline = time.monotonic() + timeout_s
        lm, tokenizer = self.load()
        secrets = [m.content for m in messages]
        try:
            prompt = render_chat(messages, tokenizer)
            inputs = tokenizer(prompt, return_tensors="pt").to(lm.device)
        except Exception as exc:
            reason = f"could not encode the prompt ({type(exc).__name__})"
            raise self._error(reason) from exc
        prompt_tokens = int(inputs["input_ids"].shape[1])
        if not self._generate_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise self._error(f"timed out after {timeout_s:g}s (busy with another answer)")
        try:
            text, completion_tokens = self._generate(
                lm, tokenizer, inputs, temperature, deadline, timeout_s, on_token, secrets
            )
        finally:
            self._generate_lock.release()
        return USAGE.record(
            self.name,
            Completion(
                text=text,
                model=self.model_name,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            ),
        )

    def _generate(
        self,
        lm: Any,
        tokenizer: Any,
        inputs: Any,
        temperature: float,
        deadline: float,
        timeout_s: float,
        on_token: OnToken | None,
        secrets: list[str],
    ) -> tuple[str, int]:
        from transformers import (
            GenerationConfig,
            StoppingCriteria,
            StoppingCriteriaList,
            TextIteratorStreamer,
        )

        stop = threading.Event()  # set: the generation ends at its next token
        timed_out = threading.Event()

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                if time.monotonic() > deadline:
                    timed_out.set()
                done = stop.is_set() or timed_out.is_set()
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool)

        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": 0.95}
            if temperature > 0
            else {"do_sample": False}
        )
        config = GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sampling,
        )
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                import torch

                with torch.inference_mode():
                    outcome["ids"] = lm.generate(
                        **inputs,
                        generation_config=config,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Stop()]),
                    )
            except Exception as exc:  # reported to the caller below
                outcome["error"] = exc
                streamer.end()

        worker = threading.Thread(target=run, name="transformers-generate", daemon=True)
        worker.start()
        pieces: list[str] = []
        try:
            while True:
                remaining = deadline - time.monotonic()
                streamer.timeout = max(0.01, remaining)
                try:
                    piece = next(streamer)
                except StopIteration:
                    break
                except queue.Empty:
                    if remaining <= 0:
                        timed_out.set()
                        raise self._error(f"timed out after {timeout_s:g}s") from None
                    continue
                if piece:
                    pieces.append(piece)
                    if on_token is not None:
                        on_token(piece)  # the caller's errors stay theirs
        finally:
            stop.set()  # the caller gave up (or raised): let the generation end too
            worker.join()
        if "error" in outcome:
            exc = outcome["error"]
            reason = f"failed while generating: {type(exc).__name__}: {scrub(str(exc), secrets)}"
            raise self._error(reason) from exc
        if timed_out.is_set():
            raise self._error(f"timed out after {timeout_s:g}s")
        completion_tokens = int(outcome["ids"].shape[1]) - int(inputs["input_ids"].shape[1])
        return "".join(pieces), max(0, completion_tokens)

    def _error(self, reason: str) -> ProviderError:
        return ProviderError(f"{self.name} at {self.model_dir} {reason}")
