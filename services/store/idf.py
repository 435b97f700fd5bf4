"""Document frequencies for IDF: hashed counters in a numpy array, persisted to Redis in summed increments.

Every article raises the count of each of its few hundred distinct words and
entity keys, and reads the count of each. Kept as a Python dict keyed by term
that was a quarter of the store's time and grew with the vocabulary without
bound. Terms are instead hashed (vectorised, deterministic across processes) to
one of 2**22 buckets of an int32 array: reading and raising an article's counts
are two numpy indexing operations, and memory is fixed (16 MiB).

Two terms sharing a bucket add up their counts. With a vocabulary of a million
terms a rare term shares its bucket with one of the ~5,000 frequent terms (the
only collisions that move an IDF noticeably) about 0.1 % of the time, the trade
count-min sketches and scikit-learn's HashingVectorizer make too.

In Redis the counts are a HASH of the buckets counted so far while a store is young (tens of thousands of
distinct terms: a few MB), and the dense block of u32 counters (16 MiB) once a HASH would weigh more
(repository.SPARSE_DF_BUCKETS); the store process always holds the dense array.

IDF is a statistic of the stream, not state that must agree exactly: with
several store instances each one counts its own share of the stream on top of
what was persisted when it started, and adds its increments to Redis summed over
a flush interval. The number of documents is counted the same way, so the ratio
log(N / df) stays a sound estimate on every instance.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from services.store.repository import BatchWrite, Repository

#: Increments are flushed with a batch's commit at most this often.
FLUSH_EVERY_S = 5.0
BUCKET_BITS = 22
BUCKETS = 1 << BUCKET_BITS
#: Characters of a term that are hashed (longer terms are rare; they share a bucket only if these agree).
HASHED_CHARS = 32

Buckets = npt.NDArray[np.intp]


def _splitmix64(count: int) -> npt.NDArray[np.uint64]:
    # Fixed odd multipliers from a fixed generator: every process, version and machine hashes alike.
    mask, x, out = (1 << 64) - 1, 0, []
    for _ in range(count):
        x = (x + 0x9E3779B97F4A7C15) & mask
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append((z ^ (z >> 31)) | 1)
    return np.array(out, dtype=np.uint64)


_POSITION_WEIGHTS = _splitmix64(HASHED_CHARS)
_MIX = np.uint64(0x94D049BB133111EB)


def term_buckets(terms: Sequence[str]) -> Buckets:
    """The bucket of each term: a position-weighted sum of its code points, mixed (vectorised)."""
    if not terms:
        return np.zeros(0, dtype=np.intp)
    # Fixed-width UTF-32 rows (numpy truncates longer terms), read as integers.
    codes = np.array(terms, dtype=f"<U{HASHED_CHARS}").view("<u4").reshape(len(terms), HASHED_CHARS)
    h = (codes.astype(np.uint64) * _POSITION_WEIGHTS).sum(axis=1)  # wraps modulo 2**64, as intended
    h ^= h >> np.uint64(31)
    h *= _MIX
    h ^= h >> np.uint64(29)
    buckets: Buckets = (h >> np.uint64(64 - BUCKET_BITS)).astype(np.intp)
    return buckets


class DocumentFrequencies:
    """Per-bucket document counts and the number of documents counted."""

    def __init__(self, repo: Repository, *, flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.repo = repo
        self.flush_every_s = flush_every_s
        self.counts = np.zeros(BUCKETS, dtype=np.int32)
        self.documents = 0
        self._pending: list[Buckets] = []  # each counted document's buckets since the last flush
        self._staged = 0  # how many of them the current write carries
        self._loaded = False
        self._last_flush = time.monotonic()

    async def load(self) -> None:
        """Read the persisted counts once (first use)."""
        if self._loaded:
            return
        persisted, documents = await self.repo.load_document_frequencies()
        n = min(len(persisted), BUCKETS)
        self.counts[:n] += persisted[:n].astype(np.int32)
        self.documents += documents
        self._loaded = True

    def frequencies(self, buckets: Buckets) -> npt.NDArray[np.int32]:
        """The document count of each bucket."""
        return self.counts[buckets]

    def add(self, buckets: Buckets) -> None:
        """Count one document whose distinct terms fall in these buckets."""
        self.counts[buckets] += 1
        self.documents += 1
        self._pending.append(buckets)

    def remove(self, buckets: Buckets) -> None:
        """Undo the latest add() of these buckets (a batch that was not written)."""
        self.counts[buckets] -= 1
        self.documents -= 1
        for i in range(len(self._pending) - 1, -1, -1):
            if self._pending[i] is buckets:
                del self._pending[i]
                break

    def stage(self, write: BatchWrite, *, force: bool = False) -> None:
        """Put the increments counted since the last flush into `write` when a flush is due."""
        if not self._pending or not (force or time.monotonic() - self._last_flush >= self.flush_every_s):
            return
        # Once per document and bucket, as add() counted them (two of a document's terms may share one).
        summed = np.bincount(np.concatenate([np.unique(b) for b in self._pending]), minlength=BUCKETS)
        changed = np.flatnonzero(summed)
        write.document_buckets = np.stack([changed, summed[changed]], axis=1)
        write.documents = len(self._pending)
        self._staged = len(self._pending)

    def written(self, write: BatchWrite) -> None:
        """The commit carrying the staged increments went through."""
        if write.documents:
            del self._pending[:self._staged]
            self._staged = 0
            self._last_flush = time.monotonic()

    def unstage(self) -> None:
        """The write carrying the staged increments was not committed: they stay pending."""
        self._staged = 0

    async def flush(self) -> None:
        """Write everything pending now (shutdown)."""
        write = BatchWrite()
        self.stage(write, force=True)
        if write.documents:
            await self.repo.commit(write)
            self.written(write)
