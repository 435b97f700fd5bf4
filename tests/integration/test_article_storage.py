"""How the store keeps an article in Redis: a compressed record and its compressed text apart; old records read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.client import NEVER_DECODE

from services.common.keys import Keys
from services.common.messages import Article, Entity, article_id
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.store.placement import Placer
from services.store.repository import BatchWrite, Repository

pytestmark = pytest.mark.integration
AT = datetime(2026, 3, 1, 8, tzinfo=UTC)
TEXT = ("The harbour authority of Port Elwin said on Monday that the breakwater gave way during the night. "
        "Repairs will take months, said Lena Marsh, who runs the authority. ") * 6


def article(n: int, text: str = TEXT) -> Article:
    url = f"https://outlet.example/{n}"
    return Article(id=article_id(url), url=url, outlet="outlet.example", title=f"Breakwater gives way ({n})",
                   text=text, language="en", published_at=AT, fetched_at=AT,
                   entities=[Entity(key="gpe:port elwin", name="Port Elwin", type="GPE", count=2, first_position=26)])


async def raw(redis: Redis, key: str) -> bytes | None:
    value = await redis.execute_command("GET", key, **{NEVER_DECODE: True})  # type: ignore[no-untyped-call]
    return None if value is None else bytes(value)


async def test_an_article_is_stored_as_a_compressed_record_and_its_compressed_text_apart(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        repo = Repository(redis, keys, retention_s=3600)
        first = article(1)
        await Placer(settings, repo).ingest_many([first])
        record, text = await raw(redis, keys.article(first.id)), await raw(redis, keys.article_text(first.id))
        assert record is not None and record.startswith(b"\x28\xb5\x2f\xfd")  # zstd
        assert text is not None and len(text) < len(TEXT.encode()) / 3  # compressed (the text repeats itself)
        assert 3500 < await redis.ttl(keys.article_text(first.id)) <= 3600  # expires with its record
        stored = await repo.article(first.id)
        assert stored is not None and stored.text == TEXT and stored.entities == first.entities
        [bare] = await repo.articles([first.id], with_text=False)
        assert bare.text == "" and bare.cluster_id == stored.cluster_id
        revised = stored.model_copy(update={"text": TEXT + " An update.", "revision": 2})
        await repo.replace_article(revised)
        again = await repo.article(first.id)
        assert again is not None and again.text.endswith("An update.") and again.revision == 2
        assert 3500 < await redis.ttl(keys.article_text(first.id)) <= 3600


async def test_an_article_stored_before_texts_were_kept_apart_is_read_and_moves_out_its_text(
        settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        repo = Repository(redis, keys, retention_s=3600)
        await Placer(settings, repo).ingest_many([article(2)])
        stored = await repo.article(article(2).id)
        assert stored is not None
        # The old layout: plain JSON with the text inside, no text key.
        await redis.set(keys.article(stored.id), stored.model_dump_json(), ex=3000)
        await redis.delete(keys.article_text(stored.id))
        old = await repo.article(stored.id)
        assert old is not None and old.text == TEXT
        [old_bare] = await repo.articles([stored.id], with_text=False)
        assert old_bare.text == TEXT  # the old record carries it
        # Moved to another story (a merge): written in the new layout, its text kept.
        moved = old_bare.model_copy(update={"cluster_id": "elsewhere"})
        assert await repo.commit(BatchWrite(moved_articles={moved.id: moved})) == []
        record = await raw(redis, keys.article(stored.id))
        assert record is not None and record.startswith(b"\x28\xb5\x2f\xfd")
        now = await repo.article(stored.id)
        assert now is not None and now.text == TEXT and now.cluster_id == "elsewhere"
        assert 2900 < await redis.ttl(keys.article_text(stored.id)) <= 3000
        # A later move read without the text leaves the text as it is.
        [bare] = await repo.articles([stored.id], with_text=False)
        assert await repo.commit(BatchWrite(moved_articles={bare.id: bare.model_copy(
            update={"cluster_id": "third"})})) == []
        last = await repo.article(stored.id)
        assert last is not None and last.text == TEXT and last.cluster_id == "third"


async def test_a_story_summary_is_stored_compressed_and_one_stored_as_plain_json_is_still_read(
        settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        repo = Repository(redis, keys, retention_s=3600)
        [placed] = await Placer(settings, repo).ingest_many([article(3)])
        summary = await redis.execute_command(  # type: ignore[no-untyped-call]
            "HGET", keys.story(placed.story.id), "json", **{NEVER_DECODE: True})
        assert bytes(summary).startswith(b"\x28\xb5\x2f\xfd")
        story = await repo.story(placed.story.id)
        assert story is not None and story.model_dump() == placed.story.model_dump()
        assert await redis.llen(keys.story_members(story.id)) == 1, "its members are kept apart"
        assert b"members" not in repo.codec.decompress(bytes(summary))
        # The old layout: the summary's plain JSON with its members inline and no member list (a data dir of the
        # previous versions), read as it is and joined by the next article of its story, which moves them out.
        await redis.delete(keys.story_members(story.id))
        await redis.hset(keys.story(story.id), "json", story.model_dump_json(exclude={"copies", "independent_outlets"}))
        old = await repo.story(story.id)
        assert old is not None and old.model_dump() == story.model_dump()
        [joined] = await Placer(settings, repo).ingest_many([article(4)])
        assert joined.story.id == story.id and [m.id for m in joined.story.members] == [article(3).id, article(4).id]
        again = await repo.story(story.id)
        assert again is not None and again.size == 2 and [m.id for m in again.members] == [article(3).id,
                                                                                             article(4).id]
        assert await redis.llen(keys.story_members(story.id)) == 2
        moved = await redis.execute_command(  # type: ignore[no-untyped-call]
            "HGET", keys.story(story.id), "json", **{NEVER_DECODE: True})
        assert b"members" not in repo.codec.decompress(bytes(moved)), "the inline members moved to the list"
        # A later join appends its member; every reader sees all three.
        [third] = await Placer(settings, repo).ingest_many([article(5)])
        assert third.story.id == story.id and [m.id for m in third.story.members] == [article(5).id]
        final = await repo.story(story.id)
        assert final is not None and [m.id for m in final.members] == [article(n).id for n in (3, 4, 5)]
