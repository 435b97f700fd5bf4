"""Hashed document frequencies (services.store.idf): counted in memory, staged for Redis in summed increments."""

from __future__ import annotations

from services.store.idf import BUCKETS, DocumentFrequencies, term_buckets
from services.store.repository import BatchWrite


def test_hashed_document_frequencies_count_a_document_once_per_bucket_in_memory_and_in_redis() -> None:
    buckets = term_buckets(["volcano", "lava", "volcano"])
    assert buckets[0] == buckets[2] and 0 <= buckets.min() and buckets.max() < BUCKETS
    assert (term_buckets(["volcano"]) == buckets[:1]).all(), "the same term lands in the same bucket"
    idf = DocumentFrequencies(repo=None)  # type: ignore[arg-type]  # no Redis: counting only
    idf.add(buckets)
    idf.add(term_buckets(["lava"]))
    assert idf.frequencies(buckets).tolist() == [1, 2, 1]
    write = BatchWrite()
    idf.stage(write, force=True)
    assert write.documents == 2 and write.document_buckets is not None
    staged = dict(write.document_buckets.tolist())
    assert staged == {int(buckets[0]): 1, int(buckets[1]): 2}, "what Redis gets matches what was counted"
