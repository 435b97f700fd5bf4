"""`wirewatch entities ...`: find an entity by any name and see what the alias table learned for it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from services.api.schemas import AliasCount, EntityMatch
from services.cli.base import JsonOpt, console, plain, run, settings_of, table, with_runtime
from services.common.keys import Keys
from services.common.redis import open_redis
from services.extractor.aliases import AliasTable
from services.extractor.lookup import AmbiguousName
from services.store.repository import Repository
from services.store.summaries import stories_naming

entities_app = typer.Typer(help="Entities (people, organisations, places) as the alias table knows them.",
                           no_args_is_help=True)

#: Entity postings read for `show`: as GET /v1/entities/{key}.
SHOW_SCAN = 1000


@entities_app.command("show")
def entities_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="entity key (person:qassem soleimani), full name, surname or alias")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="latest stories to list")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """An entity's key, name, articles, the aliases learned for it (with the articles that used each) and its
    latest stories; an ambiguous name lists the entities it may stand for."""
    settings = with_runtime(settings_of(ctx))

    async def go() -> dict[str, Any] | None:
        async with open_redis(settings) as redis:
            keys = Keys(settings.key_prefix)
            table = AliasTable(redis, keys)
            found = await table.lookup(name)
            if found.ambiguous:
                raise AmbiguousName(found)
            if found.key is None:
                return None
            counts = await table.aliases_with_counts(found.key)
            stories = await stories_naming(Repository(redis, keys), await table.keys_of(found.key), limit=limit,
                                           scan=SHOW_SCAN, batch=limit)
            return {"key": found.key, "requested": name, "name": await table.display_name(found.key),
                    "articles": await table.articles(found.key),
                    "aliases": [AliasCount(alias=c.alias, articles=c.articles).model_dump() for c in counts],
                    "clusters": [{"id": s.id, "title": s.title, "size": s.size,
                                  "last_updated": s.last_updated.isoformat()} for s in stories]}

    try:
        entity = run(go)
    except AmbiguousName as exc:
        raise typer.BadParameter(str(exc), param_hint="NAME") from exc
    if entity is None:
        typer.echo(f"error: no entity {name!r}: no key, name or alias known "
                   "(see `wirewatch entities search PREFIX`)", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(entity))
        return
    console.print(f"[bold]{plain(entity['name'] or entity['key'])}[/bold]  {plain(entity['key'])}  "
                  f"({entity['articles']} articles)")
    aliases = table("alias", "articles")
    for row in entity["aliases"]:
        aliases.add_row(plain(row["alias"]), str(row["articles"]))
    console.print(aliases if entity["aliases"] else "no aliases learned")
    for story in entity["clusters"]:
        console.print(f"  {story['last_updated'][:19]}  {story['size']:>3}  {plain(story['title'][:90])}")


@entities_app.command("search")
def entities_search(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="the start of a name or of a word of it")],
    limit: Annotated[int, typer.Option(min=1, max=50)] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Entities whose name, or a word of it onwards, starts with PREFIX, most articles first."""
    settings = with_runtime(settings_of(ctx))

    async def go() -> list[dict[str, Any]]:
        async with open_redis(settings) as redis:
            found = await AliasTable(redis, Keys(settings.key_prefix)).search(prefix, limit=limit)
            return [EntityMatch(key=c.key, name=c.name, articles=c.articles).model_dump() for c in found]

    rows = run(go)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    found = table("key", "name", "articles")
    for row in rows:
        found.add_row(plain(row["key"]), plain(row["name"] or ""), str(row["articles"]))
    console.print(found)
