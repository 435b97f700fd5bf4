"""`wirewatch feeds ...`: register, inspect, pause, import and export feeds."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from services.api.schemas import feed_import_result, feed_public
from services.cli.base import JsonOpt, T, console, plain, run, settings_of, with_runtime
from services.common.errors import InvalidUrl
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings
from services.fetcher.registry import FeedRegistry, feeds_opml

feeds_app = typer.Typer(help="Register and inspect feeds.", no_args_is_help=True)


@feeds_app.command("add")
def feeds_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="the feed's URL, or a site's page that advertises its feed")],
    name: Annotated[str | None, typer.Option("--name", help="outlet name (default: the feed's own title, "
                                                            "else the site's host)")] = None,
    force: Annotated[bool, typer.Option("--force", help="register even if the URL cannot be fetched or read as "
                                                        "a feed today (a feed that is down)")] = False,
    discover: Annotated[bool, typer.Option("--discover", hidden=True,
                                           help="kept for old scripts: pages are always discovered now")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a feed after fetching it once: named by its own title, a page registers the feed it advertises,
    anything else is refused with the reason. New feeds are polled at once."""
    from services.api.registration import RegistrationRefused, register_feed, registered_public

    settings = with_runtime(settings_of(ctx))

    async def go() -> tuple[dict[str, Any], str | None]:
        async with open_redis(settings) as redis:
            registry = FeedRegistry(redis, Keys(settings.key_prefix))
            registration = await register_feed(registry, settings, url, name=name, force=force)
            return (await registered_public(registry, registration)).model_dump(mode="json"), registration.message

    try:
        feed, message = run(go)
    except InvalidUrl as exc:
        typer.echo(f"error: invalid feed URL: {exc}", err=True)
        raise typer.Exit(1) from exc
    except RegistrationRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(feed))
        return
    typer.echo(f"{feed['id']}  {message}")
    if feed["warning"]:
        typer.echo(f"warning: registered although {feed['warning']}", err=True)
    for other in feed["other_feeds"]:
        typer.echo(f"  the page also advertises {other}")


@feeds_app.command("discover")
def feeds_discover(ctx: typer.Context, url: str, as_json: JsonOpt = False) -> None:
    """List the feeds a site's page advertises (or the URL itself, when it is a feed); registers nothing."""
    found = _discover(with_runtime(settings_of(ctx)), url)
    if as_json:
        typer.echo(json.dumps(found))
        return
    for feed_url in found:
        typer.echo(feed_url)


@feeds_app.command("list")
def feeds_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List feeds with their health."""
    settings = with_runtime(settings_of(ctx))

    async def go() -> list[dict[str, Any]]:
        async with open_redis(settings) as redis:
            registry = FeedRegistry(redis, Keys(settings.key_prefix))
            return [feed_public(f, await registry.state(f.id)).model_dump(mode="json") for f in await registry.all()]

    rows = run(go)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "name", "category", "url", "state", "last status", "items", "error")
    for row in rows:
        h = row["health"]
        table.add_row(row["id"], plain(row["name"]), plain(row["category"] or ""), plain(row["url"]),
                      "paused" if row["paused"] else "active", str(h["last_status"] or "-"), str(h["items_total"]),
                      plain(h["last_error"] or ""))
    console.print(table)


@feeds_app.command("show")
def feeds_show(ctx: typer.Context, feed: Annotated[str, typer.Argument(help="feed id (or its URL)")],
               as_json: JsonOpt = False) -> None:
    """One feed in detail: what it is, where it came from, and its health."""
    settings = with_runtime(settings_of(ctx))

    async def go(registry: FeedRegistry) -> dict[str, Any] | None:
        found = await registry.find(feed)
        return None if found is None else feed_public(found, await registry.state(found.id)).model_dump(mode="json")

    row = _known_feed(feed, _with_registry(settings, go))
    if as_json:
        typer.echo(json.dumps(row))
        return
    h = row["health"]
    table = Table(show_header=False, box=None)
    for label, value in (
        ("id", row["id"]), ("name", row["name"]), ("title", row["title"]), ("url", row["url"]),
        ("site", row["html_url"]), ("category", row["category"]), ("added", row["added_at"][:19]),
        ("state", "paused" if row["paused"] else "active"), ("last poll", h["last_poll"]),
        ("last success", h["last_success"]), ("last status", h["last_status"]), ("last error", h["last_error"]),
        ("consecutive errors", h["consecutive_errors"]), ("items", h["items_total"]),
        ("items per day", h["items_per_day"]), ("next poll", h["next_poll"]),
    ):
        table.add_row(label, plain("-" if value is None or value == "" else str(value)))
    console.print(table)


@feeds_app.command("pause")
def feeds_pause(ctx: typer.Context, feed: Annotated[str, typer.Argument(help="feed id (or its URL)")],
                as_json: JsonOpt = False) -> None:
    """Stop polling a feed until it is resumed (its health and articles stay)."""
    _pause_or_resume(ctx, feed, pause=True, as_json=as_json)


@feeds_app.command("resume")
def feeds_resume(ctx: typer.Context, feed: Annotated[str, typer.Argument(help="feed id (or its URL)")],
                 as_json: JsonOpt = False) -> None:
    """Poll a paused feed again, the first time at once."""
    _pause_or_resume(ctx, feed, pause=False, as_json=as_json)


@feeds_app.command("remove")
def feeds_remove(ctx: typer.Context, feed: Annotated[str, typer.Argument(help="feed id (or its URL)")],
                 as_json: JsonOpt = False) -> None:
    """Unregister a feed."""
    settings = with_runtime(settings_of(ctx))

    async def go(registry: FeedRegistry) -> str | None:
        found = await registry.find(feed)
        return found.id if found is not None and await registry.remove(found.id) else None

    removed = _known_feed(feed, _with_registry(settings, go))
    if as_json:
        typer.echo(json.dumps({"removed": removed}))
    else:
        console.print(f"removed feed {removed}")


@feeds_app.command("import")
def feeds_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="an OPML file")],
    as_json: JsonOpt = False,
) -> None:
    """Register every feed of an OPML file, keeping names, titles, site URLs and folders (as categories)."""
    from services.fetcher.opml import MAX_OPML_BYTES, InvalidOpml

    settings = with_runtime(settings_of(ctx))
    if file.stat().st_size > MAX_OPML_BYTES:
        typer.echo(f"error: {file} is over the OPML limit of {MAX_OPML_BYTES} bytes", err=True)
        raise typer.Exit(1)
    data = file.read_bytes()

    async def go(registry: FeedRegistry) -> dict[str, Any]:
        return feed_import_result(await registry.import_opml(data)).model_dump(mode="json")

    try:
        result = _with_registry(settings, go)
    except InvalidOpml as exc:
        typer.echo(f"error: invalid OPML in {file}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(f"imported {plain(str(file))}: {result['added']} added, {result['existing']} already registered, "
                  f"{result['invalid']} invalid")
    for error in result["errors"]:
        console.print(f"  skipped {plain(error['url'] or '(empty URL)')}: {plain(error['error'])}")


@feeds_app.command("export")
def feeds_export(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False,
                                                help="write the OPML here (default: standard output)")] = None,
) -> None:
    """Print (or write) every feed as an OPML 2.0 document, nested in folders by category."""
    settings = with_runtime(settings_of(ctx))

    async def go(registry: FeedRegistry) -> tuple[bytes, int]:
        feeds = await registry.all()
        return feeds_opml(feeds), len(feeds)

    document, count = _with_registry(settings, go)
    if output is None:
        typer.echo(document.decode("utf-8"), nl=False)
        return
    try:
        output.write_bytes(document)
    except OSError as exc:
        typer.echo(f"error: cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    console.print(f"exported {count} feeds to {plain(str(output))}")


def _with_registry(settings: Settings, work: Callable[[FeedRegistry], Awaitable[T]]) -> T:
    """Run `work` with a feed registry on the configured Redis."""

    async def go() -> T:
        async with open_redis(settings) as redis:
            return await work(FeedRegistry(redis, Keys(settings.key_prefix)))

    return run(go)


def _known_feed(ref: str, found: T | None) -> T:
    """`found`, or exit 1 with a clear message naming the unknown feed."""
    if found is None:
        typer.echo(f"error: no feed {ref!r} (see `wirewatch feeds list`)", err=True)
        raise typer.Exit(1)
    return found


def _pause_or_resume(ctx: typer.Context, ref: str, *, pause: bool, as_json: bool) -> None:
    settings = with_runtime(settings_of(ctx))

    async def go(registry: FeedRegistry) -> dict[str, Any] | None:
        found = await registry.find(ref)
        if found is None:
            return None
        changed = await (registry.pause(found.id) if pause else registry.resume(found.id))
        if changed is None:
            return None
        return feed_public(changed, await registry.state(changed.id)).model_dump(mode="json")

    row = _known_feed(ref, _with_registry(settings, go))
    if as_json:
        typer.echo(json.dumps(row))
    elif pause:
        console.print(f"paused feed [bold]{row['id']}[/bold] {plain(row['url'])}: not polled until resumed")
    else:
        console.print(f"resumed feed [bold]{row['id']}[/bold] {plain(row['url'])}: polled again from now")


def _discover(settings: Settings, url: str) -> list[str]:
    """The feeds behind `url` (services.fetcher.discovery), or exit 1 with the reason there are none."""
    from services.common.errors import WirewatchError
    from services.common.http import SafeHttpClient
    from services.fetcher.discovery import discover_feeds

    async def go() -> list[str]:
        async with SafeHttpClient.from_settings(settings) as http:
            return await discover_feeds(http, url, max_bytes=settings.max_page_bytes)

    try:
        found = run(go)
    except WirewatchError as exc:
        typer.echo(f"error: cannot discover feeds at {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not found:
        typer.echo(f"error: {url} advertises no feed (no <link rel=\"alternate\"> to RSS, Atom or JSON Feed)",
                   err=True)
        raise typer.Exit(1)
    return found

