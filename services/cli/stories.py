"""`wirewatch clusters`: the latest stories."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from services.api.schemas import story_summary
from services.cli.base import JsonOpt, console, run, settings_of, with_runtime
from services.common.keys import Keys
from services.common.redis import open_redis
from services.store.repository import Repository
from services.store.summaries import StoryFilter, latest_stories


def stories(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
             entity: Annotated[str | None, typer.Option(help="entity key or name")] = None,
             as_json: JsonOpt = False) -> None:
    """The latest story clusters."""
    settings = with_runtime(settings_of(ctx))

    async def go() -> list[dict[str, Any]]:
        async with open_redis(settings) as redis:
            repo = Repository(redis, Keys(settings.key_prefix))
            found = await latest_stories(repo, StoryFilter(entity=entity), limit=limit)
            return [story_summary(story).model_dump(mode="json") for story in found]

    rows = run(go)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("updated", "size", "outlets", "title")
    for row in rows:
        table.add_row(row["last_updated"][:19], str(row["size"]), str(len(row["outlets"])), row["title"][:90])
    console.print(table)
