"""The river (`/`): the latest updated stories as cards, filtered, with live updates from the page's script.

Read through the same route functions /v1 serves (`GET /v1/clusters`, `GET /v1/articles/{id}` for each
card's lead, `GET /v1/entities/{key}` to resolve a bare name), so the desk shows exactly what the API
answers. `/fragments/river` is the same list without the page around it: the script fetches it when the
live stream reports a change and puts new cards behind the "n new stories" bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.api.deps import AliasesDep, RepoDep
from services.api.pages import format as fmt
from services.api.pages.render import render
from services.api.pages.viewer import FragmentViewerDep, Viewer, ViewerDep
from services.api.routes import stories as story_routes
from services.api.schemas import ArticlePublic, Page, StorySummary, article_public
from services.extractor.aliases import AliasTable
from services.store.repository import Repository

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30
CHIPS = 5
#: The time-range choices: label and how far back.
RANGES: dict[str, tuple[str, timedelta | None]] = {
    "": ("any time", None), "1h": ("last hour", timedelta(hours=1)), "24h": ("last 24 hours", timedelta(days=1)),
    "7d": ("last 7 days", timedelta(days=7)), "30d": ("last 30 days", timedelta(days=30)),
}
_TEXT = 200


@dataclass(frozen=True)
class RiverFilter:
    """The river's filters as the reader set them (lenient: form input is clipped, never refused)."""

    entity: str = ""
    outlet: str = ""
    language: str = ""
    min_outlets: int = 1
    q: str = ""
    range: str = ""

    @classmethod
    def of(cls, entity: str | None, outlet: str | None, language: str | None, min_outlets: str | None,
           q: str | None, range_: str | None) -> RiverFilter:
        """Filters from query parameters: text clipped to 200 characters, the minimum within 1..1000."""
        try:
            minimum = min(max(int(min_outlets or 1), 1), 1000)
        except ValueError:
            minimum = 1
        return cls(entity=(entity or "").strip()[:_TEXT], outlet=(outlet or "").strip()[:_TEXT],
                   language=(language or "").strip()[:20], min_outlets=minimum, q=(q or "").strip()[:_TEXT],
                   range=range_ if range_ in RANGES else "")

    @property
    def since(self) -> datetime | None:
        """The start of the time range, or None for any time."""
        back = RANGES[self.range][1]
        return datetime.now(UTC) - back if back else None

    @property
    def active(self) -> bool:
        """Whether any filter narrows the river."""
        return self != RiverFilter()

    def query(self, **changes: str | int) -> str:
        """These filters as a query string (empty values left out), with `changes` applied."""
        values: dict[str, str | int] = {"entity": self.entity, "outlet": self.outlet, "language": self.language,
                                        "min_outlets": self.min_outlets if self.min_outlets > 1 else "",
                                        "q": self.q, "range": self.range, **changes}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@dataclass
class Card:
    """One story card: the story as /v1 lists it, its lead and the names of its top entities."""

    story: StorySummary
    lead: str = ""
    chips: list[tuple[str, str]] = field(default_factory=list)  # (key, display name)


@dataclass
class River:
    """What the river shows for a filter."""

    cards: list[Card]
    next_cursor: str | None
    resolved: tuple[str, str, str] | None = None  # (bare name asked for, entity key it resolved to, its name)
    candidates: list[tuple[str, str]] = field(default_factory=list)  # other entities the name could be
    suggestions: list[str] = field(default_factory=list)


async def _lead_articles(repo: Repository, ids: list[str | None]) -> list[ArticlePublic | None]:
    """The cards' lead articles, in one round trip (one read per card held a Redis connection each: a few readers
    loading the river at once ran the client out of them, a 503); None where a card has none, or where it expired
    between the listing and this read (the card shows no lead)."""
    found = {a.id: article_public(a) for a in await repo.articles([i for i in ids if i is not None])}
    return [found.get(i) if i is not None else None for i in ids]


async def resolve_name(table: AliasTable, name: str) -> list[tuple[str, str]]:
    """The entities a bare name may be, as (key, display name), the one it names first, then the others most
    articles first: the alias table's lookup (a full name, a surname or any alias), as the /v1 routes use it."""
    found = await table.lookup(name)
    ranked = sorted(found.candidates, key=lambda c: c.key != found.key)  # stable: the chosen one, then by articles
    return [(c.key, c.name or fmt.entity_name(c.key)) for c in ranked]


async def load_river(repo: Repository, table: AliasTable, wanted: RiverFilter, cursor: str | None) -> River:
    """The cards for `wanted`: `GET /v1/clusters` with the filters (an entity by key or any name); a name
    that stands for several entities lists the stories of the one with most articles and offers the others."""

    async def listing(entity: str) -> tuple[list[StorySummary], str | None] | None:
        page = await story_routes.list_clusters(
            repo, table, limit=PAGE_SIZE, since=wanted.since, entity=entity or None, q=wanted.q or None,
            min_outlets=wanted.min_outlets, outlet=wanted.outlet or None, language=wanted.language or None,
            cursor=cursor)
        return (page.items, page.next_cursor) if isinstance(page, Page) else None  # else: ambiguous (300)

    listed = await listing(wanted.entity)
    resolved = None
    candidates: list[tuple[str, str]] = []
    if wanted.entity and not fmt.is_entity_key(wanted.entity):
        candidates = await resolve_name(table, wanted.entity)
        if candidates:
            resolved = (wanted.entity, *candidates[0])
    if listed is None:
        listed = await listing(candidates[0][0]) if candidates else None
    items, next_cursor = listed or ([], None)
    leads = await _lead_articles(repo, [s.lead_article for s in items])
    names: dict[str, str] = {}
    for article in leads:
        for e in article.entities if article else []:
            names.setdefault(e.key, e.name)
    names.update(candidates)
    cards = [
        Card(story=s, lead=fmt.lead(a.description, a.text, a.title) if a else "",
             chips=[(k, fmt.entity_name(k, names)) for k in s.entities[:CHIPS]])
        for s, a in zip(items, leads, strict=True)
    ]
    suggestions = sorted({name for card in cards for _, name in card.chips} | set(names.values()))[:60]
    return River(cards=cards, next_cursor=next_cursor, resolved=resolved, candidates=candidates[1:],
                 suggestions=suggestions)


FilterParams = Annotated[str | None, Query(max_length=1000)]


def _filters(entity: str | None, outlet: str | None, language: str | None, min_outlets: str | None,
             q: str | None, range_: str | None) -> RiverFilter:
    return RiverFilter.of(entity, outlet, language, min_outlets, q, range_)


@router.get("/", response_class=HTMLResponse)
async def river_page(request: Request, viewer: ViewerDep, repo: RepoDep, table: AliasesDep,
                     entity: FilterParams = None, outlet: FilterParams = None, language: FilterParams = None,
                     min_outlets: FilterParams = None, q: FilterParams = None,
                     range: FilterParams = None, cursor: FilterParams = None) -> HTMLResponse:
    """The story river."""
    wanted = _filters(entity, outlet, language, min_outlets, q, range)
    river = await load_river(repo, table, wanted, cursor)
    return _river(request, viewer, "river.html", wanted, river, cursor)


@router.get("/fragments/river", response_class=HTMLResponse)
async def river_fragment(request: Request, viewer: FragmentViewerDep, repo: RepoDep, table: AliasesDep,
                         entity: FilterParams = None, outlet: FilterParams = None, language: FilterParams = None,
                         min_outlets: FilterParams = None, q: FilterParams = None,
                         range: FilterParams = None) -> HTMLResponse:
    """The river's first page of cards alone, for the live update."""
    wanted = _filters(entity, outlet, language, min_outlets, q, range)
    river = await load_river(repo, table, wanted, None)
    return _river(request, viewer, "river_cards.html", wanted, river, None)


def _river(request: Request, viewer: Viewer, template: str, wanted: RiverFilter, river: River,
           cursor: str | None) -> HTMLResponse:
    # The script listens to the whole stream and re-reads this list on a change: the server applies the
    # filters, so the cards are exactly what a reload would show.
    return render(request, template, viewer, wanted=wanted, river=river, ranges=RANGES, cursor=cursor,
                  fragment_query=wanted.query(), now=datetime.now(UTC))
