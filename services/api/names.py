"""Queries by any name: an entity a user named (a key, a full name, a surname or any alias) turned into what
the owner being asked needs, through the extractor's alias table. Shared by the routes and the CLI."""

from __future__ import annotations

from services.extractor.aliases import AliasTable
from services.extractor.lookup import AmbiguousName
from services.store.summaries import StoryFilter


async def entity_filter(table: AliasTable, entity: str | None) -> StoryFilter:
    """The story filter for an entity given by key or any name: a story passes by naming any key the entity
    goes by (its aliases too: a story filed before the table learned one carries it). A name the table does
    not know is matched against the stories' keys and names as written. Raises AmbiguousName."""
    if not entity or not entity.strip():
        return StoryFilter()
    found = await table.lookup(entity)
    if found.ambiguous:
        raise AmbiguousName(found)
    if found.key is None:
        return StoryFilter(entity=entity)
    return StoryFilter(entity=entity, entity_keys=frozenset(await table.keys_of(found.key)))
