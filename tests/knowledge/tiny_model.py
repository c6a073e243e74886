"""A tiny causal LM built offline for tests: a 2-layer GPT-2 and a byte-level BPE tokenizer
trained on a few sentences, saved as a Hugging Face model folder (nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

CORPUS = (
    "The JVM heap grows until a full GC stops every application thread for seconds.",
    "vemkd is the EGO master daemon; it allocates slots to consumers in resource groups.",
    "A Splunk saved search runs SPL on a schedule and can trigger an alert.",
    "HikariCP reports connection is not available when the pool is exhausted.",
    "Burn rate is how fast the error budget is spent relative to the SLO window.",
)


def build_tiny_model(folder: Path, corpus: Sequence[str] = CORPUS, positions: int = 1024) -> Path:
    """Save a 2-layer GPT-2 (n_embd 48) with a byte-level BPE tokenizer trained on ``corpus``
    in ``folder``, as ``save_pretrained`` writes a Hugging Face model folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    eos = "<|endoftext|>"
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[eos],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(list(corpus), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token=eos, bos_token=eos, pad_token=eos
    )
    config = GPT2Config(
        vocab_size=bpe.get_vocab_size(),
        n_positions=positions,
        n_embd=48,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
