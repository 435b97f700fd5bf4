"""A local "outlet server": news outlets with feeds and article pages, served from loopback.

Used by `wirewatch demo` (with the sample stories in services.demo.stories) and by the tests, where
there is no internet: every outlet wirewatch polls is served from 127.0.0.1 by :class:`OutletServer`
(stdlib ``ThreadingHTTPServer`` in a daemon thread). Each outlet has

* a feed (newest first, absolute links, ETag/Last-Modified with 304 answers) in one of five
  formats: RSS 2.0 or Atom 1.0 at ``/<outlet>/feed.xml``, JSON Feed 1.1 at ``/<outlet>/feed.json``
  (item links of these three optionally carrying ``utm_*`` tracking parameters), a sitemaps.org
  sitemap at ``/<outlet>/sitemap.xml`` or a Google News sitemap at ``/<outlet>/news-sitemap.xml``
  (canonical links, as real sitemaps list them);
* realistic article pages at ``/<outlet>/articles/<slug>.html`` (navigation, cookie banner,
  related stories, newsletter box, comments, footer), rendered with one of three different
  templates so extraction is not fitted to one layout;
* raw routes (:meth:`Outlet.add_raw`) serving arbitrary bytes for hostile-input tests, and status
  overrides (:meth:`OutletServer.set_status`) to make a path fail and later recover.

Pure standard library: it imports nothing of wirewatch, so the demo and the tests share it.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal, Self, get_args
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

__all__ = ["TEMPLATES", "Article", "FeedFormat", "Outlet", "OutletServer", "TemplateName", "slugify"]

log = logging.getLogger(__name__)

FeedFormat = Literal["rss", "atom", "jsonfeed", "sitemap", "newssitemap"]
TemplateName = Literal["classic", "modern", "blog"]
TEMPLATES: tuple[TemplateName, ...] = ("classic", "modern", "blog")
DEFAULT_TRACKING = "utm_source=rss&utm_medium=feed"
_SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    """One published article of an outlet."""

    slug: str
    title: str
    text: str
    published: datetime
    author: str | None = None
    summary: str | None = None
    section: str | None = None
    canonical_slug: str | None = None
    """The article this page is a version of (its <link rel="canonical">); None: the page itself."""

    @property
    def paragraphs(self) -> list[str]:
        """The text split into paragraphs: one per non-blank line."""
        return [line.strip() for line in self.text.splitlines() if line.strip()]


@dataclass
class _RawRoute:
    body: bytes
    content_type: str
    status: int
    headers: dict[str, str]


def _http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _human_date(dt: datetime) -> str:
    return f"{dt:%B} {dt.day}, {dt.year} {dt:%H:%M} {dt.tzname() or 'UTC'}"


def slugify(text: str) -> str:
    """`text` as a URL slug: ASCII letters and digits joined by '-'."""
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", norm).strip("-")


def _check_slug(slug: str, what: str) -> None:
    if not _SLUG_RE.match(slug):
        raise ValueError(f"invalid {what} slug {slug!r}: use letters, digits, '.', '_' and '-'")


class Outlet:
    """A news outlet hosted by an :class:`OutletServer` (create with :meth:`OutletServer.add_outlet`)."""

    def __init__(
        self,
        server: OutletServer,
        slug: str,
        name: str,
        feed_format: FeedFormat,
        template: TemplateName,
        tracking_query: str,
    ) -> None:
        self._server = server
        self.slug = slug
        self.name = name
        self.feed_format: FeedFormat = feed_format
        self.template: TemplateName = template
        self.tracking_query = tracking_query
        self._articles: dict[str, Article] = {}
        self._order: dict[str, int] = {}
        self._seq = 0
        # Last-Modified of the feed; strictly increasing whole seconds so that If-Modified-Since
        # never hides a change made within the same second.
        self._modified = datetime.now(UTC).replace(microsecond=0)

    # -- URLs --------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Absolute URL of the outlet's home page, with a trailing slash."""
        return f"{self._server.base_url}/{self.slug}/"

    @property
    def feed_url(self) -> str:
        """Absolute URL of the outlet's feed: feed.xml, feed.json, sitemap.xml or news-sitemap.xml."""
        return f"{self._server.base_url}/{self.slug}/{_FEED_FILES[self.feed_format]}"

    def article_url(self, slug: str, *, tracking: bool = False) -> str:
        """Absolute URL of an article page; with ``tracking`` the feed's utm parameters are appended."""
        url = f"{self._server.base_url}/{self.slug}/articles/{slug}.html"
        if tracking and self.tracking_query:
            url += "?" + self.tracking_query
        return url

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` relative to the outlet root (a leading '/' is ignored)."""
        return f"{self._server.base_url}/{self.slug}/{path.lstrip('/')}"

    # -- content -----------------------------------------------------------------------------

    def add_article(
        self,
        slug: str,
        title: str,
        text: str,
        published: datetime,
        author: str | None = None,
        *,
        summary: str | None = None,
        section: str | None = None,
        canonical_slug: str | None = None,
    ) -> str:
        """Publish (or replace) an article and return its absolute page URL.

        ``text`` is split into paragraphs on lines (blank lines are ignored). ``published`` must be
        timezone-aware. ``summary`` becomes the standfirst and the feed description (default: the
        first paragraph, shortened). ``canonical_slug`` makes the page name another article of the
        outlet as its canonical URL: an updated version published at a new address.
        """
        _check_slug(slug, "article")
        if published.tzinfo is None or published.utcoffset() is None:
            raise ValueError("published must be timezone-aware")
        article = Article(slug, title, text, published, author, summary, section, canonical_slug)
        with self._server._lock:
            self._articles[slug] = article
            self._seq += 1
            self._order[slug] = self._seq
            self._touch()
        return self.article_url(slug)

    def remove_article(self, slug: str) -> None:
        """Withdraw an article: it leaves the feed and its page answers 404."""
        with self._server._lock:
            self._articles.pop(slug, None)
            self._order.pop(slug, None)
            self._touch()

    @property
    def articles(self) -> list[Article]:
        """The outlet's articles, newest first (by published time, then by insertion)."""
        with self._server._lock:
            return sorted(
                self._articles.values(),
                key=lambda a: (a.published, self._order[a.slug]),
                reverse=True,
            )

    def add_raw(
        self,
        path: str,
        body: bytes,
        content_type: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Serve ``body`` verbatim at ``path`` (relative to the outlet root); return its absolute URL.

        Raw routes take precedence over generated content, so ``add_raw("feed.xml", b"<rss")``
        replaces the outlet's feed with broken XML. ``headers`` override the default ones.
        """
        rel = path.lstrip("/")
        self._server.add_raw(f"/{self.slug}/{rel}", body, content_type, status, headers)
        return self.url(rel)

    def _touch(self) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        self._modified = max(now, self._modified + timedelta(seconds=1))

    # -- rendering ---------------------------------------------------------------------------

    def _description(self, article: Article) -> str:
        if article.summary:
            return article.summary
        paras = article.paragraphs
        first = paras[0] if paras else ""
        return first if len(first) <= 280 else first[:277].rsplit(" ", 1)[0] + "…"

    def render_feed(self) -> bytes:
        """The outlet's feed document in its format (RSS, Atom, JSON Feed, sitemap, news sitemap), UTF-8."""
        with self._server._lock:
            articles = self.articles
            modified = self._modified
        if self.feed_format == "atom":
            return self._render_atom(articles, modified)
        if self.feed_format == "jsonfeed":
            return self._render_json_feed(articles)
        if self.feed_format in ("sitemap", "newssitemap"):
            return self._render_sitemap(articles, news=self.feed_format == "newssitemap")
        return self._render_rss(articles, modified)

    def _render_rss(self, articles: list[Article], modified: datetime) -> bytes:
        items = []
        for a in articles:
            author = f"\n      <dc:creator>{xml_escape(a.author)}</dc:creator>" if a.author else ""
            category = f"\n      <category>{xml_escape(a.section)}</category>" if a.section else ""
            items.append(
                f"""    <item>
      <title>{xml_escape(a.title)}</title>
      <link>{xml_escape(self.article_url(a.slug, tracking=True))}</link>
      <guid isPermaLink="true">{xml_escape(self.article_url(a.slug))}</guid>
      <pubDate>{_http_date(a.published)}</pubDate>{author}{category}
      <description>{xml_escape(self._description(a))}</description>
    </item>"""
            )
        body = "\n".join(items)
        doc = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>{xml_escape(self.name)}</title>
    <link>{xml_escape(self.base_url)}</link>
    <description>Latest news from {xml_escape(self.name)}</description>
    <language>en</language>
    <lastBuildDate>{_http_date(modified)}</lastBuildDate>
    <atom:link href={quoteattr(self.feed_url)} rel="self" type="application/rss+xml"/>
    <ttl>5</ttl>
{body}
  </channel>
</rss>
"""
        return doc.encode("utf-8")

    def _render_atom(self, articles: list[Article], modified: datetime) -> bytes:
        entries = []
        for a in articles:
            author = (
                f"\n    <author><name>{xml_escape(a.author)}</name></author>"
                if a.author
                else f"\n    <author><name>{xml_escape(self.name)}</name></author>"
            )
            category = f"\n    <category term={quoteattr(a.section)}/>" if a.section else ""
            entries.append(
                f"""  <entry>
    <title type="text">{xml_escape(a.title)}</title>
    <link rel="alternate" type="text/html" href={quoteattr(self.article_url(a.slug, tracking=True))}/>
    <id>{xml_escape(self.article_url(a.slug))}</id>
    <published>{_iso(a.published)}</published>
    <updated>{_iso(a.published)}</updated>{author}{category}
    <summary type="text">{xml_escape(self._description(a))}</summary>
  </entry>"""
            )
        updated = max((a.published for a in articles), default=modified)
        body = "\n".join(entries)
        doc = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>{xml_escape(self.name)}</title>
  <subtitle>Latest news from {xml_escape(self.name)}</subtitle>
  <id>{xml_escape(self.base_url)}</id>
  <link rel="self" type="application/atom+xml" href={quoteattr(self.feed_url)}/>
  <link rel="alternate" type="text/html" href={quoteattr(self.base_url)}/>
  <updated>{_iso(updated)}</updated>
{body}
</feed>
"""
        return doc.encode("utf-8")

    def _render_json_feed(self, articles: list[Article]) -> bytes:
        items: list[dict[str, object]] = []
        for a in articles:
            item: dict[str, object] = {
                "id": self.article_url(a.slug),
                "url": self.article_url(a.slug, tracking=True),
                "title": a.title,
                "summary": self._description(a),
                # JSON Feed requires content_text or content_html in every item.
                "content_text": "\n\n".join(a.paragraphs),
                "date_published": _iso(a.published),
            }
            if a.author:
                item["authors"] = [{"name": a.author}]
            if a.section:
                item["tags"] = [a.section]
            items.append(item)
        doc = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": self.name,
            "home_page_url": self.base_url,
            "feed_url": self.feed_url,
            "description": f"Latest news from {self.name}",
            "language": "en",
            "items": items,
        }
        return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    def _render_sitemap(self, articles: list[Article], *, news: bool) -> bytes:
        urls = []
        for a in articles:
            news_part = (
                f"""
    <news:news>
      <news:publication>
        <news:name>{xml_escape(self.name)}</news:name>
        <news:language>en</news:language>
      </news:publication>
      <news:publication_date>{_iso(a.published)}</news:publication_date>
      <news:title>{xml_escape(a.title)}</news:title>
    </news:news>"""
                if news
                else ""
            )
            # Articles have no update time here, so <lastmod> is when they were published.
            urls.append(
                f"""  <url>
    <loc>{xml_escape(self.article_url(a.slug))}</loc>
    <lastmod>{_iso(a.published)}</lastmod>{news_part}
  </url>"""
            )
        news_ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
        body = "\n".join(urls)
        doc = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{news_ns}>
{body}
</urlset>
"""
        return doc.encode("utf-8")

    def render_article(self, slug: str) -> bytes | None:
        """The article page's HTML (UTF-8), or None when the outlet has no such article."""
        with self._server._lock:
            article = self._articles.get(slug)
        if article is None:
            return None
        return _RENDERERS[self.template](self, article).encode("utf-8")

    def render_home(self) -> bytes:
        """A simple outlet front page linking every article."""
        links = "\n".join(
            f'<li><a href="{html.escape(self.article_url(a.slug))}">{html.escape(a.title)}</a></li>'
            for a in self.articles
        )
        doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.name)}</title>
{_alternate_link(self)}</head>
<body><h1>{html.escape(self.name)}</h1><ul>
{links}
</ul></body></html>
"""
        return doc.encode("utf-8")


_FEED_FILES: dict[FeedFormat, str] = {
    "rss": "feed.xml",
    "atom": "feed.xml",
    "jsonfeed": "feed.json",
    "sitemap": "sitemap.xml",
    "newssitemap": "news-sitemap.xml",
}
_FEED_TYPES: dict[FeedFormat, str] = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "jsonfeed": "application/feed+json",
    "sitemap": "application/xml",
    "newssitemap": "application/xml",
}


def _alternate_link(outlet: Outlet) -> str:
    """The page's <link rel="alternate"> to the outlet's feed; none for sitemaps, which pages never announce."""
    if outlet.feed_format in ("sitemap", "newssitemap"):
        return ""
    return (
        f'<link rel="alternate" type="{_FEED_TYPES[outlet.feed_format]}" title="{html.escape(outlet.name)}" '
        f'href="{html.escape(outlet.feed_url)}">'
    )


# --------------------------------------------------------------------------------------------
# Page templates: three layouts with different structure and class names
# --------------------------------------------------------------------------------------------

_RELATED_POOL = (
    "Oil prices slide as OPEC fails to agree on output ceiling",
    "Syria peace talks in Vienna end without deal on Assad's future",
    "Turkey and Russia trade accusations after jet downing",
    "EU leaders agree to extend sanctions on Moscow for six months",
    "Iraqi forces push into Ramadi as Islamic State fighters retreat",
    "Saudi Arabia announces 34-nation Islamic military coalition",
    "UN Security Council endorses road map for Syria ceasefire",
    "Hezbollah commander killed in Damascus air strike",
    "Iran nuclear deal: IAEA closes file on past weapons research",
    "Kremlin says Russian strikes will continue until offensive ends",
    "Yemen ceasefire collapses as fighting flares near Saudi border",
    "Lebanon's parliament fails again to elect a president",
    "Refugee arrivals in Greece top 800,000 for the year",
    "Fed raises interest rates for first time in nearly a decade",
    "Ukraine defaults on $3 billion bond held by Russia",
)

_COMMENTS = (
    ("Marek_77", "Not surprising at all. Follow the money."),
    ("jhall", "Interesting read, thanks for the detailed reporting."),
    ("SandraK", "Why is nobody talking about what this means for the region?"),
    ("old_reader", "Second meeting this year. That says a lot."),
)


def _related(outlet: Outlet, article: Article) -> list[tuple[str, str]]:
    start = int(hashlib.sha1(f"{outlet.slug}/{article.slug}".encode()).hexdigest(), 16) % len(_RELATED_POOL)
    picks = [_RELATED_POOL[(start + 3 * i) % len(_RELATED_POOL)] for i in range(5)]
    return [(outlet.url(f"articles/{slugify(h)}.html"), h) for h in picks]


def _comments(article: Article) -> list[tuple[str, str]]:
    start = len(article.slug) % len(_COMMENTS)
    return [_COMMENTS[start], _COMMENTS[(start + 1) % len(_COMMENTS)]]


def _head(outlet: Outlet, article: Article, extra: str = "") -> str:
    e = html.escape
    canonical = outlet.article_url(article.canonical_slug or article.slug)
    desc = outlet._description(article)
    author_meta = f'\n<meta property="article:author" content="{e(article.author)}">' if article.author else ""
    section_meta = f'\n<meta property="article:section" content="{e(article.section)}">' if article.section else ""
    return f"""<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(article.title)} | {e(outlet.name)}</title>
<meta name="description" content="{e(desc)}">
<meta property="og:type" content="article">
<meta property="og:title" content="{e(article.title)}">
<meta property="og:url" content="{e(canonical)}">
<meta property="og:site_name" content="{e(outlet.name)}">
<meta property="og:description" content="{e(desc)}">
<meta property="article:published_time" content="{_iso(article.published)}">{author_meta}{section_meta}
<meta name="twitter:card" content="summary_large_image">
<link rel="canonical" href="{e(canonical)}">
{_alternate_link(outlet)}
<link rel="stylesheet" href="{e(outlet.url("static/site.css"))}">{extra}
</head>"""


def _paras(article: Article, indent: str = "") -> str:
    return "\n".join(f"{indent}<p>{html.escape(p, quote=False)}</p>" for p in article.paragraphs)


def _render_classic(outlet: Outlet, article: Article) -> str:
    e = html.escape
    sections = ("World", "Politics", "Business", "Markets", "Tech", "Science", "Health", "Sport", "Culture", "Opinion")
    nav = "\n".join(
        f'      <li class="nav-item"><a href="{e(outlet.url(s.lower() + "/"))}">{s}</a></li>' for s in sections
    )
    related = "\n".join(f'      <li><a href="{e(u)}">{e(t)}</a></li>' for u, t in _related(outlet, article))
    comments = "\n".join(
        f'      <li class="comment"><span class="comment-author">{e(a)}</span><p class="comment-body">{e(c)}</p></li>'
        for a, c in _comments(article)
    )
    byline = e(article.author) if article.author else f"{e(outlet.name)} staff"
    standfirst = f'\n      <p class="standfirst">{e(article.summary)}</p>' if article.summary else ""
    year = datetime.now(UTC).year
    return f"""<!DOCTYPE html>
<html lang="en">
{_head(outlet, article)}
<body class="article-page">
<div id="cookie-consent" class="cookie-banner" role="dialog">
  <p>We use cookies to improve your experience and to show you personalised advertising.
  By continuing to browse you agree to our use of cookies.</p>
  <button class="accept">Accept all</button> <a href="{e(outlet.url("privacy"))}">Manage settings</a>
</div>
<header class="site-header">
  <div class="masthead"><a class="logo" href="{e(outlet.base_url)}">{e(outlet.name)}</a>
    <a class="subscribe" href="{e(outlet.url("subscribe"))}">Subscribe</a></div>
  <nav class="main-nav">
    <ul>
{nav}
    </ul>
  </nav>
</header>
<main id="main">
  <article class="story">
    <header class="story-header">
      <h1 class="headline">{e(article.title)}</h1>{standfirst}
      <p class="byline">By <span class="author">{byline}</span> &middot;
        <time datetime="{_iso(article.published)}">{_human_date(article.published)}</time></p>
    </header>
    <div class="story-body">
{_paras(article, "      ")}
    </div>
  </article>
  <aside class="related">
    <h2>Related stories</h2>
    <ul>
{related}
    </ul>
  </aside>
  <div class="newsletter">
    <h3>Get the morning briefing</h3>
    <p>The day's top stories, in your inbox every weekday at 7am.</p>
    <form action="{e(outlet.url("newsletter"))}" method="post"><input type="email" name="email"
      placeholder="Your email address"><button>Sign up</button></form>
  </div>
  <section class="comments" id="comments">
    <h2>Comments (2)</h2>
    <ul>
{comments}
    </ul>
  </section>
</main>
<footer class="site-footer">
  <ul class="footer-links">
    <li><a href="{e(outlet.url("about"))}">About us</a></li>
    <li><a href="{e(outlet.url("contact"))}">Contact</a></li>
    <li><a href="{e(outlet.url("terms"))}">Terms of use</a></li>
    <li><a href="{e(outlet.url("privacy"))}">Privacy policy</a></li>
  </ul>
  <p class="copyright">&copy; {year} {e(outlet.name)}. All rights reserved.</p>
</footer>
</body>
</html>
"""


def _render_modern(outlet: Outlet, article: Article) -> str:
    e = html.escape
    sections = (
        "Home",
        "News",
        "World",
        "Middle East",
        "Europe",
        "Economy",
        "Climate",
        "Video",
        "Podcasts",
        "Newsletters",
        "Live",
    )
    nav = "\n".join(f'        <a class="nav__link" href="{e(outlet.url(slugify(s) + "/"))}">{s}</a>' for s in sections)
    paras = article.paragraphs
    # An ad slot in the middle of the body, as real pages do.
    mid = max(1, len(paras) // 2)
    body = "\n".join(f"          <p>{html.escape(p, quote=False)}</p>" for p in paras[:mid])
    body += '\n          <div class="ad-slot" data-ad="mid-article"><span>Advertisement</span></div>\n'
    body += "\n".join(f"          <p>{html.escape(p, quote=False)}</p>" for p in paras[mid:])
    related = "\n".join(
        f'          <li class="card"><a class="card__link" href="{e(u)}"><span class="card__title">{e(t)}'
        "</span></a></li>"
        for u, t in _related(outlet, article)
    )
    comments = "\n".join(
        f'          <div class="comment-item"><div class="comment-item__user">{e(a)}</div>'
        f'<div class="comment-item__text">{e(c)}</div></div>'
        for a, c in _comments(article)
    )
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "datePublished": _iso(article.published),
        "url": outlet.article_url(article.slug),
        "publisher": {"@type": "Organization", "name": outlet.name},
    }
    if article.author:
        ld["author"] = {"@type": "Person", "name": article.author}
    ld_json = json.dumps(ld, ensure_ascii=False).replace("</", "<\\/")
    extra = f'\n<script type="application/ld+json">{ld_json}</script>'
    author = (
        f'<address class="article__author" itemprop="author">{e(article.author)}</address>'
        if article.author
        else f'<span class="article__author">{e(outlet.name)}</span>'
    )
    dek = f'\n          <p class="article__dek">{e(article.summary)}</p>' if article.summary else ""
    section = f'<a class="article__kicker" href="#">{e(article.section)}</a>\n          ' if article.section else ""
    year = datetime.now(UTC).year
    return f"""<!doctype html>
<html lang="en-GB">
{_head(outlet, article, extra)}
<body>
  <div id="app">
    <div class="topbar">
      <a class="brand" href="{e(outlet.base_url)}">{e(outlet.name)}</a>
      <nav class="nav" aria-label="Sections">
{nav}
      </nav>
    </div>
    <dialog class="consent" open>
      <h2>Your privacy</h2>
      <p>We and our 842 partners store and access information on your device to deliver personalised
      ads and content. You can change your choices at any time.</p>
      <button data-consent="accept">I agree</button><button data-consent="reject">Reject</button>
    </dialog>
    <main id="content">
      <div class="layout">
        <article class="article" itemscope itemtype="https://schema.org/NewsArticle">
          <div class="article__header">
          {section}<h1 class="article__title" itemprop="headline">{e(article.title)}</h1>{dek}
          <div class="article__meta">{author}
            <time itemprop="datePublished" datetime="{_iso(article.published)}">{_human_date(article.published)}</time>
          </div>
          </div>
          <div class="article__content" itemprop="articleBody">
{body}
          </div>
        </article>
        <section class="more-coverage">
          <h3>Related stories</h3>
          <ol class="cards">
{related}
          </ol>
        </section>
        <div class="signup">
          <form class="signup__form" action="{e(outlet.url("newsletters/daily"))}">
            <strong>Newsletter</strong> &mdash; Sign up for our daily newsletter and never miss a story.
            <input type="email" aria-label="Email"><button type="submit">Subscribe</button>
          </form>
        </div>
        <div class="discussion">
          <h4>Join the conversation</h4>
{comments}
        </div>
      </div>
    </main>
    <footer class="global-footer">
      <div class="global-footer__links">
        <a href="{e(outlet.url("help"))}">Help</a> <a href="{e(outlet.url("cookies"))}">Cookies</a>
        <a href="{e(outlet.url("accessibility"))}">Accessibility</a> <a href="{e(outlet.url("careers"))}">Careers</a>
      </div>
      <small>Copyright {year} {e(outlet.name)} Ltd. Reproduction without permission prohibited.</small>
    </footer>
  </div>
  <script src="{e(outlet.url("static/app.js"))}" defer></script>
</body>
</html>
"""


def _render_blog(outlet: Outlet, article: Article) -> str:
    e = html.escape
    sections = (
        "National Security",
        "Big Government",
        "Middle East",
        "Economy",
        "Politics",
        "Tech",
        "Media",
        "Entertainment",
        "Sports",
        "Video",
    )
    nav = " |\n".join(f'    <a href="{e(outlet.url("category/" + slugify(s)))}">{s}</a>' for s in sections)
    related = "\n".join(
        f'      <div class="jp-related-post"><h4><a href="{e(u)}" rel="bookmark">{e(t)}</a></h4></div>'
        for u, t in _related(outlet, article)
    )
    comments = "\n".join(
        f'    <li class="comment"><article class="comment-body"><footer class="comment-meta">'
        f'<b class="fn">{e(a)}</b> says:</footer><div class="comment-content"><p>{e(c)}</p></div></article></li>'
        for a, c in _comments(article)
    )
    author = e(article.author) if article.author else "Staff Writer"
    dek = f'\n        <h2 class="subtitle">{e(article.summary)}</h2>' if article.summary else ""
    post_id = int(hashlib.sha1(article.slug.encode()).hexdigest(), 16) % 100000
    year = datetime.now(UTC).year
    return f"""<!DOCTYPE html>
<html dir="ltr" lang="en-US">
{_head(outlet, article)}
<body class="post-template-default single single-post">
<div id="wrapper">
  <div id="header">
    <div id="logo"><a href="{e(outlet.base_url)}" title="{e(outlet.name)}">{e(outlet.name)}</a></div>
    <div id="menu">
{nav}
    </div>
  </div>
  <div class="cc-window cc-banner" aria-label="cookieconsent">
    <span class="cc-message">This website uses cookies to ensure you get the best experience.
    <a class="cc-link" href="{e(outlet.url("cookie-policy"))}">Learn more</a></span>
    <a class="cc-btn cc-dismiss">Got it!</a>
  </div>
  <div id="main-column">
    <article id="post-{post_id}" class="post type-post status-publish">
      <div class="entry-header">
        <h1 class="entry-title">{e(article.title)}</h1>{dek}
        <div class="entry-meta">by <span class="author vcard"><a class="url fn n"
          href="{e(outlet.url("author/" + slugify(author)))}">{author}</a></span>
          <span class="posted-on"><time class="entry-date published"
            datetime="{_iso(article.published)}">{_human_date(article.published)}</time></span></div>
      </div>
      <div class="entry-content">
{_paras(article, "        ")}
      </div>
    </article>
    <div class="jp-relatedposts">
      <h3 class="jp-relatedposts-headline"><em>Related stories</em></h3>
{related}
    </div>
    <div class="widget widget_newsletter">
      <h3 class="widget-title">Daily Newsletter</h3>
      <p>Get our top headlines delivered to your inbox. Enter your email below.</p>
      <input type="text" name="EMAIL" placeholder="email@example.com"> <input type="submit" value="Sign Up">
    </div>
    <div id="comments" class="comments-area">
      <h3 class="comments-title">2 thoughts on &ldquo;{e(article.title)}&rdquo;</h3>
      <ol class="comment-list">
{comments}
      </ol>
    </div>
  </div>
  <div id="footer">
    <p>Copyright &copy; {year} {e(outlet.name)}. All Rights Reserved.
    <a href="{e(outlet.url("terms"))}">Terms of Use</a> | <a href="{e(outlet.url("privacy"))}">Privacy Policy</a>
    | <a href="{e(outlet.url("advertise"))}">Advertise</a></p>
  </div>
</div>
</body>
</html>
"""


_RENDERERS: dict[TemplateName, Callable[[Outlet, Article], str]] = {
    "classic": _render_classic,
    "modern": _render_modern,
    "blog": _render_blog,
}


# --------------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "OutletServer/1.0"
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:
        """Silence http.server's per-request stderr logging."""

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        status, headers, body = owner._respond(path, {k.lower(): v for k, v in self.headers.items()})
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if not head and body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrent clients (1 s retransmit stalls)
    owner: OutletServer

    def handle_error(self, request: object, client_address: object) -> None:
        """Log at debug level instead of printing tracebacks to stderr."""
        log.debug("outlet server: error serving %s", client_address, exc_info=True)


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    tags = [t.strip() for t in header.split(",")]
    return any(t.removeprefix("W/") == etag for t in tags)


class OutletServer:
    """A threaded HTTP server on 127.0.0.1 hosting any number of news outlets.

    Use as a context manager (``with OutletServer() as srv:``) or call :meth:`start` and
    :meth:`stop`. ``port=0`` (default) picks a free port.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._outlets: dict[str, Outlet] = {}
        self._raw: dict[str, _RawRoute] = {}
        self._status: dict[str, int] = {}
        self._delay: dict[str, float] = {}
        self._hits: Counter[str] = Counter()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and start serving in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="outlet-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._httpd is None:
            raise RuntimeError("OutletServer is not running")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` without a trailing slash."""
        return f"http://{self._host}:{self.port}"

    # -- configuration -----------------------------------------------------------------------

    def add_outlet(
        self,
        slug: str,
        name: str,
        feed_format: FeedFormat = "rss",
        *,
        template: TemplateName | None = None,
        tracking_query: str = DEFAULT_TRACKING,
    ) -> Outlet:
        """Create an outlet served under ``/<slug>/``.

        ``feed_format`` picks the feed (see :attr:`Outlet.feed_url` for where it is served).
        ``template`` picks the page layout (default: cycles through :data:`TEMPLATES` in the order
        outlets are added). ``tracking_query`` is appended to item links in RSS, Atom and JSON
        feeds (``""``: none); sitemaps list canonical links.
        """
        _check_slug(slug, "outlet")
        if feed_format not in get_args(FeedFormat):
            raise ValueError(f"feed_format must be one of {get_args(FeedFormat)}, not {feed_format!r}")
        with self._lock:
            if slug in self._outlets:
                raise ValueError(f"outlet {slug!r} already exists")
            tpl = template or TEMPLATES[len(self._outlets) % len(TEMPLATES)]
            outlet = Outlet(self, slug, name, feed_format, tpl, tracking_query)
            self._outlets[slug] = outlet
            return outlet

    @property
    def outlets(self) -> list[Outlet]:
        """All outlets, in creation order."""
        with self._lock:
            return list(self._outlets.values())

    def outlet(self, slug: str) -> Outlet:
        """The outlet with this slug (KeyError if absent)."""
        with self._lock:
            return self._outlets[slug]

    def add_raw(
        self,
        path: str,
        body: bytes,
        content_type: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Serve ``body`` verbatim at the absolute ``path`` (``/...``); return its absolute URL."""
        path = self._path(path)
        with self._lock:
            self._raw[path] = _RawRoute(bytes(body), content_type, status, dict(headers or {}))
        return self.base_url + path

    def remove_raw(self, path: str) -> None:
        """Remove a raw route (generated content, if any, shows through again)."""
        with self._lock:
            self._raw.pop(self._path(path), None)

    def set_status(self, path: str, status: int | None) -> None:
        """Make ``path`` (or a URL) answer ``status`` with a short body; ``None`` restores it."""
        path = self._path(path)
        with self._lock:
            if status is None:
                self._status.pop(path, None)
            else:
                self._status[path] = status

    def set_delay(self, path: str, seconds: float | None) -> None:
        """Delay every response for ``path`` (or a URL) by ``seconds``; ``None`` removes the delay."""
        path = self._path(path)
        with self._lock:
            if seconds is None:
                self._delay.pop(path, None)
            else:
                self._delay[path] = seconds

    @property
    def hits(self) -> Counter[str]:
        """A snapshot of request counts per path (query string ignored); missing paths count 0."""
        with self._lock:
            return Counter(self._hits)

    def hit_count(self, path_or_url: str) -> int:
        """Requests so far for a path or absolute URL (query string ignored)."""
        with self._lock:
            return self._hits[self._path(path_or_url)]

    def reset_hits(self) -> None:
        """Zero all request counters."""
        with self._lock:
            self._hits.clear()

    @staticmethod
    def _path(path_or_url: str) -> str:
        path = urlsplit(path_or_url).path if "://" in path_or_url else path_or_url.split("?", 1)[0]
        return path if path.startswith("/") else "/" + path

    # -- request handling (called from handler threads) ---------------------------------------

    def _respond(self, path: str, req_headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._hits[path] += 1
            delay = self._delay.get(path)
            forced = self._status.get(path)
            raw = self._raw.get(path)
        if delay:
            time.sleep(delay)
        if forced is not None:
            try:
                phrase = HTTPStatus(forced).phrase
            except ValueError:
                phrase = "Status"
            body = f"{forced} {phrase}\n".encode()
            return forced, self._headers("text/plain; charset=utf-8", body), body
        if raw is not None:
            headers = self._headers(raw.content_type, raw.body)
            lowered = {k.lower(): k for k in headers}
            for k, v in raw.headers.items():
                headers.pop(lowered.get(k.lower(), k), None)
                headers[k] = v
            return raw.status, headers, raw.body
        return self._generated(path, req_headers)

    @staticmethod
    def _headers(content_type: str, body: bytes) -> dict[str, str]:
        return {"Content-Type": content_type, "Content-Length": str(len(body))}

    def _not_found(self) -> tuple[int, dict[str, str], bytes]:
        body = b"<!DOCTYPE html><html><head><title>Not found</title></head><body><h1>404</h1></body></html>"
        return 404, self._headers("text/html; charset=utf-8", body), body

    def _generated(self, path: str, req_headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        parts = path.strip("/").split("/")
        if path == "/":
            return self._index()
        with self._lock:
            outlet = self._outlets.get(parts[0])
        if outlet is None:
            return self._not_found()
        if len(parts) == 1 or (len(parts) == 2 and parts[1] in ("", "index.html")):
            body = outlet.render_home()
            return 200, self._headers("text/html; charset=utf-8", body), body
        if len(parts) == 2 and parts[1] == _FEED_FILES[outlet.feed_format]:
            return self._feed(outlet, req_headers)
        if len(parts) == 3 and parts[1] == "articles" and parts[2].endswith(".html"):
            page = outlet.render_article(parts[2].removesuffix(".html"))
            if page is not None:
                return 200, self._headers("text/html; charset=utf-8", page), page
        return self._not_found()

    def _feed(self, outlet: Outlet, req_headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            body = outlet.render_feed()
            modified = outlet._modified
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        validators = {"ETag": etag, "Last-Modified": _http_date(modified), "Cache-Control": "max-age=60"}
        inm = req_headers.get("if-none-match")
        ims = req_headers.get("if-modified-since")
        not_modified = False
        if inm is not None:
            not_modified = _etag_matches(inm, etag)
        elif ims is not None:
            try:
                since = parsedate_to_datetime(ims)
            except (TypeError, ValueError, IndexError):
                since = None
            if since is not None and since.tzinfo is not None:
                not_modified = modified <= since
        if not_modified:
            return 304, validators, b""
        ctype = f"{_FEED_TYPES[outlet.feed_format]}; charset=utf-8"
        return 200, {**self._headers(ctype, body), **validators}, body

    def _index(self) -> tuple[int, dict[str, str], bytes]:
        rows = "\n".join(
            f'<li><a href="{html.escape(o.base_url)}">{html.escape(o.name)}</a> '
            f'(<a href="{html.escape(o.feed_url)}">{o.feed_format} feed</a>)</li>'
            for o in self.outlets
        )
        body = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Outlets</title></head>"
            f"<body><h1>Outlets</h1><ul>\n{rows}\n</ul></body></html>"
        ).encode()
        return 200, self._headers("text/html; charset=utf-8", body), body
