"""``vigil dataset``: generate, inspect and reset the training datasets."""

from __future__ import annotations

import typer

dataset_app = typer.Typer(
    help="The training datasets: generate, status, retry-failed, reset, summary, export.",
    no_args_is_help=True,
)
