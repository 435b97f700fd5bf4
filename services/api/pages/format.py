"""How the story desk words things: relative times, delays, a story's lead, entity labels (pure functions).

The templates call these as Jinja filters; the script (`static/desk.js`) keeps the relative times current
in the browser with the same wording.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime

#: Entity types by the prefix of their key, as a reader names them.
ENTITY_KINDS = {
    "person": "person", "org": "organisation", "gpe": "place", "loc": "place", "norp": "group",
    "fac": "place", "event": "event", "product": "product", "work_of_art": "work", "law": "law",
}
#: Order of kinds among equally mentioned entities: who before what before where.
KIND_RANK = {"person": 0, "organisation": 1, "group": 2, "event": 3, "place": 4}
#: Key prefixes the desk tries, in this order, when a reader filters by a bare name (see pages.river).
NAME_KINDS = ("person", "org", "gpe", "loc", "norp", "fac", "event", "product")
LEAD_CHARS = 260
_KEY = re.compile(r"^[a-z_]+:\S")  # keys are '<lower-case type>:<name>', the name right after the colon
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]?\s+")


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def relative_time(at: datetime | float | None, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', '4 days ago', then the date; 'in 5 min' ahead."""
    if at is None:
        return "never"
    when = datetime.fromtimestamp(at, UTC) if isinstance(at, (int, float)) else at
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    ahead = seconds < -30
    span = abs(seconds)
    if span < 45:
        return "just now"
    if span < 3600:
        text = f"{round(span / 60)} min"
    elif span < 86400:
        text = f"{round(span / 3600)} h"
    elif span < 2 * 86400 and not ahead:
        return "yesterday"
    elif span < 30 * 86400:
        text = _plural(round(span / 86400), "day")
    else:
        return when.strftime("%-d %b %Y")
    return f"in {text}" if ahead else f"{text} ago"


def iso(at: datetime | float | None) -> str:
    """An ISO 8601 UTC time for `<time datetime>` (empty when unknown)."""
    if at is None:
        return ""
    when = datetime.fromtimestamp(at, UTC) if isinstance(at, (int, float)) else at
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def absolute_time(at: datetime | float | None) -> str:
    """A full UTC time for tooltips ('16 Dec 2015, 09:00 UTC')."""
    if at is None:
        return "unknown"
    when = datetime.fromtimestamp(at, UTC) if isinstance(at, (int, float)) else at
    return when.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


def duration(seconds: float | None) -> str:
    """A span as a reader says it: '45 s', '12 min', '2 h 5 min', '3 days'."""
    if seconds is None:
        return "unknown"
    s = abs(seconds)
    if s < 60:
        return f"{round(s)} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    if s < 86400:
        hours, minutes = divmod(round(s / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return _plural(round(s / 86400), "day")


def delay(seconds: float | None) -> str:
    """How long after its original a copy appeared ('12 min later', 'same time', '3 min before')."""
    if seconds is None:
        return "time unknown"
    if abs(seconds) < 60:
        return "within a minute"
    return f"{duration(seconds)} {'later' if seconds > 0 else 'before'}"


def lead(description: str | None, text: str, title: str = "", limit: int = LEAD_CHARS) -> str:
    """A short lead: the page's own description when it says more than the headline, else the text's first
    sentences, cut at a word boundary near `limit` characters."""
    desc = " ".join((description or "").split())
    body = " ".join(text.split())
    # A description that is only the text's opening cut short (feeds often shorten it) reads worse than the text.
    cut_of_text = body.startswith(desc.rstrip(".…").rstrip())
    if len(desc) >= 40 and desc.casefold() != " ".join(title.split()).casefold() and not cut_of_text:
        source = desc
    else:
        source = body
    if len(source) <= limit:
        return source
    out = ""
    for sentence in _SENTENCE_END.split(source):
        if out and len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    if len(out) <= limit:
        return out
    cut = out[:limit].rsplit(" ", 1)[0].rstrip(",;:-–—")
    return f"{cut}…"


def entity_kind(key: str) -> str:
    """What kind of entity a key names, for a chip's label ('person', 'organisation', 'place', ...)."""
    prefix = key.split(":", 1)[0] if ":" in key else ""
    return ENTITY_KINDS.get(prefix, prefix or "entity")


def entity_name(key: str, names: dict[str, str] | None = None) -> str:
    """The name to show for an entity key: its recorded display name, else the key's name part in capitals."""
    if names and key in names:
        return names[key]
    name = key.split(":", 1)[1] if ":" in key else key
    return string.capwords(name)


def percent(value: float | None) -> str:
    """A similarity or score as a percentage ('87 %')."""
    return "–" if value is None else f"{round(value * 100)} %"


def is_entity_key(value: str) -> bool:
    """Whether a filter value is a key ('person:qassem soleimani') rather than a bare name."""
    return _KEY.match(value) is not None
