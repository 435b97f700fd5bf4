"""The extractor service's pure decisions (the service itself runs in tests/e2e and tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.messages import FeedItem
from services.extractor.extract import ExtractedPage
from services.extractor.service import page_canonical, publication_time


def test_the_page_canonical_on_its_own_site_is_canonicalised() -> None:
    assert page_canonical("https://www.news.example/story/1?utm_source=x#top", "https://news.example/amp/story/1") == (
        "https://www.news.example/story/1")
    assert page_canonical("/story/1", "https://news.example/amp/story/1") == "https://news.example/story/1"


def test_a_canonical_on_another_site_or_unusable_is_not_believed() -> None:
    assert page_canonical("https://victim.example/their-story", "https://news.example/story/1") is None
    assert page_canonical("javascript:alert(1)", "https://news.example/story/1") is None
    assert page_canonical(None, "https://news.example/story/1") is None
    assert page_canonical("", "https://news.example/story/1") is None


FETCHED = datetime(2026, 3, 1, 9, tzinfo=UTC)
PAGE_META = datetime(2026, 2, 27, 8, tzinfo=UTC)
FEED_DATE = datetime(2026, 2, 28, 7, tzinfo=UTC)
DATED_TEXT = "Published: February 26, 2026\nThe council met on Tuesday to vote on the budget."


def _page(published: datetime | None, text: str = DATED_TEXT) -> ExtractedPage:
    return ExtractedPage(text=text, title="Council votes", author=None, published=published, updated=None,
                         site_name=None, description=None, canonical_url=None, language="en")


def _item(published: datetime | None) -> FeedItem:
    return FeedItem(url="https://a.example/x", feed_id="f1", feed_url="https://a.example/feed", outlet="A",
                    published_at=published, seen_at=FETCHED)


def test_the_publication_time_is_the_pages_metadata_first() -> None:
    assert publication_time(_page(PAGE_META), _item(FEED_DATE), FETCHED) == PAGE_META


def test_then_the_feed_items_date() -> None:
    assert publication_time(_page(None), _item(FEED_DATE), FETCHED) == FEED_DATE


def test_then_the_date_line_atop_the_text() -> None:
    assert publication_time(_page(None), _item(None), FETCHED) == datetime(2026, 2, 26, 12, tzinfo=UTC)


def test_no_date_anywhere_is_none() -> None:
    page = _page(None, "The council met on Tuesday to vote on the budget.")
    assert publication_time(page, _item(None), FETCHED) is None
