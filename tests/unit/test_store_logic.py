"""Store pure logic: body hashing, term vectors, cluster scoring."""

from __future__ import annotations

from services.common.messages import Entity
from services.store.cluster import Candidate, add_entities, add_to_centroid, best_match, salient_entities, score
from services.store.text import body_hash, cosine, term_vector


def ent(key: str, count: int = 1, pos: int = 0) -> Entity:
    return Entity(key=key, name=key.split(":")[1], type=key.split(":")[0].upper(), count=count, first_position=pos)


def test_body_hash_ignores_case_spacing_and_punctuation_only() -> None:
    assert body_hash("Putin met Soleimani.\n\nIn Moscow!") == body_hash("putin  met soleimani in moscow")
    assert body_hash("Putin met Soleimani") != body_hash("Putin met Assad")


def test_term_vector_boosts_title_and_drops_stopwords() -> None:
    vec = term_vector("Volcano erupts", "the the the lava flows from the volcano near the town")
    assert "the" not in vec
    assert max(vec, key=lambda k: vec[k]) == "volcano"
    assert abs(sum(v * v for v in vec.values()) - 1.0) < 1e-9


def test_salient_entities_rank_by_count_then_position() -> None:
    ents = [ent("gpe:moscow", 1, 50), ent("person:vladimir putin", 4, 10), ent("org:fars", 1, 5)]
    assert salient_entities(ents, 2) == ["person:vladimir putin", "org:fars"]


def test_same_event_scores_above_threshold_and_other_event_below() -> None:
    a = term_vector("Soleimani meets Putin in Moscow", "Iranian general Soleimani met Putin in Moscow over Syria")
    same = term_vector("Putin hosts Iran's Soleimani", "Russian president Putin hosted Soleimani to discuss Syria")
    other = term_vector("Floods hit Jakarta", "Heavy rain flooded Jakarta streets and thousands fled homes")
    keys_a = ["person:qassem soleimani", "person:vladimir putin", "gpe:moscow"]
    cluster = Candidate("c1", add_to_centroid({}, a, 0), add_entities({}, keys_a))
    match = best_match(same, ["person:vladimir putin", "person:qassem soleimani"], [cluster], threshold=0.3)
    assert match is not None and match.cluster_id == "c1"
    assert set(match.shared_entities) == {"person:vladimir putin", "person:qassem soleimani"}
    assert best_match(other, ["gpe:jakarta"], [cluster], threshold=0.3) is None
    assert score(other, ["gpe:jakarta"], cluster).score < 0.1


def test_centroid_stays_normalised_and_bounded() -> None:
    centroid: dict[str, float] = {}
    for i in range(50):
        centroid = add_to_centroid(centroid, term_vector(f"story {i}", f"word{i} other{i} common common"), i)
    assert len(centroid) <= 100
    assert abs(cosine(centroid, centroid) - 1.0) < 1e-9
    top_two = sorted(centroid, key=lambda k: -centroid[k])[:2]
    assert set(top_two) == {"story", "common"}, "terms shared by every member dominate the centroid"
