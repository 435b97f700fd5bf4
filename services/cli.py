"""The `wirewatch` command: run the system or one service, manage feeds, read clusters."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.table import Table

from services.common.apikeys import SCOPES, ApiKeyStore
from services.common.errors import InvalidUrl
from services.common.feeds import FeedRegistry
from services.common.keys import Keys
from services.common.lifecycle import run_service
from services.common.logging import configure_logging
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.subscriptions import Query, Subscription, SubscriptionStore
from services.store.api.routes.clusters import cluster_matches, cluster_summary
from services.store.api.routes.feeds import feed_public
from services.store.api.routes.subscriptions import subscription_public
from services.store.repository import Repository

app = typer.Typer(help="wirewatch: streaming news ingestion.", no_args_is_help=True)
feeds_app = typer.Typer(help="Register and inspect feeds.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
eval_app = typer.Typer(help="Measure clustering, copy detection, extraction and NER on labelled data.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")
console = Console()
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for machines")]


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@app.callback()
def main(ctx: typer.Context, verbose: Annotated[bool, typer.Option("-v", help="debug logging")] = False) -> None:
    """Load settings from the environment once and configure logging."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.echo(f"error: invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(json=settings.log_json, level="DEBUG" if verbose else settings.log_level)
    ctx.obj = settings


def _with_runtime(settings: Settings) -> Settings:
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


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def up(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(help="broker/Redis data and logs (default .wirewatch)")] = None,
    api_port: Annotated[int | None, typer.Option(help="API port (default 8080; 0 = any free port)")] = None,
) -> None:
    """Run the whole system: embedded broker and Redis (unless configured), all services, the API."""
    from services.system import up as run_up

    settings = _settings(ctx)
    update: dict[str, Any] = {}
    if data_dir is not None:
        update["data_dir"] = str(data_dir)
    if api_port is not None:
        update["api_port"] = api_port
    run_up(settings.model_copy(update=update))


@app.command()
def fetcher(ctx: typer.Context) -> None:
    """Run the fetcher alone (production: KAFKA_BOOTSTRAP and REDIS_URL set)."""
    from services.fetcher.service import main as service_main

    run_service(service_main, _settings(ctx))


@app.command()
def extractor(ctx: typer.Context) -> None:
    """Run the extractor alone."""
    from services.extractor.service import main as service_main

    run_service(service_main, _settings(ctx))


@app.command()
def store(ctx: typer.Context) -> None:
    """Run the store alone."""
    from services.store.service import main as service_main

    run_service(service_main, _settings(ctx))


@app.command()
def notifier(ctx: typer.Context) -> None:
    """Run the notifier alone: story events -> signed webhooks to matching subscriptions."""
    from services.store.notifier import main as service_main

    run_service(service_main, _settings(ctx))


@app.command()
def api(ctx: typer.Context) -> None:
    """Run the HTTP API alone."""
    from services.system import serve_api

    run_service(serve_api, _settings(ctx))


@app.command()
def config(ctx: typer.Context) -> None:
    """Print the effective settings (secrets masked) as JSON."""
    typer.echo(json.dumps(_settings(ctx).redacted(), indent=2, default=str))


@feeds_app.command("add")
def feeds_add(
    ctx: typer.Context,
    url: str,
    name: Annotated[str | None, typer.Option("--name")] = None,
    discover: Annotated[bool, typer.Option("--discover", help="URL is a site's page: register the first feed it "
                                                             "advertises (<link rel=\"alternate\">)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a feed; its items flow within one polling interval."""
    settings = _with_runtime(_settings(ctx))
    others: list[str] = []
    if discover:
        url, *others = _discover(settings, url)

    async def go() -> dict[str, Any]:
        async with open_redis(settings) as redis:
            registry = FeedRegistry(redis, Keys(settings.key_prefix))
            feed = await registry.add(url, name)
            return (await feed_public(registry, feed)).model_dump(mode="json")

    try:
        feed = _run(go)
    except InvalidUrl as exc:
        typer.echo(f"error: invalid feed URL: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(feed))
    else:
        console.print(f"added feed [bold]{feed['id']}[/bold] {_plain(feed['url'])} ({_plain(feed['name'])})")
        for other in others:
            console.print(f"  the page also advertises {_plain(other)}")


@feeds_app.command("discover")
def feeds_discover(ctx: typer.Context, url: str, as_json: JsonOpt = False) -> None:
    """List the feeds a site's page advertises (or the URL itself, when it is a feed); registers nothing."""
    found = _discover(_with_runtime(_settings(ctx)), url)
    if as_json:
        typer.echo(json.dumps(found))
        return
    for feed_url in found:
        typer.echo(feed_url)


@feeds_app.command("list")
def feeds_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List feeds with their health."""
    settings = _with_runtime(_settings(ctx))

    async def go() -> list[dict[str, Any]]:
        async with open_redis(settings) as redis:
            registry = FeedRegistry(redis, Keys(settings.key_prefix))
            return [(await feed_public(registry, f)).model_dump(mode="json") for f in await registry.all()]

    rows = _run(go)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "name", "category", "url", "state", "last status", "items", "error")
    for row in rows:
        h = row["health"]
        table.add_row(row["id"], _plain(row["name"]), _plain(row["category"] or ""), _plain(row["url"]),
                      "paused" if row["paused"] else "active", str(h["last_status"] or "-"), str(h["items_total"]),
                      _plain(h["last_error"] or ""))
    console.print(table)


@feeds_app.command("show")
def feeds_show(ctx: typer.Context, feed: Annotated[str, typer.Argument(help="feed id (or its URL)")],
               as_json: JsonOpt = False) -> None:
    """One feed in detail: what it is, where it came from, and its health."""
    settings = _with_runtime(_settings(ctx))

    async def go(registry: FeedRegistry) -> dict[str, Any] | None:
        found = await registry.find(feed)
        return None if found is None else (await feed_public(registry, found)).model_dump(mode="json")

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
        table.add_row(label, _plain("-" if value is None or value == "" else str(value)))
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
def feeds_remove(ctx: typer.Context, feed: Annotated[str, typer.Argument(help="feed id (or its URL)")]) -> None:
    """Unregister a feed."""
    settings = _with_runtime(_settings(ctx))

    async def go(registry: FeedRegistry) -> str | None:
        found = await registry.find(feed)
        return found.id if found is not None and await registry.remove(found.id) else None

    console.print(f"removed feed {_known_feed(feed, _with_registry(settings, go))}")


@feeds_app.command("import")
def feeds_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="an OPML file")],
    as_json: JsonOpt = False,
) -> None:
    """Register every feed of an OPML file, keeping names, titles, site URLs and folders (as categories)."""
    from services.common.opml import MAX_OPML_BYTES, InvalidOpml
    from services.store.api.routes.feeds import import_opml

    settings = _with_runtime(_settings(ctx))
    if file.stat().st_size > MAX_OPML_BYTES:
        typer.echo(f"error: {file} is over the OPML limit of {MAX_OPML_BYTES} bytes", err=True)
        raise typer.Exit(1)
    data = file.read_bytes()

    async def go(registry: FeedRegistry) -> dict[str, Any]:
        return (await import_opml(registry, data)).model_dump(mode="json")

    try:
        result = _with_registry(settings, go)
    except InvalidOpml as exc:
        typer.echo(f"error: invalid OPML in {file}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(f"imported {_plain(str(file))}: {result['added']} added, {result['existing']} already registered, "
                  f"{result['invalid']} invalid")
    for error in result["errors"]:
        console.print(f"  skipped {_plain(error['url'] or '(empty URL)')}: {_plain(error['error'])}")


@feeds_app.command("export")
def feeds_export(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False,
                                                help="write the OPML here (default: standard output)")] = None,
) -> None:
    """Print (or write) every feed as an OPML 2.0 document, nested in folders by category."""
    from services.store.api.routes.feeds import feeds_opml

    settings = _with_runtime(_settings(ctx))

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
    console.print(f"exported {count} feeds to {_plain(str(output))}")


def _with_registry(settings: Settings, work: Callable[[FeedRegistry], Awaitable[T]]) -> T:
    """Run `work` with a feed registry on the configured Redis."""

    async def go() -> T:
        async with open_redis(settings) as redis:
            return await work(FeedRegistry(redis, Keys(settings.key_prefix)))

    return _run(go)


def _known_feed(ref: str, found: T | None) -> T:
    """`found`, or exit 1 with a clear message naming the unknown feed."""
    if found is None:
        typer.echo(f"error: no feed {ref!r} (see `wirewatch feeds list`)", err=True)
        raise typer.Exit(1)
    return found


def _pause_or_resume(ctx: typer.Context, ref: str, *, pause: bool, as_json: bool) -> None:
    settings = _with_runtime(_settings(ctx))

    async def go(registry: FeedRegistry) -> dict[str, Any] | None:
        found = await registry.find(ref)
        if found is None:
            return None
        changed = await (registry.pause(found.id) if pause else registry.resume(found.id))
        return None if changed is None else (await feed_public(registry, changed)).model_dump(mode="json")

    row = _known_feed(ref, _with_registry(settings, go))
    if as_json:
        typer.echo(json.dumps(row))
    elif pause:
        console.print(f"paused feed [bold]{row['id']}[/bold] {_plain(row['url'])}: not polled until resumed")
    else:
        console.print(f"resumed feed [bold]{row['id']}[/bold] {_plain(row['url'])}: polled again from now")


def _discover(settings: Settings, url: str) -> list[str]:
    """The feeds behind `url` (services.common.discovery), or exit 1 with the reason there are none."""
    from services.common.discovery import discover_feeds
    from services.common.errors import WirewatchError
    from services.common.http import SafeHttpClient

    async def go() -> list[str]:
        async with SafeHttpClient.from_settings(settings) as http:
            return await discover_feeds(http, url, max_bytes=settings.max_page_bytes)

    try:
        found = _run(go)
    except WirewatchError as exc:
        typer.echo(f"error: cannot discover feeds at {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not found:
        typer.echo(f"error: {url} advertises no feed (no <link rel=\"alternate\"> to RSS, Atom or JSON Feed)",
                   err=True)
        raise typer.Exit(1)
    return found


def _plain(text: str) -> str:
    """`text` with rich markup escaped: names and URLs come from feeds and OPML files, not from us."""
    from rich.markup import escape

    return escape(text)


@app.command()
def clusters(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
             entity: Annotated[str | None, typer.Option(help="entity key or name")] = None,
             as_json: JsonOpt = False) -> None:
    """The latest story clusters."""
    settings = _with_runtime(_settings(ctx))

    async def go() -> list[dict[str, Any]]:
        async with open_redis(settings) as redis:
            repo = Repository(redis, Keys(settings.key_prefix))
            out: list[dict[str, Any]] = []
            for cluster in await repo.clusters([cid for cid, _ in await repo.recent_clusters(limit=5000)]):
                if not cluster_matches(cluster, entity, None, 1):
                    continue
                out.append(cluster_summary(cluster).model_dump(mode="json"))
                if len(out) == limit:
                    break
            return out

    rows = _run(go)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("updated", "size", "outlets", "title")
    for row in rows:
        table.add_row(row["last_updated"][:19], str(row["size"]), str(len(row["outlets"])), row["title"][:90])
    console.print(table)


@eval_app.command("stories")
def eval_stories(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="labelled JSON Lines (.gz ok)")],
    predictions: Annotated[Path | None, typer.Option(help="write {id, cluster, copy_of} lines here")] = None,
    entities_cache: Annotated[Path | None, typer.Option(help="reuse/keep entity tags in this file")] = None,
    workers: Annotated[int, typer.Option(min=1, help="entity tagging processes")] = 2,
    as_json: JsonOpt = False,
) -> None:
    """Replay labelled articles in stream order through entity tagging + the store; print BCubed P/R/F1."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.stories import evaluate_stories

    configure_logging(json=False, level="WARNING")  # one line per article would drown the progress bar
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        scores = evaluate_stories(file, _settings(ctx), predictions_path=predictions, entities_cache=entities_cache,
                                  workers=workers, progress=progress)
    result = scores.as_json()
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("corpus", "BCubed P", "BCubed R", "BCubed F1")
    for name, row in [("all", result["bcubed"]), *result["per_corpus"].items()]:
        table.add_row(name, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}")
    console.print(table)
    console.print(f"gold clusters {result['gold_clusters']}, predicted {result['predicted_clusters']}")


@eval_app.command("entities")
def eval_entities(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="labelled JSON Lines (.gz ok)")],
    ner_cache: Annotated[Path | None, typer.Option(help="spaCy spans cached per piece of text")] = Path(
        ".cache/ner-spans.jsonl"),
    workers: Annotated[int, typer.Option(min=1, help="spaCy processes for uncached pieces")] = 2,
    examples: Annotated[int, typer.Option(min=0, help="fragmented (story, name) pairs to print")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Key fragmentation: per gold story, names (surnames) found under more than one entity key."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.fragmentation import evaluate_entities

    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        result = evaluate_entities(file, _settings(ctx), cache=ner_cache, workers=workers, progress=progress)
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    for label, f in (("in-article only ", result.in_article), ("with alias table", result.with_table),
                     ("proper names only, in-article", result.proper_in_article),
                     ("proper names only, with table", result.proper_with_table)):
        console.print(f"{label}: {f.fragmented}/{f.pairs} (story, name) pairs fragmented = {f.share:.2%}; "
                      f"names in 2+ articles of the story: {f.multi_article_fragmented}/{f.multi_article_pairs} "
                      f"= {f.multi_article_share:.2%}", markup=False)
    rw = result.rewrites
    console.print(f"alias table rewrites: {rw.rewritten}, to a key no article of the story has in-article: "
                  f"{rw.foreign} = {rw.foreign_share:.2%}", markup=False)
    console.print(f"{result.articles} articles, {result.keys} distinct entity keys")
    for story, name, keys in result.with_table.examples[:examples]:
        console.print(f"  {story}  {name}: {', '.join(keys)}", markup=False)


@eval_app.command("copies")
def eval_copies(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the dev file the copy set is built from")],
    predictions: Annotated[Path | None, typer.Option(help="write {id, copy_of} lines here")] = None,
    sample: Annotated[int, typer.Option(min=1, help="originals sampled for re-posting")] = 400,
    seed: Annotated[int, typer.Option(help="random seed of the copy set")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Build the labelled copy set, replay it through the store and print copy precision/recall."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.copies import evaluate_copies

    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        scores = evaluate_copies(file, _settings(ctx), n=sample, seed=seed, predictions_path=predictions,
                                 progress=progress)
    result = scores.as_json()
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(f"copy precision {result['precision']:.4f}  recall {result['recall']:.4f}  "
                  f"(tp {result['true_positives']}, fn {result['false_negatives']}, "
                  f"fp {result['false_positives']}, tn {result['true_negatives']})")


@eval_app.command("extraction")
def eval_extraction(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                              help="benchmark directory (Scrapinghub or Readability layout)")],
    as_json: JsonOpt = False,
) -> None:
    """Main-text precision/recall/F1 of wirewatch and of plain trafilatura on a benchmark of real pages."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.extraction import evaluate_extraction

    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        result = evaluate_extraction(directory, progress=progress)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("extractor", "scored on", "precision", "recall", "F1")
    for name, label in (("wirewatch", "words"), ("trafilatura", "words"), ("wirewatch_shingles", "4-word shingles"),
                        ("trafilatura_shingles", "4-word shingles"),
                        ("published_trafilatura_scrapinghub_shingles", "Scrapinghub benchmark, published")):
        row = result[name]
        table.add_row(name.split("_")[0], label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}")
    console.print(table)
    console.print(f"{result['pages']} pages; wirewatch refused {result['wirewatch_refused']} as no article")


@eval_app.command("ner")
def eval_ner(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CoNLL-2003 format file (eng.testb)")],
    as_json: JsonOpt = False,
) -> None:
    """Entity precision/recall/F1 (exact span and type, CoNLL's four types) of the extractor's NER."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation.ner import CONLL_TYPES, evaluate_ner

    configure_logging(json=False, level="WARNING")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=as_json) as progress:
        result = evaluate_ner(file, model=_settings(ctx).spacy_model, progress=progress)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("type", "precision", "recall", "F1")
    for kind in ("all", *CONLL_TYPES):
        row = result[kind]
        table.add_row(kind, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}")
    console.print(table)
    console.print(f"{result['documents']} documents, {result['gold_entities']} gold entities, model {result['model']}")


# --- subscriptions ------------------------------------------------------------------------------
subscriptions_app = typer.Typer(help="Follow stories: subscriptions whose matches are sent as webhooks.",
                                no_args_is_help=True)
app.add_typer(subscriptions_app, name="subscriptions")
SubscriptionArg = Annotated[str, typer.Argument(help="subscription id")]


def _with_subscriptions(settings: Settings, work: Callable[[SubscriptionStore], Awaitable[T]]) -> T:
    """Run `work` with the subscription store on the configured Redis."""

    async def go() -> T:
        async with open_redis(settings) as redis:
            return await work(SubscriptionStore(redis, Keys(settings.key_prefix)))

    return _run(go)


async def _create_and_ping(store: SubscriptionStore, target_url: str, query: Query, secret: str | None,
                           description: str | None) -> Subscription:
    """Register a subscription and queue its signed test ping (the notifier sends it)."""
    from services.common.webhooks import DeliveryQueue
    from services.store.notifier import send_ping

    sub = await store.create(target_url, query, secret=secret, description=description)
    await send_ping(DeliveryQueue(store.redis, store.keys), sub)
    return sub


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
                                                     "or name (Qassem Soleimani); repeatable")] = None,
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
    settings = _with_runtime(_settings(ctx))
    fields: dict[str, Any] = {"entities": entity or [], "entities_mode": "all" if all_entities else "any",
                              "keywords": keyword or [], "outlets": outlet or [], "languages": language or [],
                              "min_outlets": min_outlets, "digest_minutes": digest_minutes}
    if event:
        fields["events"] = event
    try:
        query = Query.model_validate(fields)
        sub = _with_subscriptions(settings, lambda store: _create_and_ping(store, target_url, query, secret,
                                                                           description))
    except ValidationError as exc:
        raise _invalid_subscription(exc) from exc
    if as_json:
        typer.echo(sub.model_dump_json())
        return
    console.print(f"added subscription [bold]{sub.id}[/bold] -> {_plain(sub.target_url)}")
    console.print(f"  {_plain(_query_text(sub.query.model_dump()))}")
    console.print(f"  secret (shown only now): {sub.secret}")


@subscriptions_app.command("list")
def subscriptions_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List subscriptions, oldest first (secrets omitted)."""
    settings = _with_runtime(_settings(ctx))

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
        table.add_row(row["id"], "paused" if row["paused"] else "active", _plain(row["target_url"]),
                      _plain(_query_text(row["query"])), _plain(row["description"] or ""))
    console.print(table)


@subscriptions_app.command("show")
def subscriptions_show(ctx: typer.Context, subscription: SubscriptionArg, as_json: JsonOpt = False) -> None:
    """One subscription in detail (secret omitted)."""
    settings = _with_runtime(_settings(ctx))
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
        table.add_row(label, _plain("-" if value is None or value == "" else str(value)))
    console.print(table)


def _pause_or_resume_subscription(ctx: typer.Context, ref: str, *, pause: bool, as_json: bool) -> None:
    settings = _with_runtime(_settings(ctx))
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
def subscriptions_remove(ctx: typer.Context, subscription: SubscriptionArg) -> None:
    """Remove a subscription."""
    settings = _with_runtime(_settings(ctx))
    removed = _with_subscriptions(settings, lambda store: store.delete(subscription))
    _known_subscription(subscription, subscription if removed else None)
    console.print(f"removed subscription {subscription}")



# --- API keys -----------------------------------------------------------------------------------
apikeys_app = typer.Typer(help="API keys for the HTTP API (read-only or admin); stored hashed.", no_args_is_help=True)
app.add_typer(apikeys_app, name="apikeys")


def _with_apikeys(settings: Settings, work: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    """Run `work` with the API key store on the configured Redis."""

    async def go() -> T:
        async with open_redis(settings) as redis:
            return await work(ApiKeyStore(redis, Keys(settings.key_prefix)))

    return _run(go)


@apikeys_app.command("create")
def apikeys_create(
    ctx: typer.Context,
    scope: Annotated[str, typer.Option("--scope", help="read (GET/HEAD only) or admin (everything)")],
    name: Annotated[str, typer.Option("--name", help="what the key is for")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; its token is printed this once and cannot be shown again."""
    if scope not in SCOPES:
        typer.echo(f"error: --scope must be one of {', '.join(SCOPES)}", err=True)
        raise typer.Exit(2)
    settings = _with_runtime(_settings(ctx))
    try:
        key_id, token = _with_apikeys(settings, lambda store: store.create(scope, name))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps({"id": key_id, "name": name, "scope": scope, "token": token}))
        return
    console.print(f"created {scope} key [bold]{key_id}[/bold]; its token (shown only now):")
    typer.echo(token)


@apikeys_app.command("list")
def apikeys_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every API key: id, scope, name, created (never the tokens: they are not stored)."""
    settings = _with_runtime(_settings(ctx))
    keys = _with_apikeys(settings, lambda store: store.list())
    rows = [key.model_dump(mode="json") for key in keys]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    from rich.table import Column

    table = Table(Column("id", no_wrap=True, min_width=16), "scope", "name", "created")
    for row in rows:
        table.add_row(row["id"], row["scope"], _plain(row["name"]), row["created_at"][:19])
    console.print(table)


@apikeys_app.command("revoke")
def apikeys_revoke(ctx: typer.Context,
                   key_id: Annotated[str, typer.Argument(help="key id (see `apikeys list`)")]) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    settings = _with_runtime(_settings(ctx))
    if not _with_apikeys(settings, lambda store: store.revoke(key_id)):
        typer.echo(f"error: no API key {key_id!r} (see `wirewatch apikeys list`)", err=True)
        raise typer.Exit(1)
    console.print(f"revoked API key {key_id}")

if __name__ == "__main__":
    sys.exit(app())
