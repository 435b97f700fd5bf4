"""OPML: nested outlines become categories, a round trip keeps everything, hostile XML is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.fetcher.opml import MAX_OPML_FEEDS, InvalidOpml, OpmlFeed, parse_opml, render_opml, split_category

NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="News" title="News">
      <outline text="World">
        <outline type="rss" text="BBC World" title="BBC News - World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"
                 htmlUrl="https://www.bbc.co.uk/news/world"/>
      </outline>
      <outline type="rss" text="Reuters" xmlUrl="https://www.reuters.com/rss"/>
    </outline>
    <outline type="rss" text="Top level" xmlUrl=" https://top.example/feed " htmlUrl="https://top.example/"/>
    <outline text="Tech/Science">
      <outline type="rss" title="Only a title" xmlUrl="https://science.example/atom"/>
    </outline>
    <outline text="just a note, no feed"/>
  </body>
</opml>
"""


def test_nested_outlines_become_category_paths_with_names_titles_and_sites() -> None:
    doc = parse_opml(NESTED)

    assert doc.title == "My subscriptions"
    assert doc.feeds == [
        OpmlFeed(url="https://feeds.bbci.co.uk/news/world/rss.xml", name="BBC World", title="BBC News - World",
                 html_url="https://www.bbc.co.uk/news/world", category="News/World"),
        OpmlFeed(url="https://www.reuters.com/rss", name="Reuters", category="News"),
        OpmlFeed(url="https://top.example/feed", name="Top level", html_url="https://top.example/"),
        # A "/" inside one folder's name is not a subfolder.
        OpmlFeed(url="https://science.example/atom", name="Only a title", title="Only a title",
                 category="Tech-Science"),
    ]


def test_opml_1_without_head_and_lowercase_attributes() -> None:
    doc = parse_opml(b'<opml version="1.0"><body><outline text="A" xmlurl="http://a.example/rss" '
                     b'htmlurl="http://a.example/"/></body></opml>')

    assert doc.title is None
    assert doc.feeds == [OpmlFeed(url="http://a.example/rss", name="A", html_url="http://a.example/")]


def test_round_trip_keeps_names_titles_sites_and_folders() -> None:
    feeds = parse_opml(NESTED).feeds

    rendered = render_opml(feeds, title="export", created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    again = parse_opml(rendered)

    assert sorted(again.feeds, key=lambda f: f.url) == sorted(feeds, key=lambda f: f.url)
    assert again.title == "export"
    assert b"<dateCreated>Fri, 02 Jan 2026 03:04:05 +0000</dateCreated>" in rendered
    assert rendered.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


def test_render_nests_folders_once_in_first_seen_order() -> None:
    feeds = [
        OpmlFeed(url="https://a.example/rss", name="A", category="News/World"),
        OpmlFeed(url="https://b.example/rss", name="B"),
        OpmlFeed(url="https://c.example/rss", name="C", category="News"),
        OpmlFeed(url="https://d.example/rss", name="D", category="News/World"),
    ]

    text = render_opml(feeds).decode()

    assert text.count('text="News"') == 1 and text.count('text="World"') == 1
    assert text.index('text="News"') < text.index('text="World"') < text.index('text="A"') < text.index('text="D"')
    assert [f.url for f in parse_opml(text.encode()).feeds] == [
        "https://a.example/rss", "https://d.example/rss", "https://c.example/rss", "https://b.example/rss"]


def test_render_escapes_and_drops_characters_xml_cannot_carry() -> None:
    feeds = [OpmlFeed(url="https://a.example/rss?x=1&y=2", name='Q&A "news" <live>\x01', title="T\x0b")]

    again = parse_opml(render_opml(feeds)).feeds

    assert again == [OpmlFeed(url="https://a.example/rss?x=1&y=2", name='Q&A "news" <live>', title="T")]


def test_split_category() -> None:
    assert split_category("News/ World /") == ("News", "World")
    assert split_category(None) == ()
    assert split_category("") == ()


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"<opml><body>", "not well-formed"),
    (b"not xml at all", "not well-formed"),
    (b'<rss version="2.0"><channel/></rss>', "not <opml>"),
    (b'<opml version="2.0"><head/></opml>', "no <body>"),
    (b"\xff\xfe<\x00o\x00", "not well-formed"),
])
def test_invalid_opml_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidOpml, match=reason):
        parse_opml(data)


def test_invalid_opml_is_a_value_error() -> None:
    assert issubclass(InvalidOpml, ValueError)


def test_external_entities_are_refused_and_never_read() -> None:
    xxe = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><body><outline text="&xxe;" xmlUrl="http://x.example/"/></body></opml>"""

    with pytest.raises(InvalidOpml, match="entities"):
        parse_opml(xxe)


def test_parameter_entities_and_external_dtds_are_refused() -> None:
    param = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY % remote SYSTEM "http://127.0.0.1:1/evil.dtd"> %remote;]>
<opml version="2.0"><body/></opml>"""
    external = b"""<?xml version="1.0"?>
<!DOCTYPE opml SYSTEM "http://127.0.0.1:1/opml.dtd">
<opml version="2.0"><body/></opml>"""

    for doc in (param, external):
        with pytest.raises(InvalidOpml):
            parse_opml(doc)


def test_billion_laughs_is_refused_before_expansion() -> None:
    entities = ['<!ENTITY lol0 "lollollollollollollollollollol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    bomb = (f'<?xml version="1.0"?><!DOCTYPE opml [{"".join(entities)}]>'
            '<opml version="2.0"><body><outline text="&lol9;" title="&lol9;" xmlUrl="http://x.example/&lol9;"/>'
            "</body></opml>").encode()

    with pytest.raises(InvalidOpml, match="entities"):
        parse_opml(bomb)


def test_a_small_entity_in_a_large_document_is_refused_too() -> None:
    outlines = "".join(f'<outline text="&n;{i}" xmlUrl="http://x.example/{i}"/>' for i in range(5000))
    doc = f'<!DOCTYPE opml [<!ENTITY n "name">]><opml version="2.0"><body>{outlines}</body></opml>'.encode()

    with pytest.raises(InvalidOpml, match="entities"):
        parse_opml(doc)


def test_a_plain_doctype_is_accepted() -> None:
    doc = parse_opml(b'<!DOCTYPE opml><opml version="2.0"><body><outline text="A" xmlUrl="http://a.example/"/>'
                     b"</body></opml>")

    assert [f.url for f in doc.feeds] == ["http://a.example/"]


def test_too_many_feeds_are_refused() -> None:
    outlines = "".join(f'<outline text="f" xmlUrl="http://x.example/{i}"/>' for i in range(MAX_OPML_FEEDS + 1))

    with pytest.raises(InvalidOpml, match="more than"):
        parse_opml(f'<opml version="2.0"><body>{outlines}</body></opml>'.encode())
