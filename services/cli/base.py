"""What every command group shares: settings from the context, the running system's addresses, output."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import SecretStr
from rich import box
from rich.console import Console
from rich.table import Column, Table

from services.common.settings import Settings

#: On a terminal, rich fits tables to its width; piped, nothing is wrapped or cut (one row per line, ids whole)
#: and no escape codes are written.
console = Console() if sys.stdout.isatty() else Console(width=100_000, no_color=True, highlight=False)
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for machines")]


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings



def with_runtime(settings: Settings) -> Settings:
    """Fill in broker/Redis addresses (and the SSRF allow-list) from the running `wirewatch up` or `wirewatch
    demo` found in the data directory, where this shell does not configure them; exit 1 naming the directory
    when neither this shell nor a running system says where Redis is."""
    from services.system import read_runtime  # composition root: only needed here

    runtime = read_runtime(Path(settings.data_dir))
    if runtime is None:
        if settings.redis_url is None:
            typer.echo(f"error: no running wirewatch found in {settings.data_dir} (start one with `wirewatch up` or "
                       "`wirewatch demo`; WIREWATCH_DATA_DIR or --data-dir names another, REDIS_URL an external "
                       "Redis)", err=True)
            raise typer.Exit(1)
        return settings
    update: dict[str, Any] = {}
    if settings.redis_url is None:
        update["redis_url"] = SecretStr(runtime["redis_url"])
    if not settings.kafka_bootstrap:
        update["kafka_bootstrap"] = runtime["kafka_bootstrap"]
    # Feeds are fetched once when added: with the running system's allow-list, unless this shell sets one.
    for name in ("allow_networks", "allow_ports"):
        if name not in settings.model_fields_set and name in runtime:
            update[name] = runtime[name]
    # A new Settings, not model_copy: the parsed allow-lists are cached on the instance.
    return Settings.model_validate({**dict(settings), **update})


def table(*headers: str, show_header: bool = True) -> Table:
    """A table for people: its first column (ids, labels) never wraps; without borders when piped."""
    columns = [Column(headers[0], no_wrap=True)] if headers else [Column(no_wrap=True), Column()]
    out = Table(*columns, *headers[1:], show_header=show_header, box=box.SIMPLE_HEAD if show_header else None,
                pad_edge=False)
    if not sys.stdout.isatty():
        out.box = None
    return out


def running_api(settings: Settings) -> str | None:
    """The API URL of the running system found in the data directory, if any."""
    from services.system import read_runtime  # composition root: only needed here

    runtime = read_runtime(Path(settings.data_dir))
    return runtime.get("api_url") if runtime else None


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

