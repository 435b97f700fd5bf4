"""Pure, CPU-bound article extraction: bytes -> str -> clean text + metadata.

Everything here is a top-level function without I/O so the extractor service can
submit it to a ProcessPoolExecutor. Heavy objects (trafilatura's config, the
language identifier, the spaCy pipeline in `entities`) are module-level and built
once per process.

Safety: trafilatura is only ever given `str`. Given bytes it sniffs and
decompresses gzip/zstd/brotli without a size limit (DESIGN.md, "Traps").
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

from dateutil import parser as date_parser

from services.common.errors import ExtractionFailed, NotAnArticle
from services.common.fingerprint import fingerprint
from services.common.messages import Entity, Fingerprint

__all__ = [
    "MIN_WORDS",
    "ExtractedPage",
    "RawPage",
    "date_line",
    "decode_html",
    "drop_legal_notices",
    "extract_and_tag_many",
    "extract_page",
    "is_legal_notice",
]

MIN_WORDS = 25
"""Fewer words than this is not an article (a stub, a paywall teaser, an error page)."""
PAYWALL_STUB_WORDS = 150
"""A paywalled page with fewer words than this is its teaser, not the article."""
LANGUAGE_SAMPLE_CHARS = 2_000
"""Language identification reads this much of the text: a few sentences decide it (20,000 cost 6x more)."""

_SNIFF_BYTES = 4096  # where <meta charset> must appear (the HTML spec says 1024; be lenient)
_DETECT_BYTES = 65536  # sample handed to the statistical detector
_HEAD_CHARS = 200_000  # where <link rel=canonical> / published-time metas are looked for

# WHATWG: these labels mean windows-1252 in browsers, and pages rely on it (smart quotes).
_ENCODING_ALIASES = {
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1252": "cp1252",
    "x-sjis": "shift_jis",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it shares the prefix
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_META_CHARSET = re.compile(
    rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""",
    re.IGNORECASE,
)


def _codec(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when unknown/unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if not name:
        return None
    name = _ENCODING_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # A page cannot really be UTF-16/32 when its <meta> was readable as ASCII;
    # HTML says treat such declarations as UTF-8.
    if info.name.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return info.name


def _sniff(body: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - it ships with requests/trafilatura
        return None
    try:
        best = from_bytes(body[:_DETECT_BYTES]).best()
    except Exception:  # noqa: BLE001 - the detector is a heuristic; never let it fail a page
        return None
    return _codec(best.encoding) if best is not None else None


def decode_html(body: bytes, content_type_charset: str | None) -> str:
    """Decode an HTML body to text. Never raises on broken bytes (undecodable -> U+FFFD).

    Order: byte-order mark (unambiguous, and the HTML spec lets it override the
    header), the charset of the Content-Type header, `<meta charset>` /
    `http-equiv` in the first KB, strict UTF-8, a statistical sniff
    (charset_normalizer), and finally windows-1252.
    `body` must already be capped in size by the caller.
    """
    for bom, enc in _BOMS:
        if body.startswith(bom):
            return body.decode(enc, errors="replace")
    declared = _codec(content_type_charset)
    if declared is None:
        match = _META_CHARSET.search(body[:_SNIFF_BYTES])
        if match is not None:
            declared = _codec(match.group(1).decode("ascii", errors="ignore"))
    if declared is not None:
        return body.decode(declared, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Mostly UTF-8 with a few broken bytes (a truncated or spliced page): still UTF-8.
    if _mostly_utf8(body):
        return body.decode("utf-8", errors="replace")
    sniffed = _sniff(body)
    if sniffed is not None:
        return body.decode(sniffed, errors="replace")
    return body.decode("cp1252", errors="replace")


def _mostly_utf8(body: bytes) -> bool:
    """More well-formed multi-byte UTF-8 characters than broken sequences."""
    text = body[:_DETECT_BYTES].decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    return good > 0 and good >= bad


@dataclass(frozen=True)
class ExtractedPage:
    """The article part of a page and its metadata."""

    text: str
    title: str | None
    author: str | None
    published: datetime | None
    updated: datetime | None
    site_name: str | None
    description: str | None
    canonical_url: str | None
    language: str | None


# --------------------------------------------------------------------------- helpers

# C0 controls other than \t \n \r (and the two non-characters) make lxml refuse a str.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_LOOKS_HTML = re.compile(
    r"<(?:!doctype\s+html|html|head|body|article|main|div|p|section|h[1-6]|span|table|br)\b",
    re.IGNORECASE,
)
_TAG = re.compile(r"<(link|meta)\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_JSONLD_DATE = re.compile(r'"datePublished"\s*:\s*"([^"]{8,40})"')
_JSONLD_MODIFIED = re.compile(r'"dateModified"\s*:\s*"([^"]{8,40})"')
_JSONLD_TYPE = re.compile(r'"@type"\s*:\s*"([A-Za-z]{3,40})"')
_JSONLD_NOT_FREE = re.compile(r'"isAccessibleForFree"\s*:\s*"?(?:false|False|FALSE)"?')
_WORD = re.compile(r"\w+", re.UNICODE)
_BLANKS = re.compile(r"\n{3,}")
# A paragraph that asserts rights over the page: "Copyright 2016 KSLA. All rights reserved.", "(TM and ©
# Copyright 2016 CBS Radio Inc. ...)", AP's "may not be published, broadcast, rewritten or redistributed".
_RIGHTS = re.compile(
    r"all rights reserved|may not be (?:re)?published|rewritten,? or redistributed|reprint permission"
    r"|©|\(c\)\s*(?:19|20)\d\d|\bcopyright\s*(?:©\s*)?(?:19|20)\d\d",
    re.IGNORECASE,
)
_STARTS_WITH_COPYRIGHT = re.compile(r"^\W*(?:tm and\s+)?(?:©|copyright\b)", re.IGNORECASE)
LEGAL_NOTICE_MAX_WORDS = 80
"""A legal notice is short: a longer paragraph that mentions copyright is reporting, and stays."""
# A date line at the top of an article ("Published: July 28, 2004", "Last updated 15:48 15 / 09 / 2013",
# "Article posted on 08.07.2012"): a four-digit year with a month name, or a day/month/year triple.
DATE_LINE_MAX_LINES = 2
"""A page's date line is one of its first lines; a date further down is something the article reports."""
DATE_LINE_MAX_WORDS = 12
"""A date line is short; a longer line with a date in it is a sentence of the article."""
_YEAR_DIGITS = r"(?:19|20)\d\d"
_YEAR = re.compile(rf"(?<![\d_])({_YEAR_DIGITS})(?!\d)")
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
          r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_MONTH_NAME = re.compile(  # a month name beside a day: "July 28", "Dec. 24", "10th June", "Dec - 19"
    rf"\b{_MONTH}\b\.?\s*(?:-\s*)?\d{{1,2}}\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s*(?:-\s*)?{_MONTH}\b",
    re.IGNORECASE,
)
_NUMERIC_DATE = re.compile(
    rf"(?<![\d.])(\d{{1,2}})\s*([/.])\s*(\d{{1,2}})\s*\2\s*({_YEAR_DIGITS})(?!\d)"
    rf"|(?<!\d)({_YEAR_DIGITS})\s*([/.-])\s*(\d{{1,2}})\s*\6\s*(\d{{1,2}})(?!\d)"
)
_SPACED_COLON = re.compile(r"(\d)\s*:\s*(\d)")  # "8: 56am", as tokenised text prints a time
_SENTENCE_END = re.compile(r"[A-Za-z]{3,}[.!?]\W*$")  # "Page was born on April 22, 1923, in Nashville, Tenn."
_MODIFIED_KEYS = (
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "dc.date.modified",
    "last-modified",
)
# Teaser endings of paywalled pages (lower case), checked in the last few hundred characters.
_PAYWALL_PHRASES = (
    "subscribe to continue reading",
    "subscribe to read",
    "subscribers only",
    "for subscribers",
    "to continue reading",
    "already a subscriber",
    "log in to continue",
    "sign in to continue",
    "become a member to read",
    "this content is for members",
    "unlock this article",
)
# og:type values that mean "not an article" (https://ogp.me/#types); "website" is the home page's.
_NON_ARTICLE_OG = frozenset({"website", "profile", "book", "music.song", "music.album", "video.other",
                             "video.tv_show", "product", "place", "business.business"})
_ARTICLE_JSONLD_TYPES = frozenset({"article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle",
                                   "opinionnewsarticle", "backgroundnewsarticle", "blogposting", "report",
                                   "liveblogposting", "scholarlyarticle", "techarticle"})
_PUBLISHED_KEYS = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "date",
    "dc.date.issued",
    "parsely-pub-date",
    "sailthru.date",
)


def _attrs(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        value = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(4)
        out.setdefault(m.group(1).lower(), unescape(value or "").strip())
    return out


@dataclass(frozen=True)
class _HeadMeta:
    """What the page's <link>/<meta> tags and JSON-LD say about it."""

    canonical: str | None
    published: str | None
    modified: str | None
    og_type: str | None
    jsonld_types: frozenset[str]
    paywalled: bool


def _head_meta(html: str, url: str) -> _HeadMeta:
    """Canonical URL, timestamps, page type and paywall marker from the page's tags and JSON-LD."""
    canonical: str | None = None
    og_url: str | None = None
    og_type: str | None = None
    stamps: dict[str, str] = {}
    for m in _TAG.finditer(html, 0, min(len(html), _HEAD_CHARS)):
        a = _attrs(m.group(2))
        if m.group(1).lower() == "link":
            rels = a.get("rel", "").lower().split()
            if "canonical" in rels and a.get("href") and canonical is None:
                canonical = a["href"]
            continue
        name = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
        content = a.get("content") or a.get("datetime")
        if not name or not content:
            continue
        if name == "og:url" and og_url is None:
            og_url = content
        elif name == "og:type" and og_type is None:
            og_type = content.strip().lower()
        elif name in _PUBLISHED_KEYS or name in _MODIFIED_KEYS:
            stamps.setdefault(name, content)
    found = None
    for candidate in (canonical, og_url):
        absolute = _absolute_http(candidate, url)
        if absolute is not None:
            found = absolute
            break
    scripts = html[: min(len(html), _HEAD_CHARS * 5)]
    published = next((stamps[k] for k in _PUBLISHED_KEYS if k in stamps), None)
    if published is None:
        m2 = _JSONLD_DATE.search(scripts)
        published = m2.group(1) if m2 else None
    modified = next((stamps[k] for k in _MODIFIED_KEYS if k in stamps), None)
    if modified is None:
        m3 = _JSONLD_MODIFIED.search(scripts)
        modified = m3.group(1) if m3 else None
    return _HeadMeta(
        canonical=found, published=published, modified=modified, og_type=og_type,
        jsonld_types=frozenset(t.lower() for t in _JSONLD_TYPE.findall(scripts)),
        paywalled=_JSONLD_NOT_FREE.search(scripts) is not None,
    )


def _refuse_non_articles(meta: _HeadMeta, text: str, words: int, published: datetime | None) -> None:
    """Raise NotAnArticle for a paywall stub or a page that says it is no article and looks like none."""
    tail = text[-400:].lower()
    if words < PAYWALL_STUB_WORDS and (meta.paywalled or any(p in tail for p in _PAYWALL_PHRASES)):
        raise NotAnArticle(f"paywall stub: {words} words of teaser"
                           + (" (the page marks itself isAccessibleForFree=false)" if meta.paywalled else ""))
    # Both the page's own type and the absence of any article sign: a home page, section front or
    # profile has no publication date, and real articles with a careless og:type still carry one.
    if meta.og_type in _NON_ARTICLE_OG and published is None and not (meta.jsonld_types & _ARTICLE_JSONLD_TYPES):
        raise NotAnArticle(f"not an article page: og:type {meta.og_type!r}, no publication date, "
                           "no article structured data")


def _absolute_http(candidate: str | None, base: str) -> str | None:
    if not candidate:
        return None
    try:
        absolute = urljoin(base, candidate.strip())
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return absolute


def _parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value[:10])
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _language(text: str, declared: str | None) -> str | None:
    try:
        import py3langid

        lang, _score = py3langid.classify(text[:LANGUAGE_SAMPLE_CHARS])
    except Exception:  # noqa: BLE001 - language id is best effort
        lang = None
    if isinstance(lang, str) and lang:
        return lang.lower()[:2]
    if declared:
        return declared.strip().lower().replace("_", "-").split("-")[0][:2] or None
    return None


def _trafilatura_options() -> dict[str, Any]:
    return {
        "with_metadata": True,
        "include_comments": False,
        "include_tables": True,
        "include_images": False,
        "include_links": False,
        "favor_precision": False,
        "deduplicate": False,
        # Skips trafilatura's fallback extractors: on Readability's real test pages word F1 0.948 vs 0.946,
        # and 14 % less time per page (benchmarks/extractor.py).
        "fast": True,
    }


# --------------------------------------------------------------------------- public


def extract_page(html: str, url: str) -> ExtractedPage:
    """Main text and metadata of an HTML page.

    Raises ExtractionFailed (never anything else) when the input is not HTML,
    trafilatura finds no main text, or the text has fewer than MIN_WORDS words;
    its subclass NotAnArticle for a paywall stub or a page that declares itself
    no article (og:type website/profile/...) and carries no article date or
    article structured data.
    Paragraphs of `text` are separated by newlines.
    """
    if not isinstance(html, str):  # bytes would make trafilatura decompress without a limit
        raise ExtractionFailed(f"extract_page needs decoded str, got {type(html).__name__}")
    cleaned = _XML_DECL.sub("", _XML_ILLEGAL.sub("", html), count=1)
    if not cleaned.strip():
        raise ExtractionFailed("empty page")
    if _LOOKS_HTML.search(cleaned, 0, 100_000) is None:
        raise ExtractionFailed("not HTML: no HTML markup in the document")
    try:
        import trafilatura

        doc = trafilatura.bare_extraction(cleaned, url=url, **_trafilatura_options())
    except ExtractionFailed:
        raise
    except Exception as exc:  # lxml/trafilatura internals: a bad page, never a crash
        raise ExtractionFailed(f"trafilatura failed: {type(exc).__name__}: {exc}"[:300]) from exc
    if doc is None:
        raise ExtractionFailed("no main text found (trafilatura returned nothing)")
    data: dict[str, Any] = doc if isinstance(doc, dict) else doc.as_dict()
    raw_text = data.get("text") or ""
    text = drop_legal_notices(
        _BLANKS.sub("\n\n", "\n".join(line.strip() for line in str(raw_text).splitlines())).strip())
    words = len(_WORD.findall(text))
    if words == 0:
        raise ExtractionFailed("no main text found (empty text)")
    if words < MIN_WORDS:
        raise ExtractionFailed(f"text too short: {words} words < {MIN_WORDS}")

    meta = _head_meta(cleaned, url)
    published = _parse_datetime(meta.published) or _parse_datetime(_clean(data.get("date")))
    _refuse_non_articles(meta, text, words, published)
    updated = _parse_datetime(meta.modified)
    return ExtractedPage(
        text=text,
        title=_clean(data.get("title")),
        author=_clean(data.get("author")),
        published=published,
        updated=updated if updated != published else None,
        site_name=_clean(data.get("sitename")),
        description=_clean(data.get("description")),
        canonical_url=meta.canonical,
        language=_language(text, _clean(data.get("language"))),
    )


def date_line(text: str, *, not_after: datetime) -> datetime | None:
    """The date a page prints on one of its first lines, at noon UTC, when it has one and it is not
    later than `not_after` (the fetch time); else None.

    For a page whose metadata and feed item carry no date: without it the article is stamped with its
    fetch time, and an account of an event years old then never meets the event's other accounts.
    A numeric date is month/day/year with slashes (as US outlets print it) unless the first number
    cannot be a month, and day.month.year with dots; a year alone (a copyright line) is not a date.
    """
    for line in text.split("\n", DATE_LINE_MAX_LINES)[:DATE_LINE_MAX_LINES]:
        if len(line.split()) > DATE_LINE_MAX_WORDS or _SENTENCE_END.search(line) or is_legal_notice(line):
            continue
        found = _numeric_date(line) or _named_month_date(line)
        if found is not None and found <= not_after:
            return found
    return None


def _numeric_date(line: str) -> datetime | None:
    m = _NUMERIC_DATE.search(line)
    if m is None:
        return None
    if m.group(4):
        first, second, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
        day_first = m.group(2) == "." or first > 12
        month, day = (second, first) if day_first else (first, second)
    else:
        year, month, day = int(m.group(5)), int(m.group(7)), int(m.group(8))
    return _noon(year, month, day)


def _named_month_date(line: str) -> datetime | None:
    years = set(_YEAR.findall(line))
    if len(years) != 1 or _MONTH_NAME.search(line) is None:
        return None
    year = int(years.pop())
    try:
        # fuzzy: the line has words around the date ("Published:", "Updated Thu", "at 16:12 CEST").
        words = _SPACED_COLON.sub(r"\1:\2", re.sub(r"[()|,]", " ", line))
        parsed = date_parser.parse(words, fuzzy=True, ignoretz=True, default=datetime(year, 1, 1, 12))
    except (ValueError, OverflowError):
        return None
    return _noon(parsed.year, parsed.month, parsed.day) if parsed.year == year else None


def _noon(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day, 12, tzinfo=UTC)
    except ValueError:
        return None


def is_legal_notice(paragraph: str) -> bool:
    """Whether a paragraph is the site's copyright notice rather than reporting."""
    words = len(_WORD.findall(paragraph))
    if not words or words > LEGAL_NOTICE_MAX_WORDS:
        return False
    return _RIGHTS.search(paragraph) is not None or (_STARTS_WITH_COPYRIGHT.search(paragraph) is not None
                                                     and words <= 15)


def drop_legal_notices(text: str) -> str:
    """`text` without its copyright notices. They are the same words under every article of a site
    (and of its sister sites: one notice covers every CBS Local station), so they made a site's short
    articles about different events look alike to clustering, and their owners ("CBS Radio Inc.",
    "KSLA") looked like organisations the stories shared."""
    kept = [line for line in text.split("\n") if not is_legal_notice(line)]
    if len(kept) == text.count("\n") + 1:
        return text
    return _BLANKS.sub("\n\n", "\n".join(kept)).strip()


@dataclass(frozen=True)
class RawPage:
    """A downloaded page as the pool receives it: bytes are decoded in the worker, never on the event loop."""

    body: bytes
    charset: str | None
    url: str
    fallback_title: str = ""


def extract_and_tag_many(pages: Sequence[RawPage], *, model: str, ner_max_chars: int, ner_lead_chars: int = 0,
                         ) -> list[tuple[ExtractedPage, list[Entity], Fingerprint] | ExtractionFailed]:
    """decode_html, extract_page, entities.tag_entities and the text fingerprint of several pages: what
    the service's pool runs (services.extractor.pool). The pages are tagged in one batched spaCy pass; the
    fingerprint is computed here, in parallel, so the store does not have to. A page that holds no
    article gives its ExtractionFailed in its place; the others are unaffected. With `ner_lead_chars` the
    model reads only the title, the lead and the sentences naming someone not already known
    (services.extractor.fast_ner); 0: the whole text.
    """
    from services.extractor import entities, fast_ner

    extracted: list[ExtractedPage | ExtractionFailed] = []
    for raw in pages:
        try:
            extracted.append(extract_page(decode_html(raw.body, raw.charset), raw.url))
        except ExtractionFailed as exc:
            extracted.append(exc)
    good = [(i, p) for i, p in enumerate(extracted) if isinstance(p, ExtractedPage)]
    batch = [(p.text, p.title, p.language) for _, p in good]
    tagged = fast_ner.tag_entities_many(batch, model=model, ner_max_chars=ner_max_chars, lead_chars=ner_lead_chars) \
        if ner_lead_chars else entities.tag_entities_many(batch, model=model, ner_max_chars=ner_max_chars)
    results: dict[int, tuple[ExtractedPage, list[Entity], Fingerprint]] = {
        i: (page, ents, fingerprint(page.title or pages[i].fallback_title, page.text))
        for (i, page), ents in zip(good, tagged, strict=True)}
    return [e if isinstance(e, ExtractionFailed) else results[i] for i, e in enumerate(extracted)]
