"""The alias table keeps to the retention, against the session's real Redis: an entity no article named for the
retention is forgotten whole (names, aliases, forms, name index, votes, type tallies), one named since is kept."""

from __future__ import annotations

import pytest

from services.common.keys import Keys
from services.common.messages import Entity
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.extractor.aliases import AliasTable
from services.notifier.subscriptions import Query, SubscriptionStore

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0
DAY = 86_400.0


def entity(key: str, *aliases: str, name: str | None = None) -> Entity:
    return Entity(key=key, name=name or key.split(":", 1)[1].title(), type=key.split(":")[0].upper(),
                  count=1, first_position=0, aliases=list(aliases))


async def table_dump(redis: Redis, prefix: str) -> dict[str, object]:
    """Every key under the prefix with what it holds (members, fields and values), for assertions."""
    out: dict[str, object] = {}
    async for raw in redis.scan_iter(match=f"{prefix}*", count=1000):
        key = str(raw)
        kind = str(await redis.type(key))
        if kind == "hash":
            out[key] = {str(k): str(v) for k, v in (await redis.hgetall(key)).items()}
        elif kind == "zset":
            out[key] = [str(m) for m in await redis.zrange(key, 0, -1)]
        elif kind == "set":
            out[key] = sorted(str(m) for m in await redis.smembers(key))
        else:
            out[key] = kind
    return out


async def test_an_entity_no_article_named_within_the_retention_is_forgotten_with_its_aliases(
        settings: Settings) -> None:
    async with open_redis(settings) as redis:
        table = AliasTable(redis, Keys(settings.key_prefix))
        await table.resolve([entity("person:vladimir putin", "person:putin"),
                             entity("org:islamic revolutionary guard corps", "org:irgc",
                                    name="Islamic Revolutionary Guard Corps")], now=T0)
        assert await table.canonical("org:irgc") == "org:islamic revolutionary guard corps"
        # three days later an article names Putin alone: he was named within the retention
        later = await table.resolve([entity("person:putin", name="Putin")], now=T0 + 3 * DAY)
        assert [e.key for e in later] == ["person:vladimir putin"]

        assert await table.forget_unseen(2 * DAY, now=T0 + 3.5 * DAY) == 1

        assert await table.canonical("org:irgc") == "org:irgc"
        assert await table.aliases_of("org:islamic revolutionary guard corps") == []
        assert await table.display_name("org:islamic revolutionary guard corps") is None
        assert await table.articles("org:islamic revolutionary guard corps") == 0
        assert await table.search("islamic", limit=5) == []
        assert (await table.lookup("IRGC")).key is None
        left = repr(await table_dump(redis, settings.key_prefix))
        assert "irgc" not in left and "revolutionary" not in left
        # Putin keeps his key, aliases and count
        assert await table.canonical("person:putin") == "person:vladimir putin"
        assert await table.articles("person:vladimir putin") == 2
        assert [c.key for c in await table.search("puti", limit=5)] == ["person:vladimir putin"]
        # named again, the forgotten entity is learned anew
        again = await table.resolve([entity("org:irgc", name="IRGC")], now=T0 + 4 * DAY)
        assert [e.key for e in again] == ["org:irgc"]
        assert await table.articles("org:irgc") == 1
        # a second sweep within the retention forgets nothing
        assert await table.forget_unseen(2 * DAY, now=T0 + 4 * DAY) == 0


async def test_when_every_entity_is_forgotten_only_word_evidence_is_left(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        table = AliasTable(redis, keys)
        articles = [
            [entity("person:qassem soleimani", "person:soleimani"), entity("gpe:iran")],
            [entity("gpe:soleimani", name="Soleimani"), entity("org:irgc")],
            [entity("person:michael thomas"), entity("person:michael jordan", "person:jordan")],
            [entity("org:jordan"), entity("gpe:jordan"), entity("person:jordan")],
        ]
        for i, ents in enumerate(articles):
            await table.resolve(ents, now=T0 + i * 3600)
        assert await table.canonical("person:soleimani") == "person:qassem soleimani"
        assert await table.canonical("person:jordan") == "person:michael jordan"

        forgotten = await table.forget_unseen(DAY, now=T0 + 3 * DAY)

        assert forgotten >= 6
        left = await table_dump(redis, settings.key_prefix)
        # the type tally of a word keeps only what it says of the word (a first name, a word written in lower
        # case); every entity, alias, form, index member and vote is gone
        assert all(key.startswith(keys.entity_type_tallies_prefix) for key in left), left
        for tallies in left.values():
            assert isinstance(tallies, dict)
            for raw in tallies.values():
                assert {part.partition("=")[0] for part in raw.split(";")} <= {"given", "plain"}, left


async def test_an_older_data_dirs_article_counts_move_into_the_filed_set_once(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        table = AliasTable(redis, keys)
        await table.resolve([entity("person:ada lovelace")], now=T0)
        await redis.hset(keys.entity_articles, mapping={"person:ada lovelace": 5, "org:analytical engine": 2})

        assert await table.fold_older_article_counts(now=T0 + DAY) == 2

        assert await table.articles("person:ada lovelace") == 6
        assert await table.articles("org:analytical engine") == 2
        assert not await redis.exists(keys.entity_articles)
        assert await table.fold_older_article_counts(now=T0 + DAY) == 0
        # counted as filed when folded: kept a retention from then
        assert await table.forget_unseen(DAY, now=T0 + 1.5 * DAY) == 0
        assert await table.forget_unseen(DAY, now=T0 + 3 * DAY) == 2


async def test_an_entity_a_subscription_follows_is_kept_with_its_aliases(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        table = AliasTable(redis, keys)
        await table.resolve([entity("org:islamic revolutionary guard corps", "org:irgc",
                                    name="Islamic Revolutionary Guard Corps"),
                             entity("person:vladimir putin", "person:putin")], now=T0)
        subscriptions = SubscriptionStore(redis, keys, canonical=table.entity_key)
        followed = await subscriptions.create("https://hooks.example/irgc", Query(entities=["IRGC"]))
        assert followed.query.entities == ["org:islamic revolutionary guard corps"]

        # Putin goes; the followed organisation stays, and so does what files "IRGC" under its key
        assert await table.forget_unseen(DAY, now=T0 + 3 * DAY) == 1
        assert await table.canonical("person:putin") == "person:putin"
        later = await table.resolve([entity("org:irgc", name="IRGC")], now=T0 + 4 * DAY)
        assert [e.key for e in later] == ["org:islamic revolutionary guard corps"]
        # kept as if named at the sweep: the next sweeps within a retention of it forget nothing
        assert await table.forget_unseen(DAY, now=T0 + 4.5 * DAY) == 0

        # unfollowed, it goes like any other once no article names it for the retention
        await subscriptions.delete(followed.id)
        assert await table.forget_unseen(DAY, now=T0 + 6 * DAY) == 1
        assert await table.canonical("org:irgc") == "org:irgc"
