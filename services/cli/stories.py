"""`wirewatch clusters`: the latest stories, and `clusters show ID`: one story with its members."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from services.api.names import entity_filter
from services.api.schemas import story_public, story_summary
from services.cli.base import JsonOpt, console, plain, run, settings_of, table, with_runtime
from services.common.keys import Keys
from services.common.redis import open_redis
from services.extractor.aliases import AliasTable
from services.extractor.lookup import AmbiguousName
from services.store.repository import Repository
from services.store.summaries import latest_stories

clusters_app = typer.Typer(help="The latest stories (story clusters); `clusters show ID` for one.",
                           invoke_without_command=True)


@clusters_app.callback()
def stories(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
            entity: Annotated[str | None, typer.Option(help="entity key, full name, surname or any alias")] = None,
            as_json: JsonOpt = False) -> None:
    """The latest story clusters, most recently updated first (full ids: `clusters show ID`)."""
    if ctx.invoked_subcommand is not None:
        return
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
    out = table("id", "updated", "size", "outlets", "title")
    for row in rows:
        out.add_row(row["id"], row["last_updated"][:19], str(row["size"]), str(len(row["outlets"])),
                    plain(row["title"]))
    console.print(out)


@clusters_app.command("show")
def show_story(ctx: typer.Context, story_id: Annotated[str, typer.Argument(help="story id (see `clusters`)")],
               as_json: JsonOpt = False) -> None:
    """One story: its outlets, entities and members (each original followed by its copies)."""
    settings = with_runtime(settings_of(ctx))

    async def go() -> dict[str, Any] | None:
        async with open_redis(settings) as redis:
            story = await Repository(redis, Keys(settings.key_prefix)).story(story_id)
            return None if story is None else story_public(story).model_dump(mode="json")

    story = run(go)
    if story is None:
        typer.echo(f"error: no story {story_id!r} (see `wirewatch clusters`)", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(story))
        return
    facts = table(show_header=False)
    for label, value in (("id", story["id"]), ("title", story["title"]), ("first seen", story["first_seen"][:19]),
                         ("updated", story["last_updated"][:19]), ("size", story["size"]),
                         ("outlets", ", ".join(story["outlets"])), ("entities", ", ".join(story["entities"]))):
        facts.add_row(label, plain(str(value)))
    console.print(facts)
    members = table("article", "outlet", "published", "copy of", "title")
    for member in story["members"]:
        members.add_row(member["id"], plain(member["outlet"]), (member.get("published_at") or "-")[:19],
                        member.get("copy_of") or "", plain(member["title"]))
    console.print(members)
