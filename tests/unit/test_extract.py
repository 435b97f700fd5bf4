"""Extraction of article text and metadata from realistic pages (pure, no network)."""

from __future__ import annotations

import html as html_lib
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.errors import ExtractionFailed, NotAnArticle
from services.extractor.extract import (
    ExtractedPage,
    date_line,
    decode_html,
    drop_legal_notices,
    extract_page,
    is_legal_notice,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SEEDS = SHARED / "seeds"
SEED_FILES = sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []
needs_seeds = pytest.mark.skipif(
    not SEED_FILES, reason=f"seed articles not found at {SEEDS} (the shared data directory is absent)"
)

# Phrases that only occur in the boilerplate around the article: none may leak into the text.
BOILERPLATE = [
    "We use cookies",
    "Accept all cookies",
    "Subscribe to our newsletter",
    "All rights reserved",
    "Terms of Service",
    "Privacy Policy",
    "Most read",
    "Celebrity chef opens",
    "Markets rally",
    "Comments are closed",
    "This is an outrage",
    "Login to reply",
    "Sports",
    "Entertainment",
]

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def wrap(
    title: str,
    paragraphs: list[str],
    *,
    canonical: str = "https://news.example/world/soleimani-putin",
    published: str = "2015-12-16T09:30:00+03:30",
) -> str:
    """An article page as outlets serve them: nav, cookie banner, related links, comments, footer."""
    esc = html_lib.escape
    nav = "\n".join(
        f'<li><a href="/section/{i}">{name}</a></li>'
        for i, name in enumerate(
            [
                "Home",
                "World",
                "Politics",
                "Business",
                "Tech",
                "Science",
                "Health",
                "Sports",
                "Entertainment",
                "Opinion",
                "Video",
                "Podcasts",
                "Weather",
                "Travel",
                "Style",
            ]
            * 2
        )
    )
    related = "\n".join(
        f'<li><a href="/related/{i}">{t}</a></li>'
        for i, t in enumerate(
            [
                "Celebrity chef opens new restaurant downtown",
                "Markets rally as inflation cools",
                "Ten tips for a better night's sleep",
                "Local team wins championship after overtime",
                "Most read: the gadget everyone wants this winter",
            ]
        )
    )
    body = "\n".join(f"<p>{esc(p)}</p>" for p in paragraphs)
    comments = "\n".join(
        f'<li class="comment"><span class="author">user{i}</span><p>{c}</p><a href="/login">Login to reply</a></li>'
        for i, c in enumerate(
            [
                "This is an outrage, nobody should believe these reports at all.",
                "Great article, thanks for sharing this with everyone here today.",
                "I have been saying this for years and nobody ever listens to me.",
            ]
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<title>{esc(title)} | Example News</title>
<link rel="canonical" href="{canonical}">
<meta property="og:url" content="https://news.example/og-url">
<meta property="og:site_name" content="Example News">
<meta property="og:title" content="{esc(title)}">
<meta name="description" content="{esc(paragraphs[0][:150])}">
<meta name="author" content="Jane Reporter">
<meta property="article:published_time" content="{published}">
<script>window.dataLayer = window.dataLayer || []; function track(){{}}</script>
<style>.cookie{{position:fixed}}</style>
</head><body>
<div class="cookie-banner" id="cookie-consent"><p>We use cookies to improve your experience on our site.
<button>Accept all cookies</button> <a href="/privacy">Privacy Policy</a></p></div>
<header class="site-header"><nav class="main-nav"><ul>{nav}</ul></nav>
<form class="newsletter"><p>Subscribe to our newsletter</p><input type="email"></form></header>
<main>
<article class="article">
<h1 class="headline">{esc(title)}</h1>
<div class="byline">By <span class="author">Jane Reporter</span>
<time datetime="{published}">December 16, 2015</time></div>
<div class="article-body">
{body}
</div>
</article>
<aside class="related"><h2>Most read</h2><ul>{related}</ul></aside>
<section class="comments" id="comments"><h2>Comments</h2><ul>{comments}</ul>
<p>Comments are closed for this article.</p></section>
</main>
<footer class="site-footer"><ul><li><a href="/terms">Terms of Service</a></li>
<li><a href="/privacy">Privacy Policy</a></li><li><a href="/contact">Contact</a></li></ul>
<p>© 2015 Example News. All rights reserved.</p></footer>
</body></html>"""


def seed(path: Path) -> tuple[str, list[str]]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[0], lines[1:]


@needs_seeds
@pytest.mark.parametrize("path", SEED_FILES, ids=[p.stem for p in SEED_FILES])
def test_seed_text_recovered_without_boilerplate(path: Path) -> None:
    title, paragraphs = seed(path)
    page = extract_page(wrap(title, paragraphs), "https://news.example/world/soleimani-putin?utm_source=x")

    expected = Counter(tokens(" ".join(paragraphs)))
    got = Counter(tokens(page.text))
    recall = sum(min(n, got[t]) for t, n in expected.items()) / sum(expected.values())
    assert recall >= 0.95, f"token recall {recall:.3f}"
    # little boilerplate: no marker phrase, and few tokens that are not in the article at all
    leaked = [b for b in BOILERPLATE if b.lower() in page.text.lower()]
    assert not leaked, leaked
    allowed = expected | Counter(tokens(title))
    extra = sum((got - allowed).values())
    assert extra <= 0.03 * sum(expected.values()), f"{extra} extra tokens: {(got - allowed).most_common(10)}"
    # paragraphs stay separated
    assert page.text.count("\n") >= len(paragraphs) - 1

    assert page.title == title
    assert page.canonical_url == "https://news.example/world/soleimani-putin"
    assert page.language == "en"
    assert page.site_name == "Example News"
    assert page.author == "Jane Reporter"
    assert page.description and page.description.startswith(paragraphs[0][:40])
    assert page.published == datetime(2015, 12, 16, 6, 0, tzinfo=UTC)
    assert page.published.tzinfo is not None


_SENTENCES = [
    "The minister said the talks in the capital had gone well and would continue next week.",
    "Officials from both delegations met behind closed doors for more than three hours on Tuesday.",
    "Several analysts cautioned that an agreement on the most difficult questions remained distant.",
    "Opposition lawmakers demanded that the government publish the full text of any draft deal.",
    "Diplomats expect a second round of negotiations to begin before the end of the month.",
    "Markets in the region reacted calmly, with the currency trading near its recent average.",
    "A spokesperson declined to comment on reports that a senior envoy had resigned in protest.",
    "Residents interviewed outside parliament said they hoped the process would end the crisis.",
]


def _article(words: int = 80) -> str:
    paragraphs: list[str] = []
    i = 0
    while sum(len(p.split()) for p in paragraphs) < words:
        paragraphs.append(f"{_SENTENCES[i % len(_SENTENCES)]} (Paragraph {i}.)")
        i += 1
    return "<p>" + "</p>\n<p>".join(paragraphs) + "</p>"


def test_og_url_when_no_canonical_and_relative_canonical() -> None:
    body = _article()
    page = extract_page(
        f'<html><head><meta property="og:url" content="https://x.example/a"></head><body>'
        f"<article>{body}</article></body></html>",
        "https://x.example/a?utm=1",
    )
    assert page.canonical_url == "https://x.example/a"
    page = extract_page(
        f'<html><head><link href="/story/1" rel="canonical"></head><body><article>{body}</article></body></html>',
        "https://x.example/amp/story/1",
    )
    assert page.canonical_url == "https://x.example/story/1"
    page = extract_page(
        f'<html><head><link rel="canonical" href="javascript:alert(1)"></head><body>'
        f"<article>{body}</article></body></html>",
        "https://x.example/s",
    )
    assert page.canonical_url != "javascript:alert(1)"


def test_naive_published_time_is_utc() -> None:
    page = extract_page(
        '<html><head><meta property="article:published_time" content="2020-01-02T03:04:05"></head>'
        f"<body><article>{_article()}</article></body></html>",
        "https://x.example/a",
    )
    assert page.published == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_non_english_language_detected() -> None:
    german = (
        "Der Minister sagte am Mittwoch in der Hauptstadt, die Gespräche mit der Regierung seien gut "
        "verlaufen und würden in der kommenden Woche fortgesetzt, obwohl viele Fragen offen blieben."
    )
    page = extract_page(
        f'<html lang="en"><body><article><p>{german}</p><p>{german}</p></article></body></html>', "https://x.example/de"
    )
    assert page.language == "de"


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   \n\t ",
        "<html><head><title>Nothing</title></head><body></body></html>",
        "<html><body><nav><a href='/'>Home</a></nav></body></html>",
    ],
    ids=["empty", "blank", "empty-body", "nav-only"],
)
def test_empty_page_fails_clearly(html: str) -> None:
    with pytest.raises(ExtractionFailed):
        extract_page(html, "https://x.example/")


def test_too_short_text_fails_with_reason() -> None:
    with pytest.raises(ExtractionFailed, match=r"too short|no main text"):
        extract_page("<html><body><article><p>Just a few words here.</p></article></body></html>", "https://x.example/")


@pytest.mark.parametrize(
    "payload",
    [
        '{"json": "document", "items": [1, 2, 3], "text": "this is not a web page at all, it is data"}',
        "%PDF-1.4\n%âãÏÓ\n1 0 obj << /Type /Catalog >> endobj " * 20,
        "plain text " * 200,
    ],
    ids=["json", "pdf", "plain-text"],
)
def test_non_html_fails_clearly(payload: str) -> None:
    with pytest.raises(ExtractionFailed):
        extract_page(payload, "https://x.example/file")


def test_bytes_are_refused() -> None:
    with pytest.raises(ExtractionFailed, match="str"):
        extract_page(b"<html><body><p>hi</p></body></html>", "https://x.example/")  # type: ignore[arg-type]


BROKEN = [
    # unclosed tags everywhere
    "<html><body><div><article><p>" + _article(120).replace("</p>", "") + "<div><span><b><i>",
    # garbage bytes decoded with replacement, control characters, NULs
    decode_html(
        b"<html><body><article><p>"
        + bytes(range(256)) * 4
        + b"</p>"
        + _article(80).encode()
        + b"\x00\x01\x02</article>",
        None,
    ),
    # an XML declaration with an encoding (lxml refuses those in str input)
    '<?xml version="1.0" encoding="ISO-8859-1"?><html><body><article>' + _article() + "</article></body></html>",
    # deeply nested, mismatched tags
    "<html><body>" + "<div><p><table><tr><td>" * 300 + _article() + "</span></i>" * 50,
    # comment/script/CDATA debris
    "<html><body><!-- unclosed comment <script>var x = '</div>';</script><![CDATA[ junk ]]>" + _article(),
    # only garbage bytes
    decode_html(bytes(range(256)) * 50, None),
    # half a tag
    "<html><body><article><p class=" + "x" * 10000,
]


@pytest.mark.parametrize("html", BROKEN, ids=[f"broken-{i}" for i in range(len(BROKEN))])
def test_broken_html_gives_text_or_extraction_failed(html: str) -> None:
    try:
        page = extract_page(html, "https://x.example/broken")
    except ExtractionFailed as exc:
        assert str(exc)
    else:
        assert isinstance(page, ExtractedPage)
        assert len(page.text.split()) >= 25
        assert "\x00" not in page.text


# --------------------------------------------------------------------------- decode_html


def test_decode_declared_latin1_header() -> None:
    body = "<html><body><p>Café crème à Zürich – “quoted”</p></body></html>".encode("cp1252")
    text = decode_html(body, "ISO-8859-1")
    assert "Café crème à Zürich – “quoted”" in text  # latin-1 means windows-1252, as in browsers


def test_decode_header_wins_over_meta() -> None:
    body = '<meta charset="utf-8"><p>Café</p>'.encode("latin-1")
    assert "Café" in decode_html(body, "latin-1")


def test_decode_meta_charset() -> None:
    body = '<html><head><meta charset="windows-1251"></head><body><p>Путин в Москве</p></body></html>'
    assert "Путин в Москве" in decode_html(body.encode("cp1251"), None)


def test_decode_meta_http_equiv() -> None:
    body = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15">'
        "</head><body><p>Prix: 5 €, déjà</p></body></html>"
    )
    assert "Prix: 5 €, déjà" in decode_html(body.encode("iso-8859-15"), None)


def test_decode_unknown_declared_charset_falls_through() -> None:
    body = "<p>Soleimani’s visit</p>".encode()
    assert "Soleimani’s visit" in decode_html(body, "x-no-such-charset")


def test_decode_bom() -> None:
    assert decode_html(b"\xef\xbb\xbf<p>hi</p>", None) == "<p>hi</p>"
    assert "héllo" in decode_html("<p>héllo</p>".encode("utf-16"), None)


def test_decode_broken_utf8_never_raises() -> None:
    good = "<p>Qassem Soleimani’s visit to Moscow — “my friend, Qassem” — the café’s owner said.</p>"
    body = good.encode() + b"\xff\xfe\xc3(\xa0\xa1" + "<p>ok é</p>".encode()
    text = decode_html(body, None)
    assert "Qassem Soleimani’s visit to Moscow" in text and "ok é" in text and "\ufffd" in text
    text = decode_html(body, "utf-8")
    assert "\ufffd" in text and "ok é" in text


def test_decode_undeclared_cp1252_is_sniffed() -> None:
    body = (
        "<html><body><p>"
        + "Le président a déclaré à la presse que la réunion était très réussie. " * 5
        + "</p></body></html>"
    ).encode("cp1252")
    assert "président a déclaré" in decode_html(body, None)


def test_decode_empty() -> None:
    assert decode_html(b"", None) == ""


# --------------------------------------------------------------------------- metadata, paywalls, non-articles


def test_modified_time_from_meta_and_json_ld() -> None:
    page = extract_page(
        '<html><head><meta property="article:published_time" content="2020-01-02T03:04:05Z">'
        '<meta property="article:modified_time" content="2020-01-02T08:00:00+01:00"></head>'
        f"<body><article>{_article()}</article></body></html>",
        "https://x.example/a",
    )
    assert page.updated == datetime(2020, 1, 2, 7, 0, tzinfo=UTC)
    page = extract_page(
        '<html><head><script type="application/ld+json">{"@type": "NewsArticle", "datePublished": '
        '"2021-05-01T10:00:00Z", "dateModified": "2021-05-02T11:00:00Z"}</script></head>'
        f"<body><article>{_article()}</article></body></html>",
        "https://x.example/b",
    )
    assert page.published == datetime(2021, 5, 1, 10, tzinfo=UTC)
    assert page.updated == datetime(2021, 5, 2, 11, tzinfo=UTC)


def test_no_modified_time_or_the_same_as_published_is_none() -> None:
    page = extract_page(f"<html><body><article>{_article()}</article></body></html>", "https://x.example/a")
    assert page.updated is None
    page = extract_page(
        '<html><head><meta property="article:published_time" content="2020-01-02T03:04:05Z">'
        '<meta property="article:modified_time" content="2020-01-02T03:04:05Z"></head>'
        f"<body><article>{_article()}</article></body></html>",
        "https://x.example/a",
    )
    assert page.updated is None


TEASER = ("The minister said on Wednesday that the talks had gone well and would resume next week, although "
          "many questions remained open and neither side would say when an agreement could be signed. ")


def test_paywall_stub_marked_in_json_ld_is_not_an_article() -> None:
    html = ('<html><head><script type="application/ld+json">{"@type": "NewsArticle", '
            '"isAccessibleForFree": false, "datePublished": "2021-05-01T10:00:00Z"}</script></head>'
            f"<body><article><p>{TEASER}</p><p>{TEASER}</p></article></body></html>")
    with pytest.raises(NotAnArticle, match=r"paywall stub.*isAccessibleForFree"):
        extract_page(html, "https://x.example/paid")


def test_paywall_stub_recognised_by_its_closing_line() -> None:
    html = (f"<html><body><article><p>{TEASER}</p><p>{TEASER}</p>"
            "<p>Subscribe to continue reading this article.</p></article></body></html>")
    with pytest.raises(NotAnArticle, match="paywall stub"):
        extract_page(html, "https://x.example/paid")


def test_a_paywalled_page_that_carries_its_full_text_is_an_article() -> None:
    html = ('<html><head><script type="application/ld+json">{"@type": "NewsArticle", '
            '"isAccessibleForFree": "False"}</script></head>'
            f"<body><article>{_article(300)}</article></body></html>")
    assert len(extract_page(html, "https://x.example/full").text.split()) >= 150


def test_a_home_page_is_not_an_article() -> None:
    teasers = "".join(f"<p>{TEASER} Story {i}.</p>" for i in range(6))
    html = ('<html><head><meta property="og:type" content="website"><title>News Example</title></head>'
            f"<body><main>{teasers}</main></body></html>")
    with pytest.raises(NotAnArticle, match="not an article page"):
        extract_page(html, "https://x.example/")


def test_og_type_website_with_an_article_date_is_still_an_article() -> None:
    html = ('<html><head><meta property="og:type" content="website">'
            '<meta property="article:published_time" content="2020-01-02T03:04:05Z"></head>'
            f"<body><article>{_article()}</article></body></html>")
    assert extract_page(html, "https://x.example/a").published is not None


@pytest.mark.parametrize("notice", [
    "(TM and © Copyright 2016 CBS Radio Inc. and its relevant subsidiaries. CBS RADIO and EYE Logo TM and "
    "Copyright 2016 CBS Broadcasting Inc. Used under license. All Rights Reserved. This material may not be "
    "published, broadcast, rewritten, or redistributed.)",
    "Copyright 2015 KSLA. All rights reserved.",
    "©2016 CBS Local Media, a division of CBS Radio Inc.",
    "Copyright Associated Press / NBC 5 Dallas-Fort Worth",
    "© Copyright 2015 The Washington Times, LLC. Click here for reprint permission.",
])
def test_copyright_notices_are_legal_notices(notice: str) -> None:
    assert is_legal_notice(notice)


@pytest.mark.parametrize("reporting", [
    "The band sued the station for copyright infringement, saying it played the song without a licence.",
    "Copyright lawyers for the studio said the ruling, which a federal judge in Los Angeles issued on Monday "
    "after two years of hearings, would change how songs are licensed.",
    "Police say the shooting happened at 2 a.m. outside a bar on Main Street.",
    "All rights reserved, the lawyer said of the photographs, was printed under every one of them in the "
    "book; " + "the judge heard testimony from the photographer and the publisher for three days " * 6,
])
def test_reporting_about_copyright_is_not_a_legal_notice(reporting: str) -> None:
    assert not is_legal_notice(reporting)


def test_legal_notices_are_dropped_from_the_text_and_the_rest_is_kept() -> None:
    text = ("ST. LOUIS (KMOX/AP) — A 14-year-old girl has been fatally shot in a St. Louis home.\n\n"
            "Police identified the victim as Jamayha Luss.\n\n"
            "(TM and Copyright 2016 CBS Radio Inc. and its relevant subsidiaries. All Rights Reserved.)\n\n"
            "Copyright 2016 The Associated Press. All rights reserved.")
    assert drop_legal_notices(text) == ("ST. LOUIS (KMOX/AP) — A 14-year-old girl has been fatally shot in a "
                                        "St. Louis home.\n\nPolice identified the victim as Jamayha Luss.")
    assert drop_legal_notices("No notice here.\n\nNor here.") == "No notice here.\n\nNor here."


def test_extracted_text_has_no_copyright_notice() -> None:
    body = " ".join(f"<p>Paragraph {i} of the report says the council met on Tuesday to vote on the budget.</p>"
                    for i in range(6))
    page = (f"<html><head><title>Council votes</title></head><body><article><h1>Council votes</h1>{body}"
            "<p>Copyright 2016 WXYZ. All rights reserved.</p></article></body></html>")
    text = extract_page(page, "https://news.example.com/council").text
    assert "Paragraph 5" in text
    assert "All rights reserved" not in text


_FETCHED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("top", "day"), [
    ("Published: July 28, 2004\nFred LaRue, a Watergate figure, has died.", "2004-07-28"),
    ("Last updated 15:48 15 / 09 / 2013\nThe rescue team recovered the body.", "2013-09-15"),
    ("Article posted on 08.07.2012\nThe champion won in the sixth round.", "2012-07-08"),  # day.month.year
    ("Posted 2 / 3 / 2009 11:11 PM\nThe council met.", "2009-02-03"),  # slashes: month/day/year
    ("Sunday, November 27 - 2005 at 16:12\nTremors were felt.", "2005-11-27"),
    ("8: 56am Monday 10th June 2013\nA man has been charged.", "2013-06-10"),
    ("Published: 2012.08.08 09:01 AM\nA fire destroyed the mill.", "2012-08-08"),
    ("Klitschko retains his titles\n27 NOVEMBER, 2005\nThe fight ended early.", "2005-11-27"),  # under a title
])
def test_a_date_line_atop_the_text_dates_the_page(top: str, day: str) -> None:
    found = date_line(top, not_after=_FETCHED)
    assert found is not None
    assert found.date().isoformat() == day
    assert found.tzinfo is not None


@pytest.mark.parametrize("top", [
    "Copyright 2015 Associated Press. All rights reserved.\nThe storm hit on Monday.",  # a notice, not a date
    "Copyright 2014\nThe storm hit on Monday.",  # a year alone
    # a sentence that reports a date (a birth date): "Tenn." ends a sentence
    "Pinup icon Bettie Page died Thursday.\nPage was born on April 22, 1923, in Nashville, Tenn.",
    "The storm hit on Monday.\nIt was the worst in years.\nPublished: July 28, 2004",  # too far down
    "Jul. 7 5:59 PM EDT\nThe champion won.",  # no year
    "Stock market 5 2012 outlook\nShares rose.",  # a word that starts like a month is no month
    "Published: March 3, 2027\nA date after the fetch.",
    "Police said the man, who was arrested on July 28, 2004 in Denver, had been wanted for years by the FBI.",
])
def test_no_date_line_no_date(top: str) -> None:
    assert date_line(top, not_after=_FETCHED) is None
