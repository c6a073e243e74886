"""``vigil finetune``, and ``vigil dataset export`` / ``from-incidents``: fine-tuning data and
jobs."""

from __future__ import annotations

import typer

from bot.cli_dataset import dataset_app  # noqa: F401 (export and from-incidents are added to it)

finetune_app = typer.Typer(
    help="Fine-tune a model on the datasets: through the OpenAI API or locally.",
    no_args_is_help=True,
)
