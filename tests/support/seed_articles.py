"""The three seed accounts as the extractor would publish them, and a re-post of the first (tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.messages import Article, article_id
from services.extractor import entities

START = datetime(2015, 12, 16, 9, tzinfo=UTC)


def seed_articles(seeds_dir: Path) -> list[Article]:
    """The three seed accounts as the extractor would publish them (title = first line)."""
    out = []
    for n, path in enumerate(sorted(seeds_dir.glob("*.txt"))):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        title, text = lines[0], "\n\n".join(lines[1:])
        url = f"https://outlet{n}.example/{path.stem}"
        out.append(Article(
            id=article_id(url), url=url, outlet=f"outlet{n}.example", title=title, text=text, language="en",
            published_at=START + timedelta(hours=n), fetched_at=START + timedelta(hours=n),
            entities=entities.tag_entities(text, title=title, language="en", model="en_core_web_sm",
                                           ner_max_chars=20_000),
        ))
    return out


def repost(original: Article) -> Article:
    """A fourth outlet re-posts the first account: new headline, last paragraph dropped, its boilerplate."""
    paragraphs = original.text.split("\n\n")
    text = "\n\n".join([*paragraphs[:-1], "Copyright 2015 Wire Service. All rights reserved. "
                        "This material may not be published, broadcast, rewritten or redistributed."])
    url = "https://reposter.example/world/soleimani-putin"
    return original.model_copy(update={
        "id": article_id(url), "url": url, "outlet": "reposter.example", "text": text,
        "title": "Report: Iran general held talks with Putin", "published_at": START + timedelta(hours=5),
    })
