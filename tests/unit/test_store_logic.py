"""Store pure logic: body hashing, TF-IDF vectors, cluster scoring."""

from __future__ import annotations

import numpy as np

from services.common.fingerprint import body_hash
from services.common.messages import Entity
from services.store.cluster import (
    ArticleTerms,
    Weights,
    best_match,
    document_terms,
    features,
    grow,
    match_key,
    score,
    seed,
)
from services.store.text import add_vectors, idf, tfidf_of

WEIGHTS = Weights(body=0.6, title=0.1, entities=0.3)
DAY = 86400.0


def ent(key: str, count: int = 1, pos: int = 0) -> Entity:
    return Entity(key=key, name=key.split(":")[1], type=key.split(":")[0].upper(), count=count, first_position=pos)


def test_body_hash_ignores_case_spacing_and_punctuation_only() -> None:
    assert body_hash("Putin met Soleimani.\n\nIn Moscow!") == body_hash("putin  met soleimani in moscow")
    assert body_hash("Putin met Soleimani") != body_hash("Putin met Assad")


def test_idf_rewards_rare_terms_and_tfidf_is_unit_length() -> None:
    assert idf(1, 1000) > idf(500, 1000) > 0
    vec = tfidf_of(["volcano", "the"], [3, 5], np.array([2, 990]), 1000, limit=10)
    assert vec["volcano"] > vec["the"]
    assert abs(sum(v * v for v in vec.values()) - 1.0) < 1e-9


def test_same_event_joins_and_other_event_opens_a_new_cluster() -> None:
    a_ents = [ent("person:qassem soleimani", 3), ent("person:vladimir putin", 2), ent("gpe:moscow")]
    df: dict[str, int] = {}
    a = features("Soleimani meets Putin in Moscow", "Iranian general Soleimani met Putin in Moscow over Syria",
                 a_ents, 0.0, df, 10)
    same = features("Putin hosts Iran's Soleimani", "Russian president Putin hosted Soleimani to discuss Syria",
                    a_ents[:2], 3600.0, df, 10)
    other = features("Floods hit Jakarta", "Heavy rain flooded Jakarta streets and thousands fled homes",
                     [ent("gpe:jakarta")], 7200.0, df, 10)
    story = seed("c1", a)
    match = best_match(same, [story], WEIGHTS, 0.2, window_s=3 * DAY)
    assert match is not None and match.cluster_id == "c1"
    assert set(match.shared_entities) == {"person:vladimir putin", "person:qassem soleimani"}
    assert best_match(other, [story], WEIGHTS, 0.2, window_s=3 * DAY) is None


def test_time_window_keeps_old_clusters_out() -> None:
    a = features("Quake hits city", "A strong quake hit the city", [ent("gpe:lima")], 0.0, {}, 1)
    later = features("Quake hits city", "A strong quake hit the city", [ent("gpe:lima")], 30 * DAY, {}, 1)
    assert best_match(later, [seed("c", a)], WEIGHTS, 0.1, window_s=3 * DAY) is None
    assert best_match(later, [seed("c", a)], WEIGHTS, 0.1, window_s=60 * DAY) is not None


def test_centroids_grow_bounded_and_time_span_widens() -> None:
    c = seed("c", features("story 0", "word0 common", [], 5.0, {}, 1))
    for i in range(1, 400):
        c = grow(c, features(f"story {i}", f"word{i} common common", [], float(i), {}, 1))
    assert len(c.body) <= 300 and c.first_time == 1.0 and c.last_time == 399.0
    assert "common" in c.body


def test_document_terms_count_words_and_entities_once() -> None:
    terms = document_terms("Volcano erupts", "volcano volcano lava", [ent("gpe:iceland", 4)])
    assert sorted(terms) == sorted(["e|gpe:iceland", "erupts", "lava", "volcano"])
    article = ArticleTerms.of("Volcano erupts", "volcano volcano lava", [ent("gpe:iceland", 4)])
    assert article.weighed_terms()[:article.document_term_count] == article.document_terms()
    assert add_vectors({"a": 1.0}, {"a": 1.0, "b": 0.5}, limit=1) == {"a": 2.0}


def test_people_are_compared_by_surname_across_articles() -> None:
    assert match_key("person:ali khamenei") == match_key("person:khamenei") == "person:khamenei"
    assert match_key("person:martin luther king jr.") == "person:king"
    assert match_key("gpe:new york") == "gpe:new york" and match_key("org:hezbollah") == "org:hezbollah"
    full = features("Talks", "Iran's leader spoke", [ent("person:ali khamenei", 2)], 0.0, {}, 10)
    short = features("Talks", "Khamenei spoke", [ent("person:khamenei", 1)], 0.0, {}, 10)
    assert full.entities.keys() == short.entities.keys()


def test_shared_places_fade_with_time_but_shared_people_do_not() -> None:
    town = [ent("gpe:springfield", 2)]
    person = [ent("person:jane doe", 2)]
    first_town = seed("c1", features("Shooting", "a shooting downtown", town, 0.0, {}, 10))
    first_person = seed("c2", features("Shooting", "a shooting downtown", person, 0.0, {}, 10))
    later_town = features("Shooting", "another incident", town, 60 * DAY, {}, 10)
    later_person = features("Trial", "the trial opened", person, 60 * DAY, {}, 10)
    same_day = features("Shooting", "another incident", town, 0.0, {}, 10)
    assert score(same_day, first_town, WEIGHTS).entity_similarity == 1.0
    assert score(later_town, first_town, WEIGHTS).entity_similarity < 0.1
    assert score(later_person, first_person, WEIGHTS).entity_similarity == 1.0


def test_hashed_document_frequencies_count_a_document_once_per_bucket_in_memory_and_in_redis() -> None:
    from services.store.idf import BUCKETS, DocumentFrequencies, term_buckets
    from services.store.repository import BatchWrite

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
