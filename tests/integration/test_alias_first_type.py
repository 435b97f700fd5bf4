"""The alias table against the session's real Redis: a one-word name keeps the type it was first filed under."""

from __future__ import annotations

import pytest

from services.common.keys import Keys
from services.common.messages import Entity
from services.common.redis import open_redis
from services.common.settings import Settings
from services.extractor.aliases import AliasTable

pytestmark = pytest.mark.integration


def entity(key: str, *aliases: str, plain: bool = False) -> Entity:
    return Entity(key=key, name=key.split(":", 1)[1].title(), type=key.split(":")[0].upper(), count=1,
                  first_position=0, aliases=list(aliases), plain=plain)


async def keys(table: AliasTable, *entities: Entity) -> list[str]:
    return [e.key for e in await table.resolve(list(entities))]


async def test_a_one_word_name_keeps_the_type_first_filed_until_outvoted(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        table = AliasTable(redis, Keys(settings.key_prefix))
        assert await keys(table, entity("org:mozilla")) == ["org:mozilla"]
        assert await keys(table, entity("person:mozilla")) == ["org:mozilla"]
        assert await table.canonical("person:mozilla") == "person:mozilla", "no alias: each article asks again"
        # a tie keeps the type first filed
        assert await keys(table, entity("org:mozilla")) == ["org:mozilla"]
        assert await keys(table, entity("person:mozilla")) == ["org:mozilla"]  # org 2, person 1
        assert await keys(table, entity("org:firefox")) == ["org:firefox"]
        assert await keys(table, entity("person:firefox")) == ["org:firefox"]
        assert await keys(table, entity("person:firefox")) == ["org:firefox"]  # org 1, person 1: the first filed
        assert await keys(table, entity("person:firefox")) == ["person:firefox"]  # person 2: outvoted
        # a person's surname one earlier article wrote alone
        assert await keys(table, entity("person:conyers")) == ["person:conyers"]
        assert await keys(table, entity("org:conyers")) == ["person:conyers"]


async def test_a_place_is_not_filed_under_another_type_by_one_article(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        table = AliasTable(redis, Keys(settings.key_prefix))
        # a place never becomes an organisation, nor a person on one article's word ("Tyler" the city)
        await keys(table, entity("org:raleigh"))
        assert await keys(table, entity("gpe:raleigh")) == ["gpe:raleigh"]
        await keys(table, entity("person:tyler"))
        assert await keys(table, entity("gpe:tyler")) == ["gpe:tyler"]
        # "Jordan" the country and a person named Jordan stay apart
        await keys(table, entity("person:jordan"))
        assert await keys(table, entity("gpe:jordan")) == ["gpe:jordan"]
        await keys(table, entity("gpe:georgia"))
        assert await keys(table, entity("person:georgia")) == ["person:georgia"]


async def test_no_first_type_for_a_word_written_in_lower_case_or_a_name_of_several_types(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        table = AliasTable(redis, Keys(settings.key_prefix))
        await keys(table, entity("org:gang"))
        assert await keys(table, entity("person:gang", plain=True)) == ["person:gang"]
        await keys(table, entity("org:sani"))
        await keys(table, entity("product:sani"))  # follows the organisation: org 1, product 1
        assert await keys(table, entity("person:sani")) == ["person:sani"], "two types so far: none is the first"
        # a first name ("Michael" of "Michael Thomas") follows only onto the bare word's own key
        await keys(table, entity("person:michael thomas"))
        assert await keys(table, entity("org:michael")) == ["org:michael"], "no other type of the bare word"
        await keys(table, entity("person:crowley"))
        await keys(table, entity("person:crowley smith"))
        assert await keys(table, entity("org:crowley")) == ["person:crowley"]


async def test_a_known_full_name_glued_behind_other_words_is_the_person_when_its_first_word_is_a_first_name(
        settings: Settings) -> None:
    async with open_redis(settings) as redis:
        table = AliasTable(redis, Keys(settings.key_prefix))
        await keys(table, entity("person:shane newland"))
        await keys(table, entity("person:shane smith"))  # "shane" is two people's first name
        assert await keys(table, entity("org:victims shane newland")) == ["person:shane newland"]
        # counter-case: a junk person key whose first word is no one's first name ("crime stoppers")
        await keys(table, entity("person:crime stoppers"))
        assert await keys(table, entity("org:broward crime stoppers")) == ["org:broward crime stoppers"]
