"""Webhook bodies as typed models (services.notifier.payloads): the bytes on the wire are the ones the
earlier dict-and-json.dumps code sent, since receivers verify signatures over those exact bytes.

Each expected text below was produced by that earlier code (`json.dumps(body, separators=(",", ":"))`
over the dict `alert_body` / `ping_body` built) for the same inputs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from services.common.messages import StoryArticle, StoryEvent
from services.notifier.alerts import Alert
from services.notifier.payloads import AlertBody, DigestBody, PingBody, alert_body, digest_body, ping_body

AT = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
ARTICLE = StoryArticle(id="a1", title="Tête-à-tête in Tehran / Тегеран", url="https://news.example/a1?x=1&y=2",
                       outlet="Example News", language="en",
                       published_at=datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=UTC), text="ignored")
COPY_ARTICLE = StoryArticle(id="a2", title='Harbour "fire"', url="https://copy.example/a2", outlet="Copy Desk")
CREATED_EVENT = StoryEvent(kind="created", cluster_id="c1", article_id="a1", title="Tête-à-tête in Tehran", size=1,
                           outlets=["Example News"], entities=["person:qassem soleimani", "gpe:tehran"],
                           independent_outlets=1, copies=0, article=ARTICLE, at=AT)
MERGED_EVENT = StoryEvent(kind="merged", cluster_id="c2", article_id="a9", merged_into="c1", title="Harbour fire",
                          size=5, outlets=["o1", "o2"], entities=[], independent_outlets=2, copies=3,
                          at=AT.astimezone(timezone(timedelta(hours=2))))
COPY_EVENT = StoryEvent(kind="updated", cluster_id="c1", article_id="a2", title="Harbour fire", size=2,
                        outlets=["Example News", "Copy Desk"], entities=["gpe:port alba"], independent_outlets=1,
                        copies=1, article_copy_of="a1", article=COPY_ARTICLE, at=AT + timedelta(minutes=5))

CREATED = (
    r'{"id":"msg_c","type":"story.created","reasons":["first_match"],"subscription_id":"sub_1",'
    r'"story":{"id":"c1","title":"T\u00eate-\u00e0-t\u00eate in Tehran","size":1,'
    r'"outlets":["Example News"],"independent_outlets":1,"copies":0,'
    r'"entities":["person:qassem soleimani","gpe:tehran"],"merged_from":null,"href":"/v1/clusters/c1"},'
    r'"article":{"id":"a1",'
    r'"title":"T\u00eate-\u00e0-t\u00eate in Tehran / \u0422\u0435\u0433\u0435\u0440\u0430\u043d",'
    r'"url":"https://news.example/a1?x=1&y=2","outlet":"Example News",'
    r'"published_at":"2026-11-24T09:00:00.123456+00:00","copy_of":null},'
    r'"at":"2026-11-24T10:30:00+00:00"}'
)

MERGED = (
    r'{"id":"msg_m","type":"story.updated","reasons":["merged","more_outlets"],'
    r'"subscription_id":"sub_1","story":{"id":"c1","title":"Harbour fire","size":5,"outlets":["o1",'
    r'"o2"],"independent_outlets":2,"copies":3,"entities":[],"merged_from":"c2",'
    r'"href":"/v1/clusters/c1"},"article":null,"at":"2026-11-24T12:30:00+02:00"}'
)

COPY = (
    r'{"id":"msg_p","type":"story.updated","reasons":["first_pickup"],"subscription_id":"sub_1",'
    r'"story":{"id":"c1","title":"Harbour fire","size":2,"outlets":["Example News","Copy Desk"],'
    r'"independent_outlets":1,"copies":1,"entities":["gpe:port alba"],"merged_from":null,'
    r'"href":"/v1/clusters/c1"},"article":{"id":"a2","title":"Harbour \"fire\"",'
    r'"url":"https://copy.example/a2","outlet":"Copy Desk","published_at":null,"copy_of":"a1"},'
    r'"at":"2026-11-24T10:35:00+00:00"}'
)

DIGEST_FIRST = (
    r'{"id":"msg_d","type":"story.updated","reasons":["first_pickup"],"subscription_id":"sub_1",'
    r'"story":{"id":"c1","title":"Harbour fire","size":2,"outlets":["Example News","Copy Desk"],'
    r'"independent_outlets":1,"copies":1,"entities":["gpe:port alba"],"merged_from":null,'
    r'"href":"/v1/clusters/c1"},"article":{"id":"a2","title":"Harbour \"fire\"",'
    r'"url":"https://copy.example/a2","outlet":"Copy Desk","published_at":null,"copy_of":"a1"},'
    r'"at":"2026-11-24T10:35:00+00:00","digest":{"window_minutes":60,"updates":1}}'
)

DIGEST_LATER = (
    r'{"id":"msg_d","type":"story.updated","reasons":["first_pickup","headline","more_outlets"],'
    r'"subscription_id":"sub_1","story":{"id":"c1","title":"T\u00eate-\u00e0-t\u00eate in Tehran",'
    r'"size":1,"outlets":["Example News"],"independent_outlets":1,"copies":0,'
    r'"entities":["person:qassem soleimani","gpe:tehran"],"merged_from":null,"href":"/v1/clusters/c1"},'
    r'"article":{"id":"a1",'
    r'"title":"T\u00eate-\u00e0-t\u00eate in Tehran / \u0422\u0435\u0433\u0435\u0440\u0430\u043d",'
    r'"url":"https://news.example/a1?x=1&y=2","outlet":"Example News",'
    r'"published_at":"2026-11-24T09:00:00.123456+00:00","copy_of":null},'
    r'"at":"2026-11-24T10:30:00+00:00","digest":{"window_minutes":60,"updates":2}}'
)

PING = (
    r'{"id":"msg_ping_sub_1","type":"ping","subscription_id":"sub_1","at":"2026-11-24T10:30:00+00:00"}'
)


def test_an_alert_is_the_bytes_it_always_was() -> None:
    # Non-ASCII escaped as \uXXXX, microseconds and "+00:00" kept, nulls written, not left out.
    created = alert_body(Alert("story.created", ("first_match",)), "sub_1", CREATED_EVENT, ARTICLE, "msg_c")
    assert created.wire() == CREATED
    # A merge without its article: `article` is null, `merged_from` names the story that joined.
    merged = alert_body(Alert("story.updated", ("merged", "more_outlets")), "sub_1", MERGED_EVENT, None, "msg_m")
    assert merged.wire() == MERGED
    # A copy: no publication date, `copy_of` set, a quote in the title.
    copy = alert_body(Alert("story.updated", ("first_pickup",)), "sub_1", COPY_EVENT, COPY_ARTICLE, "msg_p")
    assert copy.wire() == COPY


def test_a_digest_gathers_reasons_and_counts_updates_in_the_old_bytes() -> None:
    first = digest_body(Alert("story.updated", ("first_pickup",)), "sub_1", COPY_EVENT, COPY_ARTICLE, "msg_d",
                        window_minutes=60, earlier=None)
    assert first.wire() == DIGEST_FIRST
    # A later update in the window reads the digest back as it stood (typed, not a dict).
    earlier = DigestBody.model_validate_json(first.wire())
    later = digest_body(Alert("story.updated", ("more_outlets", "headline")), "sub_1", CREATED_EVENT, ARTICLE,
                        "msg_d", window_minutes=60, earlier=earlier)
    assert later.wire() == DIGEST_LATER
    assert later.reasons == ["first_pickup", "headline", "more_outlets"] and later.digest.updates == 2


def test_the_ping_is_the_bytes_it_always_was() -> None:
    ping = ping_body("sub_1", AT)
    assert ping.wire() == PING
    assert ping.id == "msg_ping_sub_1"


def test_bodies_read_back_as_they_were_written() -> None:
    for text, model in ((CREATED, AlertBody), (MERGED, AlertBody), (COPY, AlertBody), (DIGEST_LATER, DigestBody),
                        (PING, PingBody)):
        assert model.model_validate_json(text).wire() == text
        assert json.loads(text) == json.loads(model.model_validate_json(text).wire())


def test_bodies_name_the_story_a_merge_joined() -> None:
    body = alert_body(Alert("story.created", ("first_match",)), "s1", MERGED_EVENT, None, "msg_1")
    assert body.type == "story.created" and body.story.id == "c1" and body.story.merged_from == "c2"
