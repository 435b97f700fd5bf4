"""A subscription as a feed: `GET /v1/subscriptions/{id}/feed.xml|feed.json` turn the subscription's alerted
stories (kept by the notifier, story id -> time of the latest alert) into RSS 2.0 and JSON Feed 1.1: one entry
per story, newest alert first, its id the story id."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from services.api.deps import RepoDep, SubscriptionsDep
from services.notifier.subscriptions import Subscription, SubscriptionStore
from services.store.repository import Repository, StoredStory

router = APIRouter(tags=["subscriptions"])

#: Entries a subscription feed lists at most (the notifier keeps 500 per subscription).
FEED_MAX = 500
RSS_TYPE = "application/rss+xml"
JSON_FEED_TYPE = "application/feed+json"
# Characters XML 1.0 cannot carry at all, escaped or not.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


async def _alerted(sub_id: str, repo: Repository, subscriptions: SubscriptionStore,
                   limit: int) -> tuple[Subscription, list[tuple[StoredStory, datetime]]]:
    """The subscription and its alerted story clusters with their latest alert time, newest first."""
    sub = await subscriptions.get(sub_id)
    if sub is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {sub_id!r}")
    alerted = await subscriptions.alerted(sub_id, limit)
    found, _ = await repo.load_stories([story_id for story_id, _ in alerted])
    out: list[tuple[StoredStory, datetime]] = []
    seen: set[str] = set()
    for story_id, score in alerted:
        story = found.get(story_id)  # a story merged away answers as the story it joined
        if story is None or story.id in seen:
            continue
        seen.add(story.id)
        out.append((story, datetime.fromtimestamp(score, UTC)))
    return sub, out


def _story_url(request: Request, cluster_id: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/v1/clusters/{quote(cluster_id, safe='')}"


def _summary(story: StoredStory) -> str:
    articles = "article" if story.size == 1 else "articles"
    outlets = "outlet" if len(story.outlets) == 1 else "outlets"
    return f"{story.size} {articles} from {len(story.outlets)} {outlets}: {', '.join(story.outlets)}"


def _feed_title(sub: Subscription) -> str:
    return f"wirewatch: {sub.description or 'subscription ' + sub.id}"


def _x(text: str) -> str:
    return escape(_XML_INVALID.sub("", text))


_FEED_LIMIT = Annotated[int, Query(ge=1, le=FEED_MAX, description="entries at most")]
_FEED_RESPONSES: dict[int | str, dict[str, object]] = {404: {"description": "no such subscription"}}


@router.get("/subscriptions/{sub_id}/feed.xml", response_class=Response,
            responses={200: {"content": {RSS_TYPE: {}}, "description": "RSS 2.0"}, **_FEED_RESPONSES})
async def subscription_rss(sub_id: str, request: Request, repo: RepoDep,
                           subscriptions: SubscriptionsDep, limit: _FEED_LIMIT = 100) -> Response:
    """The subscription's alerted stories as RSS 2.0: one item per story cluster, latest alert first."""
    sub, entries = await _alerted(sub_id, repo, subscriptions, limit)
    self_url = str(request.url.remove_query_params("limit"))
    built = entries[0][1] if entries else sub.created_at
    items = "".join(
        "<item>"
        f"<title>{_x(cluster.title)}</title>"
        f"<link>{_x(_story_url(request, cluster.id))}</link>"
        f"<guid isPermaLink=\"false\">{_x(cluster.id)}</guid>"
        f"<pubDate>{format_datetime(at, usegmt=True)}</pubDate>"
        f"<description>{_x(_summary(cluster))}</description>"
        "</item>"
        for cluster, at in entries)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f"<title>{_x(_feed_title(sub))}</title>"
        f"<link>{_x(str(request.base_url).rstrip('/') + '/v1/subscriptions/' + quote(sub.id, safe=''))}</link>"
        f"<atom:link href={quoteattr(_XML_INVALID.sub('', self_url))} rel=\"self\" type=\"{RSS_TYPE}\"/>"
        "<description>Story clusters this subscription was alerted about, latest alert first</description>"
        f"<lastBuildDate>{format_datetime(built.astimezone(UTC), usegmt=True)}</lastBuildDate>"
        f"{items}</channel></rss>\n")
    return Response(body.encode(), media_type=f"{RSS_TYPE}; charset=utf-8")


@router.get("/subscriptions/{sub_id}/feed.json", response_class=Response,
            responses={200: {"content": {JSON_FEED_TYPE: {}}, "description": "JSON Feed 1.1"}, **_FEED_RESPONSES})
async def subscription_json_feed(sub_id: str, request: Request, repo: RepoDep,
                                 subscriptions: SubscriptionsDep, limit: _FEED_LIMIT = 100) -> Response:
    """The subscription's alerted stories as JSON Feed 1.1: one item per story cluster, latest alert first."""
    sub, entries = await _alerted(sub_id, repo, subscriptions, limit)
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": _feed_title(sub),
        "home_page_url": str(request.base_url).rstrip("/") + "/v1/subscriptions/" + quote(sub.id, safe=""),
        "feed_url": str(request.url.remove_query_params("limit")),
        "description": "Story clusters this subscription was alerted about, latest alert first",
        "items": [{
            "id": story.id,
            "url": _story_url(request, story.id),
            "title": story.title,
            "content_text": _summary(story),
            "date_published": at.isoformat(),
            "date_modified": at.isoformat(),
        } for story, at in entries],
    }
    return Response(json.dumps(feed, ensure_ascii=False).encode(), media_type=f"{JSON_FEED_TYPE}; charset=utf-8")
