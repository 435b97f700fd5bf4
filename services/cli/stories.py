"""`wirewatch clusters`: the latest stories."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from services.api.names import entity_filter
from services.api.schemas import story_summary
from services.cli.base import JsonOpt, console, run, settings_of, with_runtime
from services.common.keys import Keys
from services.common.redis import open_redis
from services.extractor.aliases import AliasTable
from services.extractor.lookup import AmbiguousName
from services.store.repository import Repository
from services.store.summaries import latest_stories


def stories(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
             entity: Annotated[str | None, typer.Option(help="entity key, full name, surname or any alias")] = None,
             as_json: JsonOpt = False) -> None:
    """The latest story clusters."""
    settings = with_runtime(settings_of(ctx))

    async def go() -> list[dict[str, Any]]:
        async with open_redis(settings) as redis:
            keys = Keys(settings.key_prefix)
            repo = Repository(redis, keys)
            wanted = await entity_filter(AliasTable(redis, keys), entity)
            found = await latest_stories(repo, wanted, limit=limit)
            return [story_summary(story).model_dump(mode="json") for story in found]

    try:
        rows = run(go)
    except AmbiguousName as exc:
        raise typer.BadParameter(str(exc), param_hint="'--entity'") from exc
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("updated", "size", "outlets", "title")
    for row in rows:
        table.add_row(row["last_updated"][:19], str(row["size"]), str(len(row["outlets"])), row["title"][:90])
    console.print(table)
