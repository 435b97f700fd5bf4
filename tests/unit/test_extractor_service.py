"""The extractor service's pure decisions (the service itself runs in tests/e2e and tests/integration)."""

from __future__ import annotations

from services.extractor.service import page_canonical


def test_the_page_canonical_on_its_own_site_is_canonicalised() -> None:
    assert page_canonical("https://www.news.example/story/1?utm_source=x#top", "https://news.example/amp/story/1") == (
        "https://www.news.example/story/1")
    assert page_canonical("/story/1", "https://news.example/amp/story/1") == "https://news.example/story/1"


def test_a_canonical_on_another_site_or_unusable_is_not_believed() -> None:
    assert page_canonical("https://victim.example/their-story", "https://news.example/story/1") is None
    assert page_canonical("javascript:alert(1)", "https://news.example/story/1") is None
    assert page_canonical(None, "https://news.example/story/1") is None
    assert page_canonical("", "https://news.example/story/1") is None
