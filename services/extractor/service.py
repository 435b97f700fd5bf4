"""Extractor: FeedItem -> Article.

Consumes `feed-items`, downloads each page through the SSRF-safe client
(size and time capped), extracts text and metadata (trafilatura) and named
entities (spaCy) in a process pool so the event loop and the consumer's
heartbeats never stall, puts the entities under the keys the alias table has
learned across articles (services.extractor.aliases), and publishes to
`articles` (key: article id). Every FORGET_EVERY_S it forgets the entities no
article named within the retention, so the alias table stays bounded.
Idempotent: the article id is derived from the canonical URL, so a replay
re-publishes the same article and the store ignores it.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from functools import partial

from services.common import metrics
from services.common.bus import Bus, Delivery
from services.common.errors import ExtractionFailed, InvalidUrl
from services.common.http import HttpResponse, SafeHttpClient
from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.lifecycle import every, heartbeat
from services.common.logging import get_logger
from services.common.messages import Article, FeedItem, article_id
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import ARTICLES, FEED_ITEMS
from services.common.urls import canonical_url, same_site
from services.extractor.aliases import AliasTable
from services.extractor.extract import ExtractedPage, RawPage, date_line
from services.extractor.pool import ExtractionPool, WorkerProcesses

log = get_logger(__name__)
HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")
EXTRACT_DEADLINE_S = 60.0  # far below max_poll_interval_ms: a stuck page must not evict the consumer
#: Seconds between sweeps of the alias table (an entity kept an hour past the retention costs little).
FORGET_EVERY_S = 600.0


def check_page(response: HttpResponse) -> None:
    """Refuse responses that are not an HTML page."""
    ctype = (response.content_type or "").split(";")[0].strip().lower()
    if ctype not in HTML_TYPES:
        raise ExtractionFailed(f"not an HTML page: content type {ctype!r}")
    if not response.body.strip():
        raise ExtractionFailed("empty page")


async def handle(item: FeedItem, delivery: Delivery, *, http: SafeHttpClient, bus: Bus, extraction: ExtractionPool,
                 aliases: AliasTable, settings: Settings) -> None:
    """Download, extract and tag one feed item, and publish its Article."""
    response = await http.get(item.url, max_bytes=settings.max_page_bytes)
    check_page(response)
    async with asyncio.timeout(EXTRACT_DEADLINE_S):
        page, tagged, fingerprint = await extraction.submit(
            RawPage(response.body, response.charset, response.url, item.title or ""))
    tagged = await aliases.resolve(tagged)
    canonical = page_canonical(page.canonical_url, response.url)
    fetched_at = datetime.now(UTC)
    article = Article(
        id=article_id(canonical or item.url),
        url=item.url,
        canonical_url=canonical,
        feed_id=item.feed_id,
        outlet=item.outlet,
        title=page.title or item.title or "",
        text=page.text,
        author=page.author or item.author,
        published_at=publication_time(page, item, fetched_at),
        updated_at=page.updated,
        language=page.language,
        site_name=page.site_name,
        description=page.description or item.summary,
        entities=tagged,
        fetched_at=fetched_at,
        fingerprint=fingerprint,
    )
    await bus.publish(ARTICLES, article.id, article)
    metrics.observe_stage("extracted", item.seen_at, article.fetched_at)
    log.info("article.extracted", article_id=article.id, url=item.url, words=len(page.text.split()),
             entities=len(tagged))


def publication_time(page: ExtractedPage, item: FeedItem, fetched_at: datetime) -> datetime | None:
    """When the article was published: the page's own metadata says it best, then the feed item, then a
    date line printed atop the text ("Published: July 28, 2004"); None when none of them does (the store
    then goes by the fetch time)."""
    return page.published or item.published_at or date_line(page.text, not_after=fetched_at)


def page_canonical(declared: str | None, fetched_url: str) -> str | None:
    """The page's own canonical URL, canonicalised, if it is on the site the page came from.

    Two feed links to one article then get one article id; a page naming another site's
    article as its canonical is not believed (it could overwrite that article).
    """
    if not declared:
        return None
    try:
        canonical = canonical_url(declared, base=fetched_url)
    except InvalidUrl:
        return None
    return canonical if same_site(canonical, fetched_url) else None


def worker_count(settings: Settings) -> int:
    """Extraction processes: the setting, or one per core."""
    return settings.extract_workers or os.cpu_count() or 1


async def forget_unseen(aliases: AliasTable, retention_s: float) -> None:
    """Keep the alias table to the entities articles named within the retention (one sweep)."""
    forgotten = await aliases.forget_unseen(retention_s)
    if forgotten:
        metrics.ENTITIES_FORGOTTEN.inc(forgotten)
        log.info("aliases.forgotten", entities=forgotten)


async def main(settings: Settings, stop: asyncio.Event) -> None:
    """Run the extractor until `stop` is set."""
    keys = Keys(settings.key_prefix)
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(open_redis(settings))
        http = await stack.enter_async_context(SafeHttpClient.from_settings(settings))
        bus = await stack.enter_async_context(Bus(settings, client_id="wirewatch-extractor"))
        workers = WorkerProcesses(worker_count(settings), settings.spacy_model)
        stack.push_async_callback(workers.close)  # off the event loop, and bounded
        ledger = Ledger.from_settings(redis, keys, settings)
        await workers.start()

        async def settle_dead(delivery: Delivery, raw: bytes | None, error: BaseException) -> None:
            # A dead-lettered item's journey is over: do not emit it again.
            if delivery.key:
                await ledger.settle(delivery.key)

        extraction = ExtractionPool(workers.executor, slots=worker_count(settings), model=settings.spacy_model,
                                    ner_max_chars=settings.ner_max_chars, ner_lead_chars=settings.ner_lead_chars,
                                    max_batch=settings.extract_batch,
                                    replace=workers.replace)
        aliases = AliasTable(redis, keys)
        folded = await aliases.fold_older_type_votes()
        if folded:
            log.info("aliases.type_votes_folded", names=folded)
        moved = await aliases.fold_older_article_counts()
        if moved:
            log.info("aliases.article_counts_folded", entities=moved)
        log.info("service.started", service="extractor", workers=worker_count(settings))
        async with asyncio.TaskGroup() as tasks:
            ready = asyncio.Event()
            tasks.create_task(heartbeat(redis, keys, "extractor", stop, ready))
            serving = tasks.create_task(extraction.run())
            sweep = partial(forget_unseen, aliases, settings.retention_days * 86400)
            tasks.create_task(every(FORGET_EVERY_S, stop, sweep, failed="aliases.forget_failed"))
            consuming = tasks.create_task(bus.consume(
                FEED_ITEMS, group="extractor", stage="extractor",
                handle=partial(handle, http=http, bus=bus, extraction=extraction,
                               aliases=aliases,
                               settings=settings),
                stop=stop, concurrency=settings.extract_concurrency, on_dead_letter=settle_dead, ready=ready,
            ))
            # The pool serves until the consumer has drained and committed its last pages.
            consuming.add_done_callback(lambda _: serving.cancel())
    log.info("service.stopped", service="extractor")
