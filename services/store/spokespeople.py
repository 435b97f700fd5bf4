"""The people an article names as someone's spokesperson: they say nothing about which event it reports.

A police department's spokesman is quoted in every shooting its city has ("said Officer Jose Estrada, a
police spokesman"), a club's or a ministry's in every story about them. Compared as people (who are
otherwise the most specific evidence two articles share: a victim, a suspect, a defendant), they chained
one outlet's reports of different shootings into one story (the dev set: five DNAinfo shootings across
seven months, joined through two Chicago police spokespeople and a hospital). An article that names one
says so in the same sentence: the role right before the name ("police spokesman Jose Estrada", "News
Affairs Officer Jose Estrada") or after it as an apposition ("Janel Sedevic, a Chicago Police
spokeswoman"). "A spokesman for Jane Doe" names her as the one spoken for, and is no match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.common.messages import Entity

__all__ = ["spokespeople"]

#: The roles, lower case: most articles name none, and their people are not looked at.
_ROLE_WORDS = ("spokesman", "spokeswoman", "spokesperson", "press secretary", "news affairs",
               "public information officer", "public affairs officer")
_ROLE = "(?:" + "|".join(w.replace(" ", r"\s+") for w in _ROLE_WORDS) + ")"
#: The role right before the name, perhaps with a rank between ("News Affairs Officer Jose Estrada").
_RANK = r"(?:\s+(?:officer|sgt\.?|sergeant|lt\.?|lieutenant|capt\.?|captain|det\.?|detective|cmdr\.?|commander))?"
_ROLE_BEFORE = re.compile(_ROLE + _RANK + r"\s+$", re.IGNORECASE)
#: The role in an apposition right after the name ("Janel Sedevic, a Chicago Police spokeswoman").
_ROLE_AFTER = re.compile(r"\s*,\s*(?:a|an|the)\b[^.;,]{0,60}?\b" + _ROLE, re.IGNORECASE)
#: Characters looked at either side of a mention.
_BEFORE, _AFTER = 60, 100


def spokespeople(text: str, entities: Sequence[Entity]) -> frozenset[str]:
    """Keys of the people (named in full: two words or more) the text calls someone's spokesperson."""
    # Plain substring searches first: a case-insensitive pattern over the whole text costs ~10x more.
    low = text.lower()
    if not any(word in low for word in _ROLE_WORDS):
        return frozenset()
    found = set()
    for entity in entities:
        name = entity.name.strip()
        if entity.type != "PERSON" or " " not in name:
            continue
        at = text.find(name)
        while at >= 0:
            end = at + len(name)
            if _ROLE_BEFORE.search(text, max(0, at - _BEFORE), at) or _ROLE_AFTER.match(text, end, end + _AFTER):
                found.add(entity.key)
                break
            at = text.find(name, end)
    return frozenset(found)
