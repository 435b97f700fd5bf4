"""zstd dictionaries learned from the store's own first articles: trained once, shared, read by any process."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
import zstandard
from redis.client import NEVER_DECODE

from services.common.keys import Keys
from services.common.messages import Article, Entity, article_id
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.store.compression import ADOPT_EVERY, Codec
from services.store.placement import Placer
from services.store.repository import Repository

pytestmark = pytest.mark.integration
AT = datetime(2026, 3, 1, 8, tzinfo=UTC)
WORDS = ("harbour authority council police minister said on Monday that the night storm flooded roads "
         "rail services were halted residents of the town were told to stay indoors while crews cleared "
         "debris from the coastal road a spokesman for the regional government added that schools "
         "would reopen on Wednesday").split()


def article(n: int, rng: random.Random) -> Article:
    url = f"https://outlet{n % 7}.example/news/{n}"
    # the outlets' common phrasing, and words of this article's own event (so each is a story of its own)
    own = [f"{rng.choice('bcdfgklmnprst')}{rng.choice('aeiou')}{rng.choice('lmnrst')}{n}" for _ in range(8)]
    sentences = [" ".join(rng.choices(WORDS + own, k=rng.randint(12, 24))).capitalize() + "." for _ in range(12)]
    return Article(id=article_id(url), url=url, outlet=f"outlet{n % 7}.example", title=f"Storm report {n}",
                   text=" ".join(sentences), language="en", published_at=AT, fetched_at=AT,
                   entities=[Entity(key=f"gpe:town {n % 5}", name=f"Town {n % 5}", type="GPE", count=2,
                                    first_position=10)])


async def frame(redis: Redis, key: str) -> bytes:
    value = await redis.execute_command("GET", key, **{NEVER_DECODE: True})  # type: ignore[no-untyped-call]
    return bytes(value)


def training(settings: Settings, samples: int) -> Settings:
    return settings.model_copy(update={"store_dictionary_samples": samples, "store_dictionary_bytes": 4096})


async def test_the_store_trains_a_dictionary_per_kind_and_any_reader_decodes_with_it(settings: Settings) -> None:
    rng = random.Random(3)
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        store = training(settings, 40)
        repo = Repository(redis, keys, codec=Codec.for_store(redis, keys, store))
        placer = Placer(store, repo)
        early = [article(n, rng) for n in range(60)]
        for n in range(0, 60, 10):
            await placer.ingest_many(early[n:n + 10])
        current = await redis.hgetall(keys.store_dictionary_current)
        assert set(current) == {"text", "record", "story", "member"}
        late = article(100, rng)
        await placer.ingest_many([late])
        text_frame = await frame(redis, keys.article_text(late.id))
        assert zstandard.get_frame_parameters(text_frame).dict_id == int(current["text"])
        first_frame = await frame(redis, keys.article_text(early[0].id))
        assert zstandard.get_frame_parameters(first_frame).dict_id == 0  # before the dictionary: as it was
        # a reader in another process knows no dictionary until a frame names one
        reader = Repository(redis, keys)
        for original in (early[0], late):
            stored = await reader.article(original.id)
            assert stored is not None and stored.text == original.text and stored.entities == original.entities
        story = await reader.story((await repo.article(late.id)).cluster_id)  # type: ignore[union-attr]
        assert story is not None and late.id in {m.id for m in story.members}
        (last_member,) = await redis.execute_command(  # type: ignore[no-untyped-call]
            "LRANGE", keys.story_members(story.id), -1, -1, **{NEVER_DECODE: True})
        assert zstandard.get_frame_parameters(last_member).dict_id == int(current["member"])


async def test_the_dictionary_makes_what_is_kept_smaller(settings: Settings) -> None:
    rng = random.Random(5)
    articles = [article(n, rng) for n in range(80)]
    sizes = {}
    for samples in (0, 40):
        async with open_redis(settings) as redis:
            keys = Keys(f"{settings.key_prefix}s{samples}:")
            repo = Repository(redis, keys, codec=Codec.for_store(redis, keys, training(settings, samples)))
            placer = Placer(settings, repo)
            for n in range(0, 80, 10):
                await placer.ingest_many(articles[n:n + 10])
            sizes[samples] = sum([len(await frame(redis, keys.article(a.id))) for a in articles[60:]])
    assert sizes[40] < 0.8 * sizes[0]


async def test_two_store_processes_share_one_dictionary_per_kind(settings: Settings) -> None:
    rng = random.Random(9)
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        store = training(settings, 30)
        placers = [Placer(store, Repository(redis, keys, codec=Codec.for_store(redis, keys, store))) for _ in "ab"]
        written = [article(n, rng) for n in range(120)]
        for n in range(0, 120, 10):  # each trains on what it wrote; the first to publish wins
            await placers[(n // 10) % 2].ingest_many(written[n:n + 10])
        current = await redis.hgetall(keys.store_dictionary_current)
        assert set(current) == {"text", "record", "story", "member"}
        assert await redis.hlen(keys.store_dictionaries) == 4  # the loser's are not kept
        for stored, original in zip(await Repository(redis, keys).articles([a.id for a in written]), written,
                                    strict=True):
            assert stored.text == original.text


async def test_values_too_short_to_learn_from_stay_plain_zstd(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        codec = Codec(redis, keys, samples=3, dictionary_bytes=65_536)
        for n in range(3):
            codec.compress("text", f"tiny {n}".encode())
        await codec.prepare()
        frame_ = codec.compress("text", b"tiny again")
        assert zstandard.get_frame_parameters(frame_).dict_id == 0 and codec.decompress(frame_) == b"tiny again"
        assert await redis.hlen(keys.store_dictionary_current) == 0


async def test_a_store_process_started_before_the_dictionary_adopts_it_without_training(settings: Settings) -> None:
    rng = random.Random(11)
    texts = [article(n, rng).text.encode() for n in range(60)]
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        late = Codec(redis, keys, samples=0, dictionary_bytes=4096)  # a second store, never training itself
        await late.prepare()
        trainer = Codec(redis, keys, samples=40, dictionary_bytes=4096)
        for text in texts[:40]:
            trainer.compress("text", text)
        await trainer.prepare()
        assert zstandard.get_frame_parameters(late.compress("text", texts[50])).dict_id == 0  # not yet seen
        for _ in range(ADOPT_EVERY):
            await late.prepare()
        frame_ = late.compress("text", texts[50])
        published = await redis.hget(keys.store_dictionary_current, "text")
        assert published is not None and zstandard.get_frame_parameters(frame_).dict_id == int(published)
        assert trainer.decompress(frame_) == texts[50]
