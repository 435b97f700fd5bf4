"""OPML subscription lists: bytes -> feed outlines, and feeds -> OPML 2.0 (pure, no I/O).

Reading accepts OPML 1.0, 1.1 and 2.0. An outline with an `xmlUrl` is a feed; an outline without
one is a folder, and the folders a feed sits in become its category path, joined with "/"
("News/World"). `text` is the name a person gave the feed, `title` the feed's own title and
`htmlUrl` its site; all three are kept so that export -> import gives the same list back.

The XML is parsed by lxml without resolving entities, without network access, without loading a
DTD and without `huge_tree`, and a document that declares entities or names an external DTD is
refused before lxml reads its body: OPML never needs them, and they are how XXE and "billion
laughs" attacks are delivered. The refusal, not `resolve_entities=False`, is the defence: libxml2
expands internal entities in attribute values whatever that flag says. defusedxml is not
installed, so the prolog is checked here the way it does, with the stdlib's expat handlers.

Errors: `InvalidOpml` is a `ValueError`, not a `services.common.errors.Permanent`: that tree decides
what happens to a message on a topic, whereas an OPML file is a person's input to the CLI or the
API, which answer it with exit status 1 or HTTP 422.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.parsers import expat

from lxml import etree

__all__ = ["CATEGORY_SEPARATOR", "MAX_OPML_BYTES", "MAX_OPML_FEEDS", "InvalidOpml", "OpmlDocument", "OpmlFeed",
           "parse_opml", "render_opml", "split_category"]

#: Larger documents are refused: a subscription list of 10,000 feeds is well under 5 MB.
MAX_OPML_BYTES = 10_000_000
#: More feed outlines than this are refused (each one becomes a Redis write and a poll schedule).
MAX_OPML_FEEDS = 10_000
#: Separator of category path segments (the OPML 2.0 `category` attribute uses "/" too).
CATEGORY_SEPARATOR = "/"

# Characters XML 1.0 cannot carry (C0 controls other than tab/newline/CR, surrogates, U+FFFE/F):
# lxml refuses them in attribute values, and a name typed into the CLI may hold one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class InvalidOpml(ValueError):
    """The bytes are not an OPML document wirewatch will read (the message says why)."""


@dataclass(frozen=True)
class OpmlFeed:
    """One feed outline.

    `url` is the `xmlUrl` as written (stripped, not validated: the feed registry decides whether
    wirewatch can fetch it). `name` is the outline's `text` (or its `title` when it has no text),
    `title` its `title` attribute, `html_url` its `htmlUrl`; `category` is the folder path, e.g.
    "News/World", or None at the top level.
    """

    url: str
    name: str | None = None
    title: str | None = None
    html_url: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class OpmlDocument:
    """A parsed OPML document: its head title and its feeds in document order."""

    title: str | None
    feeds: list[OpmlFeed]


def parse_opml(data: bytes) -> OpmlDocument:
    """Parse OPML bytes into feeds with their folder paths; raise InvalidOpml for anything else."""
    if len(data) > MAX_OPML_BYTES:
        raise InvalidOpml(f"document of {len(data)} bytes is over the limit of {MAX_OPML_BYTES}")
    if not data.strip():
        raise InvalidOpml("empty document")
    root = _parse_xml(data)
    if _local(root) != "opml":
        raise InvalidOpml(f"root element is <{_local(root)}>, not <opml>")
    head = _child(root, "head")
    body = _child(root, "body")
    if body is None:
        raise InvalidOpml("no <body> element")
    title_el = _child(head, "title") if head is not None else None
    doc_title = _clean(title_el.text) if title_el is not None else None
    feeds: list[OpmlFeed] = []
    for feed in _outlines(body, ()):
        feeds.append(feed)
        if len(feeds) > MAX_OPML_FEEDS:
            raise InvalidOpml(f"more than {MAX_OPML_FEEDS} feeds in one document")
    return OpmlDocument(title=doc_title, feeds=feeds)


def render_opml(feeds: Iterable[OpmlFeed], *, title: str = "wirewatch feeds",
                created: datetime | None = None) -> bytes:
    """An OPML 2.0 document (UTF-8) listing `feeds`, nested in folders by their category paths.

    Folders appear in the order their first feed appears; feeds keep the order given.
    """
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_safe(title)
    if created is not None:
        etree.SubElement(head, "dateCreated").text = format_datetime(created)
    body = etree.SubElement(root, "body")
    folders: dict[tuple[str, ...], etree._Element] = {(): body}
    for feed in feeds:
        parent = body
        path = split_category(feed.category)
        for depth in range(1, len(path) + 1):
            key = path[:depth]
            if key not in folders:
                folders[key] = etree.SubElement(parent, "outline", text=_xml_safe(key[-1]))
            parent = folders[key]
        outline = etree.SubElement(parent, "outline", type="rss", text=_xml_safe(feed.name or feed.title or feed.url))
        # Optional attributes are written only when known, so a re-import reads back exactly what was stored.
        if feed.title:
            outline.set("title", _xml_safe(feed.title))
        outline.set("xmlUrl", _xml_safe(feed.url))
        if feed.html_url:
            outline.set("htmlUrl", _xml_safe(feed.html_url))
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return document


def split_category(category: str | None) -> tuple[str, ...]:
    """A category path as its folder names ("News/World" -> ("News", "World")); empty parts dropped."""
    if not category:
        return ()
    return tuple(part.strip() for part in category.split(CATEGORY_SEPARATOR) if part.strip())


# --- reading ---------------------------------------------------------------------------------


def _parse_xml(data: bytes) -> etree._Element:
    _refuse_declarations(data)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True,
    )
    try:
        root: etree._Element = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidOpml(f"not well-formed XML: {exc}") from None
    # Belt and braces: what libxml2 itself saw in the prolog.
    docinfo = root.getroottree().docinfo
    if docinfo.system_url or docinfo.public_id:
        raise InvalidOpml(_EXTERNAL_DTD)
    if docinfo.internalDTD is not None and any(True for _ in docinfo.internalDTD.iterentities()):
        raise InvalidOpml(_ENTITIES)
    return root


_ENTITIES = "the document declares XML entities, which OPML never needs (refused: XXE and entity bombs)"
_EXTERNAL_DTD = "the document names an external DTD, which OPML never needs"


class _PrologRead(Exception):
    """The root element has started: the prolog, and any DOCTYPE in it, has been read."""


def _refuse_declarations(data: bytes) -> None:
    """Read only the prolog, with expat (as defusedxml does), and refuse entity declarations and
    external DTDs there, before libxml2 sees the body: libxml2 expands internal entities in
    attribute values whatever `resolve_entities` says."""

    def refuse_entity(*_args: object) -> None:
        raise InvalidOpml(_ENTITIES)

    def check_doctype(_name: str, system_id: str | None, public_id: str | None, _internal: bool) -> None:
        if system_id or public_id:
            raise InvalidOpml(_EXTERNAL_DTD)

    def root_started(*_args: object) -> None:
        raise _PrologRead

    parser = expat.ParserCreate()
    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.StartDoctypeDeclHandler = check_doctype
    parser.StartElementHandler = root_started
    try:
        parser.Parse(data, True)
    except _PrologRead:
        return
    except expat.ExpatError as exc:
        raise InvalidOpml(f"not well-formed XML: {exc}") from None


def _outlines(parent: etree._Element, path: tuple[str, ...]) -> Iterator[OpmlFeed]:
    for outline in parent:
        if not isinstance(outline.tag, str) or _local(outline) != "outline":
            continue
        # Attribute names compared case-insensitively: exporters write xmlUrl, xmlurl and XMLURL.
        attrs = {str(k).lower(): str(v) for k, v in outline.attrib.items()}
        text = _clean(attrs.get("text"))
        title = _clean(attrs.get("title"))
        if "xmlurl" in attrs:
            yield OpmlFeed(url=attrs["xmlurl"].strip(), name=text or title, title=title,
                           html_url=_clean(attrs.get("htmlurl")),
                           category=CATEGORY_SEPARATOR.join(path) or None)
            yield from _outlines(outline, path)  # children of a feed outline: unusual, kept in the same folder
        else:
            folder = (text or title or "").replace(CATEGORY_SEPARATOR, "-")  # a "/" in a name is no subfolder
            yield from _outlines(outline, (*path, folder) if folder else path)


def _child(element: etree._Element, name: str) -> etree._Element | None:
    for child in element:
        if isinstance(child.tag, str) and _local(child) == name:
            return child
    return None


def _local(element: etree._Element) -> str:
    name: str = etree.QName(element).localname
    return name


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


def _xml_safe(value: str) -> str:
    return _NOT_XML.sub("", value)
