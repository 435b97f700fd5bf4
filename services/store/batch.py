"""One batch of articles placed together: reads prefetched, decisions kept in memory, one write.

The store places the articles of one consumer poll as a unit (services.store.placement):
everything the batch needs from Redis is read in a few round trips up front, each
article is then decided in arrival order against a view that layers what the
earlier articles of the batch decided over what Redis held, and the outcome is
written in one transaction (Repository.commit). Reading through the view gives
each article the answer it would have had if the articles before it had been
written one by one; anything the prefetch missed is read on demand.

`StoryCache` keeps stories between batches: a story whose stored version is
unchanged is neither read nor parsed again. Several store instances stay
consistent because the commit checks every touched story's version.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import Counter, OrderedDict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain

from services.common.fingerprint import Sketch
from services.store.cluster import Candidate
from services.store.lsh import LshIndex
from services.store.repository import POSTINGS_PER_KEY, BatchWrite, Repository, StoredArticle, StoredStory


@dataclass(frozen=True)
class Entry:
    """A cluster and its clustering view (whose norms are computed once)."""

    story: StoredStory
    candidate: Candidate


def candidate_of(story: StoredStory) -> Candidate:
    """The clustering view of a stored cluster."""
    c = story.centroid
    return Candidate(story.id, c.body, c.title, c.entities, c.first_time, c.last_time)


class StoryCache(Mapping[str, StoredStory]):
    """The most recently used clusters, with their clustering views (bounded, LRU)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    def __getitem__(self, cluster_id: str) -> StoredStory:
        return self._entries[cluster_id].story

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, story: StoredStory) -> Entry:
        """The entry for a cluster read from Redis, reusing the cached clustering view if it is the same version."""
        cached = self._entries.get(story.id)
        if cached is not None and cached.story is story:
            self._entries.move_to_end(story.id)
            return cached
        entry = Entry(story, candidate_of(story))
        self.put(entry)
        return entry

    def put(self, entry: Entry) -> None:
        """Remember a cluster as just used."""
        self._entries[entry.story.id] = entry
        self._entries.move_to_end(entry.story.id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def forget(self, story_ids: Iterable[str]) -> None:
        """Drop clusters (changed elsewhere, or merged away)."""
        for cid in story_ids:
            self._entries.pop(cid, None)


class BatchView:
    """What one batch sees (its own decisions over Redis) and what it will write."""

    def __init__(self, repo: Repository, lsh: LshIndex, cache: StoryCache) -> None:
        self.repo = repo
        self.lsh = lsh
        self.cache = cache
        self.write = BatchWrite()
        # Read from Redis (prefetched, completed on demand).
        self.body_owner_read: dict[str, str] = {}
        self.postings_read: dict[str, PostingsRead] = {}
        self.sketches: dict[str, Sketch] = {}
        self.articles_read: dict[str, StoredArticle] = {}
        self.entries: dict[str, Entry] = {}
        self.aliases: dict[str, str] = {}
        # Decided by this batch.
        self.touched: dict[str, Entry] = {}
        # The batch's own postings per index key as (time, story id), ascending: what postings() merges with
        # Redis's newest without sorting a poll's worth of them for every article.
        self.own_postings: dict[str, list[tuple[float, str]]] = {}

    # --- prefetch -----------------------------------------------------------------------
    async def read_postings(self, keys: Iterable[str], *, lo: float, hi: float) -> None:
        """Read the stories posted under index keys, unless what was read of a key already holds its
        newest POSTINGS_PER_KEY within [lo, hi]."""
        missing = []
        for key in dict.fromkeys(keys):
            read = self.postings_read.get(key)
            if read is None or not read.covers(lo, hi):
                missing.append(key)
        if missing:
            found = await self.repo.postings(missing, lo=lo, hi=hi)
            for key, entries in found.items():
                self.postings_read[key] = PostingsRead(lo, hi, entries)

    async def read_articles(self, ids: Iterable[str]) -> None:
        """Read stored articles not known to the batch yet (their records: placement never needs the text)."""
        missing = [i for i in dict.fromkeys(ids) if self.local_article(i) is None and i not in self.articles_read]
        for article in await self.repo.articles(missing, with_text=False):
            self.articles_read[article.id] = article

    async def read_sketches(self, ids: Iterable[str]) -> None:
        """Read the MinHash sketches of articles not known to the batch yet."""
        missing = [i for i in dict.fromkeys(ids) if i not in self.sketches]
        self.sketches.update(await self.lsh.sketches(missing))

    async def read_stories(self, ids: Iterable[str]) -> None:
        """Read clusters (through the cache, following merges) not known to the batch yet."""
        missing = [i for i in dict.fromkeys(ids)
                   if i not in self.entries and i not in self.aliases and i not in self.touched]
        if not missing:
            return
        found, aliases = await self.repo.load_stories(missing, known=self.cache, members=False)
        self.aliases.update(aliases)
        for cid, story in found.items():
            self.entries[cid] = self.cache.entry(story)

    # --- the view -----------------------------------------------------------------------
    def body_owner(self, digest: str) -> str | None:
        """The first article with this body hash, in Redis or earlier in the batch."""
        return self.body_owner_read.get(digest) or self.write.bodies.get(digest)

    def postings(self, key: str, *, lo: float, hi: float) -> Collection[str]:
        """The POSTINGS_PER_KEY stories most recently posted under an index key in [lo, hi], as Redis would
        answer had the batch's earlier articles been written one by one (read_postings first)."""
        read = self.postings_read.get(key)
        entries = read.entries if read is not None else []
        mine = self.write.postings.get(key)
        if not mine:
            # Most keys have no posting from this batch: Redis's list as it is when all of it is in the window.
            if read is None or read.within(lo, hi):
                return [cid for cid, _ in entries]
            return [cid for cid, t in entries if lo <= t <= hi]
        # Both lists newest first in Redis's order (equal times: reverse lexical order of the id), merged. A story
        # has one time, its latest (ZADD GT, as the commit writes it): an entry older than the story's time on
        # the other side (or an earlier posting of this batch) is not its place in the list.
        read_time = dict(entries)
        own = self.own_postings[key]
        i = bisect_right(own, (hi, _AFTER_ANY_ID)) - 1
        theirs = [(t, cid) for cid, t in entries if lo <= t <= hi]
        j = 0
        out: list[str] = []
        seen: set[str] = set()
        while len(out) < POSTINGS_PER_KEY:
            mine_next = own[i] if i >= 0 and own[i][0] >= lo else None
            read_next = theirs[j] if j < len(theirs) else None
            if mine_next is None and read_next is None:
                break
            if mine_next is not None and (read_next is None or mine_next > read_next):
                t, cid = mine_next
                i -= 1
                current = t == mine[cid] and t >= read_time.get(cid, t)
            else:
                t, cid = theirs[j]
                j += 1
                current = t >= mine.get(cid, t)
            if current and cid not in seen:
                seen.add(cid)
                out.append(cid)
        return out

    def local_article(self, article_id: str) -> StoredArticle | None:
        """An article this batch wrote or moved."""
        return self.write.moved_articles.get(article_id) or self.write.new_articles.get(article_id)

    async def article(self, article_id: str) -> StoredArticle | None:
        """A stored article as the batch sees it."""
        found = self.local_article(article_id) or self.articles_read.get(article_id)
        if found is None:
            await self.read_articles([article_id])
            found = self.articles_read.get(article_id)
        return found

    def resolve(self, cluster_id: str) -> str:
        """The id a cluster lives on as after the merges known so far."""
        for _ in range(10):
            nxt = self.write.absorbed.get(cluster_id) or self.aliases.get(cluster_id)
            if nxt is None or nxt == cluster_id:
                break
            cluster_id = nxt
        return cluster_id

    async def entry(self, cluster_id: str) -> Entry | None:
        """A cluster as the batch sees it (following merges), read on demand."""
        cid = self.resolve(cluster_id)
        if cid in self.touched:
            return self.touched[cid]
        if cid not in self.entries:
            await self.read_stories([cid])
            cid = self.resolve(cid)
            if cid in self.touched:
                return self.touched[cid]
        return self.entries.get(cid)

    # --- decisions ----------------------------------------------------------------------
    def touch(self, before: Entry | None, after: Entry) -> None:
        """Record a cluster's new state (`before` None: a new cluster)."""
        cid = after.story.id
        if cid not in self.write.expected_versions:
            self.write.expected_versions[cid] = before.story.version if before is not None else 0
        self.touched[cid] = after
        self.write.stories[cid] = after.story

    def absorb(self, absorbed: Entry, survivor_id: str) -> None:
        """Record that a cluster was merged into another."""
        cid = absorbed.story.id
        if cid not in self.write.expected_versions:
            self.write.expected_versions[cid] = absorbed.story.version
        self.touched.pop(cid, None)
        self.write.stories.pop(cid, None)
        self.write.absorbed[cid] = survivor_id

    def add_article(self, article: StoredArticle) -> None:
        """Record a new article (and its body, if it is the first with that body)."""
        self.write.new_articles[article.id] = article
        if not self.body_owner(article.body_hash):
            self.write.bodies[article.body_hash] = article.id

    def move_article(self, article: StoredArticle) -> None:
        """Record an article re-pointed to another cluster (a merge)."""
        if article.id in self.write.new_articles:
            self.write.new_articles[article.id] = article
        else:
            self.write.moved_articles[article.id] = article

    def post(self, keys: Iterable[str], cluster_id: str, at: float) -> None:
        """Post a cluster under index keys at time `at` (the latest time wins)."""
        for key in keys:
            ids = self.write.postings.setdefault(key, {})
            ids[cluster_id] = max(at, ids.get(cluster_id, at))
            insort(self.own_postings.setdefault(key, []), (at, cluster_id))

    def committed(self) -> None:
        """The write went through: the cache learns the new versions and forgets merged-away clusters."""
        self.cache.forget(self.write.absorbed)
        for cid, entry in self.touched.items():
            entry.story.mark_stored(self.write.expected_versions[cid] + 1)
            self.cache.put(entry)


@dataclass(frozen=True)
class PostingsRead:
    """What one read of an index key returned: the newest POSTINGS_PER_KEY stories posted in [lo, hi]."""

    lo: float
    hi: float
    entries: list[tuple[str, float]]  # (story id, posting time), newest first

    def covers(self, lo: float, hi: float) -> bool:
        """Whether this read holds the newest POSTINGS_PER_KEY postings in [lo, hi] (a sub-window)."""
        if lo < self.lo or hi > self.hi:
            return False
        if len(self.entries) < POSTINGS_PER_KEY:
            return True  # everything in the read's window was read
        # A full read: complete for [lo, hi] unless newer postings beyond `hi` took places that postings
        # inside it would have had, which we can rule out when the read reaches below `lo` anyway.
        return self.entries[0][1] <= hi or self.entries[-1][1] < lo

    def within(self, lo: float, hi: float) -> bool:
        """Whether every posting read lies in [lo, hi]."""
        return not self.entries or (self.entries[-1][1] >= lo and self.entries[0][1] <= hi)


# Sorts after every story id at the same time (ids are ASCII): bisect's bound for "posted at or before hi".
_AFTER_ANY_ID = "\U0010ffff"


def count_hits(posting_lists: Iterable[Collection[str]]) -> Counter[str]:
    """How many of an article's index keys each story is posted under."""
    return Counter(chain.from_iterable(posting_lists))
