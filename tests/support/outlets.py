"""The seed articles of ../shared/seeds served as outlets (tests and benchmarks), on the outlet server
that `wirewatch demo` uses too (services.demo.outlets, re-exported here for the tests that import it
from this module).

Demo with the seeds::

    python -m tests.support.outlets --port 8900
    WIREWATCH_ALLOW_NETWORKS=127.0.0.1/32 wirewatch feeds add <a feed URL it printed>
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.demo.outlets import TEMPLATES, Article, FeedFormat, Outlet, OutletServer, TemplateName, slugify

__all__ = [
    "HEADLINE_SHAPES",
    "TEMPLATES",
    "Article",
    "FeedFormat",
    "Outlet",
    "OutletServer",
    "SeedArticle",
    "TemplateName",
    "load_seed",
    "seed_outlets",
    "seeds_dir",
]

# --------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------

# Outlet hints: (substring in the text, outlet name, slug)
_OUTLET_HINTS = (
    ("Times of Israel", "The Times of Israel", "times-of-israel"),
    ("(Reuters)", "Reuters", "reuters"),
    ("Breitbart", "Breitbart News", "breitbart"),
)
# Headlines for seeds whose file has no title line (keyed by the hash part of the file name).
_KNOWN_TITLES = {
    "5a1676caa28514ad": "Reports: Iran's Soleimani met Putin in Moscow again; Kremlin denies",
}
_AUTHOR_RES = (
    re.compile(r"^Follow ([A-Z][\w.'’-]+(?: [A-Z][\w.'’-]+){1,2}) on (?:Twitter|X)\b", re.M),
    re.compile(r"^By ([A-Z][\w.'’-]+(?: [A-Z][\w.'’-]+){1,2})$", re.M),
)
_TERMINAL = (".", "!", "?", "”", '"', "’", "'", ":", ";", ")")


@dataclass(frozen=True)
class SeedArticle:
    """A seed article file parsed into headline, standfirst, section, body and outlet hints."""

    path: Path
    title: str
    paragraphs: tuple[str, ...]
    summary: str | None = None
    section: str | None = None
    author: str | None = None
    outlet_name: str = "Outlet"
    outlet_slug: str = "outlet"
    title_from_file: bool = field(default=True)

    @property
    def text(self) -> str:
        """The body text, paragraphs separated by blank lines (title and standfirst excluded)."""
        return "\n\n".join(self.paragraphs)

    @property
    def slug(self) -> str:
        """A URL slug derived from the title."""
        return slugify(self.title)[:80].strip("-") or "article"



def _looks_like_label(line: str) -> bool:
    return len(line) <= 30 and len(line.split()) <= 4 and not line.endswith(_TERMINAL)


def _looks_like_headline(line: str) -> bool:
    return len(line) <= 160 and len(line.split()) <= 25 and not line.endswith(_TERMINAL)


def load_seed(path: Path) -> SeedArticle:
    """Parse a seed file: optional section label, headline, optional standfirst, then body lines.

    A file whose first line reads like body text (long, ends with punctuation) has no headline;
    its title comes from a small table of known seeds, else from its first sentence.
    """
    raw_lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    # (line, followed_by_blank)
    lines: list[tuple[str, bool]] = []
    for i, ln in enumerate(raw_lines):
        if ln:
            nxt = raw_lines[i + 1] if i + 1 < len(raw_lines) else ""
            lines.append((ln, nxt == ""))
    section = title = summary = None
    idx = 0
    if len(lines) > 3 and _looks_like_label(lines[0][0]) and lines[0][1] and _looks_like_headline(lines[1][0]):
        section = lines[0][0]
        idx = 1
    if idx < len(lines) - 1 and _looks_like_headline(lines[idx][0]):
        title = lines[idx][0]
        idx += 1
        cand = lines[idx][0] if idx < len(lines) - 1 else ""
        if cand and len(cand) <= 300 and not cand.endswith(_TERMINAL):
            summary = cand
            idx += 1
    body = tuple(ln for ln, _ in lines[idx:])
    full = "\n".join(raw_lines)
    title_from_file = title is not None
    if title is None:
        key = path.stem.rsplit("_", 1)[-1]
        title = _KNOWN_TITLES.get(key)
        if title is None:
            first = re.split(r"(?<=[.!?])\s", body[0] if body else path.stem, maxsplit=1)[0]
            words = first.rstrip(".!?").split()
            title = " ".join(words[:12]) + ("…" if len(words) > 12 else "")
    author = None
    for rx in _AUTHOR_RES:
        m = rx.search(full)
        if m:
            author = m.group(1)
            break
    outlet_name, outlet_slug = "Outlet", "outlet"
    for needle, name, slug in _OUTLET_HINTS:
        if needle in full:
            outlet_name, outlet_slug = name, slug
            break
    return SeedArticle(path, title, body, summary, section, author, outlet_name, outlet_slug, title_from_file)


def seeds_dir() -> Path | None:
    """The shared seed directory (``../shared/seeds`` beside the repo root), or None when absent."""
    path = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
    return path if path.is_dir() and any(path.glob("*.txt")) else None


# Headlines as other outlets write them (same article texts): capitals, Title Case, a possessive.
_POSSESSIVE_TITLES = {
    "895ecb5a20ebf260": "Putin said to host Iranian Revolutionary Guards’ Soleimani",
    "dcf7398d4c868163": "Soleimani's Moscow trip: Iran's general meets Putin",
    "5a1676caa28514ad": "Khamenei's general Soleimani met Putin in Moscow, Fars says",
}


def _title_case(title: str) -> str:
    return " ".join(w if w.isupper() else w[:1].upper() + w[1:] for w in title.split())


def _possessive(title: str, seed: SeedArticle) -> str:
    return _POSSESSIVE_TITLES.get(seed.path.stem.rsplit("_", 1)[-1], title)


HEADLINE_SHAPES: dict[str, Callable[[str, SeedArticle], str]] = {
    "as written": lambda title, _: title,
    "all caps": lambda title, _: title.upper(),
    "title case": lambda title, _: _title_case(title),
    "possessive": _possessive,
}


def seed_outlets(
    srv: OutletServer, seeds_dir: Path, *, base: datetime | None = None, spacing: timedelta | None = None,
    headline: str = "as written",
) -> list[tuple[Outlet, str]]:
    """Create one outlet per seed file (formats rss, atom, rss, ...), each publishing its seed.

    Published times are ``base + i * spacing`` (default: 30 minutes ago, 4 minutes apart, so they
    fall inside any recent clustering window; pass e.g. ``datetime(2015, 12, 16, 9, tzinfo=UTC)``
    for the historical dates). ``headline`` picks how the outlets write the seeds' headlines (a key of
    HEADLINE_SHAPES: as written, all caps, title case, possessive). Returns ``(outlet, canonical page
    URL)`` pairs in file order.
    """
    files = sorted(seeds_dir.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no seed files (*.txt) in {seeds_dir}")
    if base is not None and (base.tzinfo is None or base.utcoffset() is None):
        raise ValueError("base must be timezone-aware")
    step = spacing if spacing is not None else timedelta(minutes=4)
    start = base if base is not None else datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    formats: tuple[FeedFormat, ...] = ("rss", "atom", "rss")
    existing = {o.slug for o in srv.outlets}
    out: list[tuple[Outlet, str]] = []
    for i, path in enumerate(files):
        seed = load_seed(path)
        slug = seed.outlet_slug if seed.outlet_slug != "outlet" else f"outlet-{i + 1}"
        name = seed.outlet_name if seed.outlet_slug != "outlet" else f"Outlet {i + 1}"
        n = 2
        base_slug = slug
        while slug in existing:
            slug = f"{base_slug}-{n}"
            n += 1
        existing.add(slug)
        outlet = srv.add_outlet(slug, name, formats[i % len(formats)])
        url = outlet.add_article(
            seed.slug,
            HEADLINE_SHAPES[headline](seed.title, seed),
            seed.text,
            start + i * step,
            seed.author,
            summary=seed.summary,
            section=seed.section,
        )
        out.append((outlet, url))
    return out


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _iter_lines(srv: OutletServer, pairs: list[tuple[Outlet, str]]) -> Iterator[str]:
    yield f"Outlet server on {srv.base_url}/ (Ctrl-C to stop)"
    for outlet, url in pairs:
        yield f"  {outlet.name:<22} {outlet.feed_format:<11} feed: {outlet.feed_url}"
        yield f"  {'':<22} {'':<11} page: {url}"
    yield ""
    yield "Add them with (SSRF guard must allow loopback):"
    for outlet, _ in pairs:
        yield f"  WIREWATCH_ALLOW_NETWORKS=127.0.0.1/32 wirewatch feeds add {outlet.feed_url} --name '{outlet.name}'"


def main(argv: list[str] | None = None) -> int:
    """Serve the seed outlets until interrupted; print their feed URLs."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.outlets", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8900, help="port (default 8900; 0 = any free port)")
    parser.add_argument("--seeds", type=Path, default=None, help="seed directory (default ../shared/seeds)")
    parser.add_argument("--historical", action="store_true", help="date the seeds December 2015, not 'now'")
    args = parser.parse_args(argv)
    directory = args.seeds or seeds_dir()
    if directory is None or not directory.is_dir():
        sys.stderr.write("no seed directory found; pass --seeds DIR\n")
        return 2
    base = datetime(2015, 12, 16, 9, 0, tzinfo=UTC) if args.historical else None
    with OutletServer(args.host, args.port) as srv:
        pairs = seed_outlets(srv, directory, base=base)
        sys.stdout.write("\n".join(_iter_lines(srv, pairs)) + "\n")
        sys.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        sys.stdout.write("stopping\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
