"""Document frequencies for IDF: counted in memory, persisted to Redis in aggregated increments.

Every article raises the count of each of its few hundred distinct words; doing
that in Redis per article cost more than everything else the store does (one
HINCRBY per word and article). The store instead keeps the table in memory,
loads it from Redis at start, and adds its own increments to Redis summed over
a flush interval: the same words recur, so one flush writes far fewer fields
than the articles it covers.

IDF is a statistic of the stream, not state that must agree exactly: with
several store instances each one counts its own share of the stream on top of
what was persisted when it started. The number of documents is counted the same
way, so the ratio log(N / df) stays a sound estimate on every instance.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from itertools import chain

from services.store.repository import BatchWrite, Repository

#: Increments are flushed with a batch's commit at most this often.
FLUSH_EVERY_S = 5.0


class DocumentFrequencies:
    """Per-term document counts and the number of documents counted."""

    def __init__(self, repo: Repository, *, flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.repo = repo
        self.flush_every_s = flush_every_s
        self.counts: Counter[str] = Counter()
        self.documents = 0
        self._pending: Counter[str] = Counter()
        self._pending_documents = 0
        self._loaded = False
        self._last_flush = time.monotonic()

    async def load(self) -> None:
        """Read the persisted counts once (first use)."""
        if self._loaded:
            return
        counts, documents = await self.repo.load_document_frequencies()
        for term, n in counts.items():
            self.counts[term] = self.counts.get(term, 0) + n
        self.documents += documents
        self._loaded = True

    def add(self, terms: Iterable[str]) -> None:
        """Count one document with these distinct terms."""
        self.counts.update(terms)
        self.documents += 1

    def remove(self, terms: Iterable[str]) -> None:
        """Undo add() (a batch that was not written)."""
        counts = self.counts
        for term in terms:
            left = counts.get(term, 0) - 1
            if left > 0:
                counts[term] = left
            else:
                counts.pop(term, None)
        self.documents -= 1

    def stage(self, write: BatchWrite, batch_terms: list[list[str]], *, force: bool = False) -> None:
        """Queue a batch's increments; put everything queued into `write` when a flush is due."""
        self._pending.update(chain.from_iterable(batch_terms))
        self._pending_documents += len(batch_terms)
        if force or time.monotonic() - self._last_flush >= self.flush_every_s:
            write.document_terms = self._pending
            write.documents = self._pending_documents

    def written(self, write: BatchWrite) -> None:
        """The commit carrying the staged increments went through."""
        if write.documents:
            self._pending = Counter()
            self._pending_documents = 0
            self._last_flush = time.monotonic()

    def unstage(self, batch_terms: list[list[str]]) -> None:
        """The batch was not written: its increments are not pending."""
        for terms in batch_terms:
            self._pending.subtract(terms)
        self._pending = +self._pending
        self._pending_documents -= len(batch_terms)

    async def flush(self) -> None:
        """Write everything pending now (shutdown)."""
        if self._pending_documents:
            write = BatchWrite(document_terms=self._pending, documents=self._pending_documents)
            await self.repo.commit(write)
            self.written(write)
