"""`wirewatch eval entities`: how often one name is split over several entity keys inside a gold story.

A composition root, like `eval stories`: it tags every labelled article with the extractor's
entity tagging (spaCy spans, then in-article resolution), replays the articles in stream
`order` through the alias table the extractor uses (`AliasTable.resolve`, real Redis: an
embedded Valkey when REDIS_URL is unset), and measures key fragmentation per gold story.

The measure. For a gold story, take the final keys of its articles' entities. A *name* is the
surname (last word) of a person key of the story; its group is every key of the story, of any
type, whose name ends with that word (`person:qassem soleimani`, `loc:soleimani`,
`org:iranian revolutionary guards' soleimani`). The (story, name) pair is *fragmented* when its
group holds two keys that may be one entity (`may_be_one`): one name under two types, one name a
tail of the other, or the same first and last words; "Mary Smith" and "John Smith" are two
people, not a split. Reported: the share of (story, name) pairs that are fragmented, over all
pairs and over the pairs whose name occurs in two or more articles of the story; the same before
the alias table (in-article resolution alone); the same over proper names only, leaving out
names the file also writes in lower case ("department", "hill": the model's person keys for
things that are no person make such names). Against merging too much: how many entities the
table filed under another key, and how many of those under a key no article of the story has
in-article (`Rewrites`; a wrong merge, or a right one learned from another story).

spaCy's spans are cached per piece of text (`--ner-cache`, default .cache/ner-spans.jsonl): a
second run costs resolution only, and a change to what spaCy reads (title casing, chunking)
tags only the pieces that changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress

from services.common.keys import Keys
from services.common.messages import Entity
from services.common.redis import open_redis
from services.common.settings import Settings
from services.evaluation.stories import Labelled, read_labelled, redis_for
from services.extractor import entities as tagging
from services.extractor.aliases import AliasTable
from services.extractor.lookup import canonical_key
from services.extractor.resolve import PLACE_NAMES, institutional

DEFAULT_CACHE = Path(".cache") / "ner-spans.jsonl"
_JOB_TEXTS = 32  # pieces per pool task
_NAME_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})


# --------------------------------------------------------------------------- the measure (pure)


def _words(key: str) -> tuple[str, list[str]]:
    kind, _, name = key.partition(":")
    return kind, [w for w in name.split() if w not in _NAME_SUFFIXES]


def surname(key: str) -> str | None:
    """The word a person key is followed by across outlets (its last word), None for other keys."""
    kind, words = _words(key)
    if kind != "person" or not words:
        return None
    last = words[-1].strip(".'")
    return last if len(last) >= 2 and any(c.isalpha() for c in last) else None


def _suffix(key: str) -> str:
    words = key.partition(":")[2].split()
    return words[-1].strip(".") if len(words) > 1 and words[-1] in _NAME_SUFFIXES else ""


def _tail(key: str) -> str:
    _, words = _words(key)
    return words[-1].strip(".'") if words else ""


def _name_words(key: str) -> list[str]:
    """A key's name words after a possessor glued in front ("iranian revolutionary guards' soleimani")."""
    _, words = _words(key)
    for i in range(len(words) - 1, 0, -1):
        if words[i - 1].endswith(("'s", "s'")):
            return words[i:]
    return words


def may_be_one(a: str, b: str) -> bool:
    """Whether two keys sharing a surname may name one entity: the same name under two types, one name a
    tail of the other ("soleimani", "qassem soleimani"), or the same first and last words ("karen b. olson",
    "karen olson"). "mary smith" and "john smith" are two people, so are "james glass sr." and
    "james glass jr."; "betty ford center" and "rehab center" are two places."""
    wa, wb = _name_words(a), _name_words(b)
    if not wa or not wb:
        return False
    sa, sb = _suffix(a), _suffix(b)
    if sa and sb and sa != sb:
        return False  # "james glass sr." and "james glass jr.": father and son
    short, long = sorted((wa, wb), key=len)
    return long[len(long) - len(short):] == short or wa[0] == wb[0]


_PLACE_KINDS = frozenset({"gpe", "loc", "fac"})


_NAME_WORD = re.compile(r"^[^\W\d_][\w.'’-]*$")


def full_person(key: str, common: frozenset[str] = frozenset()) -> bool:
    """A person key of a first name and a surname at least ("person:eddie jordan"): name words only, no
    institution word, a first word the texts never write in lower case ("trendy hayes valley" is no person)."""
    kind, words = _words(key)
    return (kind == "person" and len(words) >= 2 and all(_NAME_WORD.match(w) for w in words)
            and not institutional(key) and words[0] not in common)


def two_entities(a: str, b: str, places: frozenset[str], common: frozenset[str] = frozenset()) -> bool:
    """Whether two keys sharing a name are two entities by their own evidence: one a place the articles write
    as a place (`places`, see place_evidence), the other a person's full name that is the place's name with a
    first name in front ("gpe:jordan" the country and "person:eddie jordan"; "gpe:salinas" written "in Salinas"
    and "person:mark salinas"). Not "fac:76 partridge drive" and "person:partridge drive": one street."""
    for place, person in ((a, b), (b, a)):
        if place in places and full_person(person, common):
            place_words, person_words = _words(place)[1], _words(person)[1]
            if len(place_words) < len(person_words) and person_words[-len(place_words):] == place_words:
                return True
    return False


def fragmented(group: Iterable[str], places: frozenset[str] = frozenset(), common: frozenset[str] = frozenset()
               ) -> bool:
    """Whether keys sharing one surname hold at least two that may be one entity (and are not two entities by
    their own evidence, when `places` names the place keys that have it: see two_entities)."""
    keys = sorted(set(group))
    return any(may_be_one(a, b) and not two_entities(a, b, places, common)
               for i, a in enumerate(keys) for b in keys[i + 1:])


@dataclass
class Fragmentation:
    """Fragmented (story, name) pairs."""

    pairs: int = 0
    fragmented: int = 0
    multi_article_pairs: int = 0  # pairs whose name occurs in two or more articles of the story
    multi_article_fragmented: int = 0
    examples: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (story, name, keys)
    excluded: list[tuple[str, str, list[str]]] = field(default_factory=list)  # two entities by own evidence

    @property
    def share(self) -> float:
        """Fragmented pairs over all pairs."""
        return self.fragmented / self.pairs if self.pairs else 0.0

    @property
    def multi_article_share(self) -> float:
        """Fragmented pairs over the pairs seen in two or more articles."""
        return self.multi_article_fragmented / self.multi_article_pairs if self.multi_article_pairs else 0.0

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"pairs": self.pairs, "fragmented": self.fragmented, "share": round(self.share, 4),
                "multi_article_pairs": self.multi_article_pairs,
                "multi_article_fragmented": self.multi_article_fragmented,
                "multi_article_share": round(self.multi_article_share, 4), "excluded": len(self.excluded)}


def measure(stories: Mapping[str, Sequence[Iterable[str]]], *, common_words: frozenset[str] = frozenset(),
            places: Mapping[str, frozenset[str]] | None = None, lower: frozenset[str] = frozenset()
            ) -> Fragmentation:
    """Fragmentation of stories given as {story: [the entity keys of each of its articles]}; names in
    `common_words` (words the texts also write in lower case: "department", "hill") are left out. With
    `places` ({story: place keys with their own evidence}), a place and a person's full name sharing a name
    are two entities, not a split (`lower`: words the texts write in lower case, no first names): the pairs
    only they fragmented are listed in `excluded`."""
    out = Fragmentation()
    for story in sorted(stories):
        articles = [set(keys) for keys in stories[story]]
        names = {s for keys in articles for k in keys if (s := surname(k)) and s not in common_words}
        for name in sorted(names):
            per_article = [{k for k in keys if _tail(k) == name} for keys in articles]
            group = set().union(*per_article)
            seen_in = sum(1 for keys in per_article if keys)
            split = fragmented(group)
            if split and places is not None and not fragmented(group, places.get(story, frozenset()), lower):
                split = False
                out.excluded.append((story, name, sorted(group)))
            out.pairs += 1
            out.fragmented += split
            if seen_in >= 2:
                out.multi_article_pairs += 1
                out.multi_article_fragmented += split
            if split:
                out.examples.append((story, name, sorted(group)))
    return out


# --------------------------------------------------------------------------- tagging with a span cache


def _cache_key(model: str, piece: str) -> str:
    return hashlib.sha1(f"{model}\0{piece}".encode()).hexdigest()[:24]


def _spans_job(item: tuple[str, list[str]]) -> list[list[tagging.Span]]:
    model, texts = item
    return tagging.ner_spans(texts, model=model)


def tag_cached(records: Sequence[Labelled], settings: Settings, *, cache: Path | None, workers: int,
               progress: Progress | None = None) -> dict[str, list[Entity]]:
    """Every article's entities as the extractor tags them, spaCy's spans read from / added to `cache`."""
    model = settings.spacy_model
    known: dict[str, list[tagging.Span]] = {}
    if cache is not None and cache.exists():
        for line in cache.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                known[rec["k"]] = [tuple(s) for s in rec["s"]]
    pieces = {r.id: tagging.article_pieces(r.text, r.title or None, language="en",
                                           ner_max_chars=settings.ner_max_chars) for r in records}
    todo: dict[str, str] = {}
    for article in pieces.values():
        for _, piece in article:
            k = _cache_key(model, piece)
            if k not in known:
                todo.setdefault(k, piece)
    if todo:
        items = list(todo.items())
        jobs = [(model, [p for _, p in items[i:i + _JOB_TEXTS]]) for i in range(0, len(items), _JOB_TEXTS)]
        task = progress.add_task("spaCy (uncached pieces)", total=len(items)) if progress else None
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
        out = cache.open("a") if cache is not None else None
        try:
            with ProcessPoolExecutor(workers, initializer=tagging.load, initargs=(model,)) as pool:
                for n, spans in enumerate(pool.map(_spans_job, jobs)):
                    for (k, _), s in zip(items[n * _JOB_TEXTS:(n + 1) * _JOB_TEXTS], spans, strict=True):
                        known[k] = s
                        if out is not None:
                            out.write(json.dumps({"k": k, "s": s}) + "\n")
                    if progress is not None and task is not None:
                        progress.advance(task, len(spans))
        finally:
            if out is not None:
                out.close()
    return {rid: tagging.entities_from_spans(article, [known[_cache_key(model, p)] for _, p in article])
            for rid, article in pieces.items()}


async def _replay(records: Sequence[Labelled], tagged: Mapping[str, list[Entity]],
                  settings: Settings) -> tuple[dict[str, list[Entity]], dict[str, str]]:
    """Each article's entities as the table resolved them in stream order, and the table's aliases at the end."""
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        table = AliasTable(redis, keys)
        final = {r.id: await table.resolve(tagged.get(r.id, [])) for r in records}
        return final, {str(k): str(v) for k, v in (await redis.hgetall(keys.entity_aliases)).items()}


def as_queried(final: Mapping[str, list[Entity]], aliases: Mapping[str, str]) -> dict[str, list[Entity]]:
    """The articles' keys as a query by name sees them at the end of the stream: each through the final table
    (a story filed under "person:nixon" before the table learned it is found as "person:richard nixon")."""
    return {rid: [e.model_copy(update={"key": canonical_key(e.key, aliases)}) for e in ents]
            for rid, ents in final.items()}


@dataclass
class Rewrites:
    """The guard against merging by the table: entities it filed under another key, and how many of those
    went to a key no article of the story has in-article (a wrong merge, most likely)."""

    rewritten: int = 0
    foreign: int = 0
    examples: list[tuple[str, str, str]] = field(default_factory=list)  # (story, tagged key, final key)

    @property
    def foreign_share(self) -> float:
        """Foreign rewrites over rewrites."""
        return self.foreign / self.rewritten if self.rewritten else 0.0

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"rewritten": self.rewritten, "foreign": self.foreign, "foreign_share": round(self.foreign_share, 4)}


def rewrites(records: Sequence[Labelled], tagged: Mapping[str, list[Entity]],
             final: Mapping[str, list[Entity]]) -> Rewrites:
    """Count the table's rewrites and those to a key foreign to the story (see Rewrites)."""
    story_keys: dict[str, set[str]] = defaultdict(set)
    for r in records:
        for e in tagged.get(r.id, []):
            story_keys[r.cluster].update((e.key, *e.aliases))
    out = Rewrites()
    for r in records:
        own = {t.key for t in tagged.get(r.id, [])}
        for e in final.get(r.id, []):
            if e.key in own:
                continue
            out.rewritten += 1
            if e.key not in story_keys[r.cluster]:
                out.foreign += 1
                out.examples.append((r.cluster, ", ".join(a for a in e.aliases if a in own), e.key))
    return out


# "in Salinas", "outside Tyler": not the prepositions a person also follows ("shot at Barfield", "near Gibson"),
# not "the" ("in the Zawahri family"), not "run-in", nor a possessive ("in Zawahri's bedroom")
_LOCATIVE = r"(?<![\w-])(?:in|outside|inside|across|throughout|around)\s+"


def place_evidence(records: Sequence[Labelled], final: Mapping[str, list[Entity]]) -> dict[str, frozenset[str]]:
    """{story: its place keys (gpe, loc, fac) that have their own evidence of being a place}: a country or US
    state, or a name an article of the story writes after a locative preposition ("in Salinas", "at Tyler")
    or before a comma and a country or US state ("Tyler, Texas"). The extractor's rule for a place that stays a
    place, with the prepositions a person also follows ("shot at Barfield", "near Gibson") left out."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in records:
        text = f"{r.title}\n{r.text}"
        for e in final.get(r.id, []):
            kind, _, name = e.key.partition(":")
            if kind not in _PLACE_KINDS or not e.name.strip():
                continue
            if name in PLACE_NAMES:
                out[r.cluster].add(e.key)
                continue
            written = re.escape(e.name.strip())
            if re.search(_LOCATIVE + written + r"\b(?!['’]s\b)", text, re.IGNORECASE) or any(
                    m.group(1).lower() in PLACE_NAMES
                    for m in re.finditer(written + r",\s+([A-Z][a-z]+(?: [A-Z][a-z]+)?)", text)):
                out[r.cluster].add(e.key)
    return {story: frozenset(keys) for story, keys in out.items()}


@dataclass
class EntityEval:
    """Fragmentation before the alias table (in-article resolution alone) and after it."""

    articles: int
    in_article: Fragmentation
    with_table: Fragmentation
    keys: int  # distinct final keys over the file
    rewrites: Rewrites = field(default_factory=Rewrites)
    proper_in_article: Fragmentation = field(default_factory=Fragmentation)  # names never written in lower case
    proper_with_table: Fragmentation = field(default_factory=Fragmentation)
    queried: Fragmentation = field(default_factory=Fragmentation)  # through the table as it is at the end
    # a place with its own evidence and a person's full name sharing a name counted as two entities
    two_kinds: Fragmentation = field(default_factory=Fragmentation)
    queried_two_kinds: Fragmentation = field(default_factory=Fragmentation)

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"articles": self.articles, "distinct_keys": self.keys, "in_article": self.in_article.as_json(),
                "with_alias_table": self.with_table.as_json(), "table_rewrites": self.rewrites.as_json(),
                "proper_names_only": {"in_article": self.proper_in_article.as_json(),
                                      "with_alias_table": self.proper_with_table.as_json()},
                "as_queried": self.queried.as_json(),
                "place_and_person_apart": {"with_alias_table": self.two_kinds.as_json(),
                                           "as_queried": self.queried_two_kinds.as_json()}}


_LOWER_WORD = re.compile(r"\b[a-z][a-z'\-]+\b")


def common_words(records: Sequence[Labelled]) -> frozenset[str]:
    """Words the file's titles and texts write in lower case somewhere (not proper names)."""
    out: set[str] = set()
    for r in records:
        out.update(_LOWER_WORD.findall(r.title))
        out.update(_LOWER_WORD.findall(r.text))
    return frozenset(out)


def by_story(records: Sequence[Labelled], tagged: Mapping[str, list[Entity]]) -> dict[str, list[list[str]]]:
    """{gold story: [entity keys of each article]}."""
    out: dict[str, list[list[str]]] = defaultdict(list)
    for r in records:
        out[r.cluster].append([e.key for e in tagged.get(r.id, [])])
    return out


def evaluate_entities(path: Path, settings: Settings, *, cache: Path | None = DEFAULT_CACHE, workers: int = 2,
                      progress: Progress | None = None) -> EntityEval:
    """Tag (cached), replay through the alias table in stream order and measure fragmentation."""
    records = read_labelled(path)
    tagged = tag_cached(records, settings, cache=cache, workers=workers, progress=progress)
    run = settings.model_copy(update={"key_prefix": f"evalent{uuid.uuid4().hex[:8]}:"})
    with redis_for(run) as with_redis:
        final, aliases = asyncio.run(_replay(records, tagged, with_redis))
    keys = Counter(e.key for ents in final.values() for e in ents)
    common = common_words(records)
    queried = as_queried(final, aliases)
    return EntityEval(len(records), measure(by_story(records, tagged)), measure(by_story(records, final)), len(keys),
                      rewrites(records, tagged, final), measure(by_story(records, tagged), common_words=common),
                      measure(by_story(records, final), common_words=common), measure(by_story(records, queried)),
                      measure(by_story(records, final), places=place_evidence(records, final), lower=common),
                      measure(by_story(records, queried), places=place_evidence(records, queried), lower=common))
