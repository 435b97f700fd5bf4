"""`wirewatch subscriptions ...`: follow stories; matches are sent as signed webhooks."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from services.api.schemas import subscription_public
from services.api.undeliverable import undeliverable
from services.cli.base import JsonOpt, T, console, plain, run, settings_of, with_runtime
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings
from services.extractor.aliases import AliasTable
from services.extractor.lookup import AmbiguousName
from services.notifier.subscriptions import Query, SubscriptionStore, subscribe, unsubscribe
from services.notifier.webhooks import DeliveryQueue

subscriptions_app = typer.Typer(help="Follow stories: subscriptions whose matches are sent as webhooks.",
                                no_args_is_help=True)
SubscriptionArg = Annotated[str, typer.Argument(help="subscription id")]


def _with_subscriptions(settings: Settings, work: Callable[[SubscriptionStore], Awaitable[T]]) -> T:
    """Run `work` with the subscription store on the configured Redis."""

    async def go() -> T:
        async with open_redis(settings) as redis:
            keys = Keys(settings.key_prefix)
            return await work(SubscriptionStore(redis, keys, canonical=AliasTable(redis, keys).entity_key))

    return run(go)


def _webhooks(store: SubscriptionStore) -> DeliveryQueue:
    """The webhook queue on the store's Redis (the notifier sends what is queued there)."""
    return DeliveryQueue(store.redis, store.keys)


def _known_subscription(ref: str, found: T | None) -> T:
    """`found`, or exit 1 with a clear message naming the unknown subscription."""
    if found is None:
        typer.echo(f"error: no subscription {ref!r} (see `wirewatch subscriptions list`)", err=True)
        raise typer.Exit(1)
    return found


def _invalid_subscription(exc: ValidationError) -> typer.Exit:
    """Print what is wrong with a subscription (each field and why) and return the exit to raise."""
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        typer.echo(f"error: invalid subscription: {where}: {error['msg']}", err=True)
    return typer.Exit(1)


def _query_text(query: dict[str, Any]) -> str:
    """A query in one line, for tables."""
    parts = []
    if query["entities"]:
        parts.append(f"entities ({query['entities_mode']}): {', '.join(query['entities'])}")
    for label in ("keywords", "outlets", "languages"):
        if query[label]:
            parts.append(f"{label}: {', '.join(query[label])}")
    if query["min_outlets"] > 1:
        parts.append(f"min outlets: {query['min_outlets']}")
    parts.append(f"events: {', '.join(query['events'])}")
    return "; ".join(parts)


@subscriptions_app.command("add")
def subscriptions_add(
    ctx: typer.Context,
    target_url: Annotated[str, typer.Argument(help="http(s) URL the webhooks are POSTed to")],
    entity: Annotated[list[str] | None, typer.Option("--entity", "-e", help="entity key (person:qassem soleimani) "
                                                     "or any name (Qassem Soleimani, Soleimani); repeatable")] = None,
    all_entities: Annotated[bool, typer.Option("--all", help="the story must name every entity (default: any)")]
    = False,
    keyword: Annotated[list[str] | None, typer.Option("--keyword", "-k", help="word or phrase in the title or text; "
                                                      "repeatable (any)")] = None,
    outlet: Annotated[list[str] | None, typer.Option("--outlet", help="outlet name; repeatable (any)")] = None,
    language: Annotated[list[str] | None, typer.Option("--language", help="language code; repeatable (any)")] = None,
    min_outlets: Annotated[int, typer.Option("--min-outlets", min=1, help="independent outlets in the story")] = 1,
    digest_minutes: Annotated[int, typer.Option("--digest-minutes", min=0, max=1440,
                                                help="one webhook per story per this many minutes of updates")] = 0,
    event: Annotated[list[str] | None, typer.Option("--event", help="created, updated or merged; repeatable "
                                                    "(default: created and updated)")] = None,
    secret: Annotated[str | None, typer.Option("--secret", help="whsec_... (generated when omitted)")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a subscription; prints its secret, which is not shown again."""
    settings = with_runtime(settings_of(ctx))
    fields: dict[str, Any] = {"entities": entity or [], "entities_mode": "all" if all_entities else "any",
                              "keywords": keyword or [], "outlets": outlet or [], "languages": language or [],
                              "min_outlets": min_outlets, "digest_minutes": digest_minutes}
    if event:
        fields["events"] = event
    try:
        query = Query.model_validate(fields)
    except ValidationError as exc:
        raise _invalid_subscription(exc) from exc
    problems = run(lambda: undeliverable(settings, target_url, query))
    for field, why in problems:
        typer.echo(f"error: invalid subscription: {field}: {why}", err=True)
    if problems:
        raise typer.Exit(1)
    try:
        sub = _with_subscriptions(settings, lambda store: subscribe(store, _webhooks(store), target_url, query,
                                                                    secret=secret, description=description))
    except ValidationError as exc:
        raise _invalid_subscription(exc) from exc
    except AmbiguousName as exc:
        raise typer.BadParameter(str(exc), param_hint="'--entity'") from exc
    if as_json:
        typer.echo(sub.model_dump_json())
        return
    console.print(f"added subscription [bold]{sub.id}[/bold] -> {plain(sub.target_url)}")
    console.print(f"  {plain(_query_text(sub.query.model_dump()))}")
    console.print(f"  secret (shown only now): {sub.secret}")


@subscriptions_app.command("list")
def subscriptions_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List subscriptions, oldest first (secrets omitted)."""
    settings = with_runtime(settings_of(ctx))

    async def go(store: SubscriptionStore) -> list[dict[str, Any]]:
        return [subscription_public(s).model_dump(mode="json") for s in await store.all()]

    rows = _with_subscriptions(settings, go)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    from rich.table import Column

    # Ids are what the other commands take: never cut them, whatever the terminal's width.
    table = Table(Column("id", no_wrap=True, min_width=20), "state", "target", "query", "description")
    for row in rows:
        table.add_row(row["id"], "paused" if row["paused"] else "active", plain(row["target_url"]),
                      plain(_query_text(row["query"])), plain(row["description"] or ""))
    console.print(table)


@subscriptions_app.command("show")
def subscriptions_show(ctx: typer.Context, subscription: SubscriptionArg, as_json: JsonOpt = False) -> None:
    """One subscription in detail (secret omitted)."""
    settings = with_runtime(settings_of(ctx))
    found = _with_subscriptions(settings, lambda store: store.get(subscription))
    row = subscription_public(_known_subscription(subscription, found)).model_dump(mode="json")
    if as_json:
        typer.echo(json.dumps(row))
        return
    query = row["query"]
    table = Table(show_header=False, box=None)
    for label, value in (
        ("id", row["id"]), ("target", row["target_url"]), ("description", row["description"]),
        ("created", row["created_at"][:19]), ("state", "paused" if row["paused"] else "active"),
        ("entities", f"{', '.join(query['entities'])} ({query['entities_mode']})" if query["entities"] else None),
        ("keywords", ", ".join(query["keywords"])), ("outlets", ", ".join(query["outlets"])),
        ("languages", ", ".join(query["languages"])), ("min outlets", query["min_outlets"]),
        ("events", ", ".join(query["events"])),
    ):
        table.add_row(label, plain("-" if value is None or value == "" else str(value)))
    console.print(table)


def _pause_or_resume_subscription(ctx: typer.Context, ref: str, *, pause: bool, as_json: bool) -> None:
    settings = with_runtime(settings_of(ctx))
    changed = _with_subscriptions(settings, lambda store: store.pause(ref) if pause else store.resume(ref))
    row = subscription_public(_known_subscription(ref, changed)).model_dump(mode="json")
    if as_json:
        typer.echo(json.dumps(row))
    else:
        console.print(f"{'paused' if pause else 'resumed'} subscription [bold]{row['id']}[/bold]")


@subscriptions_app.command("pause")
def subscriptions_pause(ctx: typer.Context, subscription: SubscriptionArg, as_json: JsonOpt = False) -> None:
    """Stop matching a subscription until it is resumed."""
    _pause_or_resume_subscription(ctx, subscription, pause=True, as_json=as_json)


@subscriptions_app.command("resume")
def subscriptions_resume(ctx: typer.Context, subscription: SubscriptionArg, as_json: JsonOpt = False) -> None:
    """Match a paused subscription again."""
    _pause_or_resume_subscription(ctx, subscription, pause=False, as_json=as_json)


@subscriptions_app.command("remove")
def subscriptions_remove(ctx: typer.Context, subscription: SubscriptionArg, as_json: JsonOpt = False) -> None:
    """Remove a subscription."""
    settings = with_runtime(settings_of(ctx))
    removed = _with_subscriptions(settings, lambda store: unsubscribe(store, _webhooks(store), subscription))
    _known_subscription(subscription, subscription if removed else None)
    if as_json:
        typer.echo(json.dumps({"removed": subscription}))
    else:
        console.print(f"removed subscription {subscription}")

