"""`wirewatch articles`: the latest stored articles, and `articles show ID`: one article in full."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from services.api.paging import BATCH, latest_page
from services.api.schemas import article_public, article_summary
from services.cli.base import JsonOpt, console, plain, run, settings_of, table, with_runtime
from services.common.keys import Keys
from services.common.redis import open_redis
from services.store.repository import Repository

articles_app = typer.Typer(help="The latest stored articles; `articles show ID` for one.",
                           invoke_without_command=True)


@articles_app.callback()
def articles(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    outlet: Annotated[str | None, typer.Option(help="only this outlet's articles (its name)")] = None,
    since: Annotated[datetime | None, typer.Option(help="only articles stored at or after this time (ISO 8601)",
                                                   formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S",
                                                            "%Y-%m-%d"])] = None,
    as_json: JsonOpt = False,
) -> None:
    """The latest stored articles, newest first (full ids: `articles show ID`)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = with_runtime(settings_of(ctx))
    after = since.timestamp() if since else None  # a time without a zone is the machine's local time

    async def go() -> list[dict[str, Any]]:
        async with open_redis(settings) as redis:
            repo = Repository(redis, Keys(settings.key_prefix))
            found, _ = await latest_page(
                fetch_ids=lambda before: repo.recent_article_times(limit=BATCH, since=after, before=before),
                load=repo.articles, stamp=lambda a: a.stored_at.timestamp(),
                keep=lambda a: outlet is None or a.outlet == outlet, limit=limit, cursor=None)
            return [article_summary(a).model_dump(mode="json") for a in found]

    rows = run(go)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    out = table("id", "stored", "outlet", "story", "title")
    for row in rows:
        out.add_row(row["id"], row["stored_at"][:19], plain(row["outlet"]), row["cluster_id"], plain(row["title"]))
    console.print(out)


@articles_app.command("show")
def show_article(ctx: typer.Context, article_id: Annotated[str, typer.Argument(help="article id (see `articles`)")],
                 as_json: JsonOpt = False) -> None:
    """One article: metadata, entities, its story, and its text."""
    settings = with_runtime(settings_of(ctx))

    async def go() -> dict[str, Any] | None:
        async with open_redis(settings) as redis:
            article = await Repository(redis, Keys(settings.key_prefix)).article(article_id)
            return None if article is None else article_public(article).model_dump(mode="json")

    article = run(go)
    if article is None:
        typer.echo(f"error: no article {article_id!r} (see `wirewatch articles`)", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(article))
        return
    facts = table(show_header=False)
    for label, value in (("id", article["id"]), ("title", article["title"]), ("outlet", article["outlet"]),
                         ("url", article["url"]), ("published", article["published_at"]),
                         ("stored", article["stored_at"]), ("language", article["language"]),
                         ("story", article["cluster_id"]), ("copy of", article["copy_of"]),
                         ("revision", article["revision"]),
                         ("entities", ", ".join(e["name"] for e in article["entities"]))):
        facts.add_row(label, plain("-" if value in (None, "") else str(value)))
    console.print(facts)
    console.print()
    console.print(plain(article["text"]))
