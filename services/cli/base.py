"""What every command group shares: settings from the context, the running system's addresses, output."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import SecretStr
from rich.console import Console

from services.common.settings import Settings

console = Console()
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for machines")]


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings



def with_runtime(settings: Settings) -> Settings:
    """Fill in broker/Redis addresses from a running `wirewatch up` when not configured."""
    from services.system import read_runtime  # composition root: only needed here

    runtime = read_runtime(Path(settings.data_dir))
    if runtime is None:
        return settings
    update: dict[str, Any] = {}
    if settings.redis_url is None:
        update["redis_url"] = SecretStr(runtime["redis_url"])
    if not settings.kafka_bootstrap:
        update["kafka_bootstrap"] = runtime["kafka_bootstrap"]
    return settings.model_copy(update=update)


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc



def plain(text: str) -> str:
    """`text` with rich markup escaped: names and URLs come from feeds and OPML files, not from us."""
    from rich.markup import escape

    return escape(text)

