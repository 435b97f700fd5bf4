"""`wirewatch train ...`: learn the store's models from labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.cli.base import settings_of
from services.common.logging import configure_logging

train_app = typer.Typer(help="Learn the store's models from labelled data.", no_args_is_help=True)


@train_app.command("stories")
def train_stories(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="labelled JSON Lines (.gz ok)")],
    out: Annotated[Path | None, typer.Option(help="model JSON to write (default: the one shipped in the package)")]
    = None,
    entities_cache: Annotated[Path | None, typer.Option(help="reuse/keep entity tags in this file")] = None,
    workers: Annotated[int, typer.Option(min=1, help="entity tagging processes")] = 2,
) -> None:
    """Learn the store's join decision from a labelled stream (the same file gives the same model)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.train_stories import SHIPPED_MODEL, require_scikit_learn, train

    require_scikit_learn()
    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    target = out or SHIPPED_MODEL
    with Progress(*columns, console=Console(stderr=True)) as progress:
        model = train(file, settings_of(ctx), out=target, cache=entities_cache, workers=workers, progress=progress)
    typer.echo(f"wrote {target}: {model['rows']} pairs ({model['positives']} positive), "
               f"{len(model['features'])} features; judge it with `wirewatch eval stories FILE --cv 5`")
