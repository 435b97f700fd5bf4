"""The embedded broker forgets everything on restart; the Redis ledger makes that lose nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.embedded import free_port, start_tansu
from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import ensure_all
from services.extractor import service as extractor
from services.fetcher import service as fetcher
from services.fetcher.registry import FeedRegistry
from services.store import service as store
from services.store.repository import Repository
from tests.conftest import Infra
from tests.support.outlets import OutletServer
from tests.support.running import running, wait_for

pytestmark = pytest.mark.integration

TEXT = ("The council of {town} voted on Monday to close the old bridge over the river after engineers "
        "found cracks in two of its piers. Traffic will be diverted through the eastern ring road.\n\n"
        "The mayor of {town}, {mayor}, said the decision was painful but unavoidable, and promised that a "
        "replacement would be designed within the year. Shop owners near the bridge fear a loss of trade.\n\n"
        "Engineers said the cracks were probably caused by decades of heavy lorries and by the floods of "
        "last spring, which scoured the riverbed around the foundations of the piers.")
TOWNS = [("Arlow", "Ines Varga"), ("Brenmoor", "Tomas Healy"), ("Caddick", "Rhea Olsen"), ("Dunmere", "Paul Ostrow")]


async def test_items_in_flight_when_the_broker_restarts_are_emitted_again(
        infra: Infra, settings: Settings, tmp_path: Path) -> None:
    if infra.kind != "embedded":
        pytest.skip("Apache Kafka keeps its log on disk; this is the embedded broker's failure mode")
    port = free_port()
    bootstrap, broker = await asyncio.to_thread(start_tansu, tmp_path / "tansu-a", port)
    cfg = settings.model_copy(update={"kafka_bootstrap": bootstrap, "pending_grace_s": 2.0})
    await ensure_all(cfg)  # as `wirewatch up` does once it has started its broker
    now = datetime.now(UTC)
    try:
        with OutletServer() as server:
            outlet = server.add_outlet("council", "Council News", "rss")
            for i, (town, mayor) in enumerate(TOWNS[:2]):
                outlet.add_article(town.lower(), f"{town} closes its old bridge", TEXT.format(town=town, mayor=mayor),
                                   now - timedelta(minutes=10 - i))
            async with open_redis(cfg) as redis:
                keys = Keys(cfg.key_prefix)
                repo = Repository(redis, keys)
                ledger = Ledger(redis, keys, seen_ttl_s=3600)
                await FeedRegistry(redis, keys).add(outlet.feed_url, "Council News")

                async with running(store.main, cfg), running(extractor.main, cfg), running(fetcher.main, cfg):
                    await wait_for(lambda: _stored(repo, 2), timeout=90, what="the first two articles")

                # Two more items are emitted, then the broker dies before anyone reads them.
                for i, (town, mayor) in enumerate(TOWNS[2:]):
                    outlet.add_article(town.lower(), f"{town} closes its old bridge",
                                       TEXT.format(town=town, mayor=mayor), now - timedelta(minutes=5 - i))
                async with running(fetcher.main, cfg):
                    await wait_for(lambda: _pending(ledger, 2), timeout=30, what="two new items emitted")
                broker.stop(timeout=0)  # SIGTERM then SIGKILL at once: the in-memory log is gone
                bootstrap, broker = await asyncio.to_thread(start_tansu, tmp_path / "tansu-b", port)
                await ensure_all(cfg)

                async with running(store.main, cfg), running(extractor.main, cfg), running(fetcher.main, cfg):
                    await wait_for(lambda: _stored(repo, 4), timeout=120, what="all four articles after the restart")
                    await wait_for(lambda: _pending(ledger, 0), timeout=30, what="the ledger to empty")
                articles = await repo.articles(await repo.recent_articles(limit=100))
    finally:
        broker.stop()
    assert sorted(a.title for a in articles) == sorted(f"{t} closes its old bridge" for t, _ in TOWNS)
    assert len({a.id for a in articles}) == 4


async def _stored(repo: Repository, n: int) -> bool:
    return (await repo.stats())["articles"] >= n


async def _pending(ledger: Ledger, n: int) -> bool:
    return await ledger.pending_count() == n
