"""URL canonicalisation: one spelling per article, refusals for what is never fetched."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidUrl
from services.common.urls import canonical_url, host_of, normalize_url, same_site


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # case, default ports, fragments, empty path
        ("HTTP://WWW.Example.COM/Path", "http://www.example.com/Path"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com?b=1", "https://example.com/?b=1"),
        ("https://example.com./a", "https://example.com/a"),
        ("  https://example.com/a \n", "https://example.com/a"),
        # tracking parameters, sorted remainder
        ("https://ex.com/a?utm_source=rss&utm_medium=feed&id=7", "https://ex.com/a?id=7"),
        ("https://ex.com/a?UTM_Campaign=x&fbclid=1&gclid=2&dclid=3&msclkid=4", "https://ex.com/a"),
        ("https://ex.com/a?mc_cid=1&mc_eid=2&igshid=3&_ga=4&yclid=5&ref_src=6&cmpid=7", "https://ex.com/a"),
        ("https://ex.com/a?b=2&a=1&c=3", "https://ex.com/a?a=1&b=2&c=3"),
        ("https://ex.com/a?tag=x&page=2&tag=a", "https://ex.com/a?page=2&tag=x&tag=a"),
        ("https://ex.com/a?&&x=1&", "https://ex.com/a?x=1"),
        ("https://ex.com/a?b=1&A=2&a=3", "https://ex.com/a?A=2&a=3&b=1"),
        ("https://www.bbc.co.uk/news/x?at_medium=RSS&at_campaign=KARANGA", "https://www.bbc.co.uk/news/x"),
        # AMP variants
        ("https://ex.com/amp/2024/05/story", "https://ex.com/2024/05/story"),
        ("https://ex.com/news/story/amp", "https://ex.com/news/story"),
        ("https://ex.com/2024/05/story/amp/", "https://ex.com/2024/05/story/"),
        ("https://ex.com/story?amp=1", "https://ex.com/story"),
        ("https://ex.com/story?amp", "https://ex.com/story"),
        ("https://amp.ex.com/story", "https://ex.com/story"),
        ("https://ex.com/news/story.amp.html", "https://ex.com/news/story.html"),
        ("https://www.bbc.co.uk/news/world-123.amp", "https://www.bbc.co.uk/news/world-123"),
        ("https://ex.com/story?outputType=amp&id=1", "https://ex.com/story?id=1"),
        ("https://ex.com/amp", "https://ex.com/"),
        # paths and escapes
        ("https://ex.com/a/./b/../c", "https://ex.com/a/c"),
        ("https://ex.com/a%7e%2f", "https://ex.com/a~%2F"),
        ("https://ex.com/a b", "https://ex.com/a%20b"),
        ("https://ex.com/?q=100%", "https://ex.com/?q=100%25"),
        # internationalised hosts and IP literals
        ("https://Bücher.de/x", "https://xn--bcher-kva.de/x"),
        ("http://[0:0:0:0:0:0:0:1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_canonical_url_is_idempotent() -> None:
    for raw in ("https://amp.ex.com/amp/a/./b?utm_source=x&z=1&a=2#f", "https://Bücher.de/ä ö?q=ä b"):
        once = canonical_url(raw)
        assert canonical_url(once) == once


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        ("/b?utm_source=x", "https://ex.com/a/page", "https://ex.com/b"),
        ("c", "https://ex.com/a/page", "https://ex.com/a/c"),
        ("../c#x", "https://ex.com/a/b/page", "https://ex.com/a/c"),
        ("//cdn.ex.com/x", "https://ex.com/a", "https://cdn.ex.com/x"),
        ("https://other.org/x", "https://ex.com/a", "https://other.org/x"),
        ("?page=2", "https://ex.com/list?page=1", "https://ex.com/list?page=2"),
    ],
)
def test_relative_links_resolve_against_base(link: str, base: str, expected: str) -> None:
    assert canonical_url(link, base=base) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "file:///etc/passwd",
        "ftp://ex.com/x",
        "gopher://ex.com/",
        "data:text/html,hi",
        "javascript:alert(1)",
        "dict://ex.com:11211/",
        "ldap://ex.com/",
        "mailto:a@ex.com",
        "ex.com/no-scheme",
        "//ex.com/x",
        "http:///x",
        "",
        "http://user:pass@ex.com/",
        "http://PUBLIC@127.0.0.1/",
        "http://[::1]:80@ex.com/",
        "http://INTERNAL:8888\\@PUBLIC/",
        "http://ex.com/a\\b",
        "http://ex.com/a\x00b",
        "http://ex.com/\r\nHost: evil",
        "http://[example.com]/",
        "http://ex.com:99999/",
        "http://ex.com:port/",
        "http://%31%32%37.0.0.1/",
        "http://a b.com/",
        "http://[fe80::1%25eth0]/",
        "https://ex.com/" + "a" * 9000,
    ],
)
def test_refused(raw: str) -> None:
    with pytest.raises(InvalidUrl):
        canonical_url(raw)


def test_relative_link_to_bad_scheme_is_refused() -> None:
    with pytest.raises(InvalidUrl):
        canonical_url("javascript:alert(1)", base="https://ex.com/")


def test_fragment_trick_keeps_the_real_host() -> None:
    # One parser decides: the host is 127.0.0.1, which the SSRF guard then refuses.
    assert canonical_url("http://127.0.0.1#@public.example/") == "http://127.0.0.1/"


def test_normalize_url_keeps_semantics() -> None:
    url = "HTTPS://AMP.Ex.com:443/amp/story?utm_source=x&b=1#frag"
    assert normalize_url(url) == "https://amp.ex.com/amp/story?utm_source=x&b=1"
    assert normalize_url("/next", base="https://ex.com/a") == "https://ex.com/next"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://www.example.com/a", "example.com"),
        ("https://News.Example.com/a", "news.example.com"),
        ("http://example.com:8080/", "example.com"),
        ("https://www./", "www"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


def test_host_of_without_host() -> None:
    with pytest.raises(InvalidUrl):
        host_of("not a url")


@pytest.mark.parametrize(("a", "b", "same"), [
    ("https://www.bbc.co.uk/news/1", "https://bbc.co.uk/news/2", True),
    ("https://edition.cnn.com/a", "https://cnn.com/a", True),
    ("https://news.example/a", "https://news.example/b", True),
    ("https://evil.example/a", "https://news.example/a", False),
    ("https://notnews.example/a", "https://news.example/a", False),
    ("https://news.example/a", "not a url", False),
])
def test_same_site(a: str, b: str, same: bool) -> None:
    assert same_site(a, b) is same
