"""Story clustering (services.store.cluster, pure): features, scoring against candidate stories, centroids."""

from __future__ import annotations

import math

import numpy as np

from services.common.fingerprint import fingerprint
from services.common.messages import Entity
from services.store.cluster import (
    ArticleTerms,
    Candidate,
    Features,
    Weights,
    features_of,
    grow,
    match_key,
    ranked_matches,
    seed,
)

DAY = 86400.0
WEIGHTS = Weights(body=0.6, title=0.1, entities=0.3, time_scale_s=5 * DAY)


def ent(key: str, count: int = 1, pos: int = 0) -> Entity:
    return Entity(key=key, name=key.split(":")[1], type=key.split(":")[0].upper(), count=count, first_position=pos)


def terms(title: str, text: str, entities: list[Entity]) -> ArticleTerms:
    """An article's counted terms, as the store gets them from its fingerprint."""
    return ArticleTerms.of_fingerprint(fingerprint(title, text), entities)


def features(title: str, text: str, entities: list[Entity], time: float, df: dict[str, int],
             n_docs: int) -> Features:
    """An article's TF-IDF vectors under the given document frequencies (by term)."""
    counted = terms(title, text, entities)
    return features_of(counted, time, np.array([df.get(t, 0) for t in counted.weighed_terms()], dtype=np.int64),
                       n_docs)


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
    (match,) = ranked_matches(same, [story], WEIGHTS, 0.2, window_s=3 * DAY)
    assert match is not None and match.cluster_id == "c1"
    assert set(match.shared_entities) == {"person:vladimir putin", "person:qassem soleimani"}
    assert ranked_matches(other, [story], WEIGHTS, 0.2, window_s=3 * DAY) == []


def test_time_window_keeps_old_clusters_out() -> None:
    a = features("Quake hits city", "A strong quake hit the city", [ent("gpe:lima")], 0.0, {}, 1)
    later = features("Quake hits city", "A strong quake hit the city", [ent("gpe:lima")], 30 * DAY, {}, 1)
    assert ranked_matches(later, [seed("c", a)], WEIGHTS, 0.1, window_s=3 * DAY) == []
    assert ranked_matches(later, [seed("c", a)], WEIGHTS, 0.1, window_s=60 * DAY) != []


def test_centroids_grow_bounded_and_time_span_widens() -> None:
    c = seed("c", features("story 0", "word0 common", [], 5.0, {}, 1))
    for i in range(1, 400):
        c = grow(c, features(f"story {i}", f"word{i} common common", [], float(i), {}, 1))
    assert len(c.body) <= 300 and c.first_time == 1.0 and c.last_time == 399.0
    assert "common" in c.body


def test_document_terms_count_words_and_entities_once() -> None:
    article = terms("Volcano erupts", "volcano volcano lava", [ent("gpe:iceland", 4)])
    document_terms = article.weighed_terms()[:article.document_term_count]
    assert sorted(document_terms) == sorted(["e|gpe:iceland", "erupts", "lava", "volcano"])
    assert document_terms == [*article.body, *article.entities]


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

    def entity_similarity(article: Features, story: Candidate) -> float:
        (match,) = ranked_matches(article, [story], WEIGHTS, 0.0, window_s=math.inf)  # every score, no window
        return match.entity_similarity

    assert entity_similarity(same_day, first_town) == 1.0
    assert entity_similarity(later_town, first_town) < 0.1
    assert entity_similarity(later_person, first_person) == 1.0
