"""URL canonicalisation: one spelling per article, and one parser deciding what a URL means.

Two layers:

* `normalize_url` is purely syntactic and never changes which resource is meant: it resolves a
  relative reference, refuses what wirewatch never fetches (non-http(s) schemes, userinfo,
  backslashes, control characters, bad hosts or ports), lower-cases scheme and host, IDNA-encodes
  the host, drops the default port and the fragment, and tidies percent-escapes and dot segments.
  The HTTP client uses it on every redirect hop, so the host it checks is the host it connects to
  (no parser differential, GHSA-rph4-96w6-q594).
* `canonical_url` adds the semantic rewrites used for dedup: tracking parameters removed, the
  remaining query sorted, AMP variants mapped to the plain page. Two links to the same article
  then compare equal as strings.

Everything here is pure: no I/O, no DNS.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, unquote_plus, urljoin, urlsplit

import idna

from services.common.errors import InvalidUrl

__all__ = ["MAX_URL_LENGTH", "TRACKING_PARAMS", "canonical_url", "host_of", "normalize_url", "same_site"]

#: Longer URLs are refused: no real article link needs more, and it bounds the work done here.
MAX_URL_LENGTH = 8192

_SCHEMES = {"http": 80, "https": 443}

#: Query parameters that only identify a campaign, click or share, never the content (compared
#: case-insensitively). `utm_*` is matched as a prefix.
TRACKING_PARAMS = frozenset(
    """
    fbclid gclid gclsrc dclid gbraid wbraid msclkid yclid twclid ttclid li_fat_id igshid igsh
    mc_cid mc_eid _ga _gl _hsenc _hsmi mkt_tok ref_src ref_url cmpid cmp ncid ocid icid smid smtyp
    s_kwcid at_medium at_campaign at_custom1 at_custom2 at_custom3 at_custom4 vero_id oly_anon_id
    oly_enc_id wickedid __twitter_impression sr_share
    """.split()
)
_TRACKING_PREFIXES = ("utm_",)

# Control characters and DEL (a space is escaped instead), and the backslash, which WHATWG parsers read as
# "/" but urllib does not: refusing it removes the differential instead of guessing a side.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HOST_LABELS = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$")
# Characters kept as they are in a path / a query piece; everything else is percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/?:@!$'()*+,;=-._~%"


def normalize_url(url: str, base: str | None = None) -> str:
    """The syntactically normal form of `url` (resolved against `base`), or InvalidUrl.

    Does not remove tracking parameters or AMP markers: a redirect target must be fetched as the
    server named it, or a site that redirects to its AMP page would loop.
    """
    if not isinstance(url, str):
        raise InvalidUrl(f"URL must be a string, not {type(url).__name__}")
    url = url.strip()
    if not url:
        raise InvalidUrl("empty URL")
    if base is not None:
        base = base.strip()
        _check_chars(base)
        _check_chars(url)
        url = urljoin(base, url)
    _check_chars(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number or out of range
    except ValueError as exc:
        raise InvalidUrl(f"malformed URL {url[:200]!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise InvalidUrl(f"scheme {scheme or '(none)'!r} is not fetched (http and https only)")
    if "@" in parts.netloc:
        raise InvalidUrl("URLs with credentials (userinfo) are refused")
    host = _normal_host(parts.netloc, parts.hostname)
    netloc = host if port is None or port == _SCHEMES[scheme] else f"{host}:{port}"
    path = _remove_dot_segments(_normal_escapes(parts.path, _PATH_SAFE)) or "/"
    if not path.startswith("/"):
        path = "/" + path
    query = "&".join(_normal_escapes(p, _QUERY_SAFE) for p in parts.query.split("&") if p)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def canonical_url(url: str, base: str | None = None) -> str:
    """The one spelling of an article URL used for dedup and as its identity.

    `normalize_url`, then: tracking parameters dropped, the other parameters sorted by name (the
    order of repeated names kept), AMP variants (`amp.` host, `/amp/` or trailing `/amp` segment,
    `.amp`/`.amp.html` suffix, `?amp=1`, `?outputType=amp`) mapped to the plain page.
    """
    parts = urlsplit(normalize_url(url, base))
    netloc = parts.netloc  # already normal: lower-case, no userinfo, no default port
    if netloc.startswith("amp.") and "." in netloc[4:]:
        netloc = netloc[4:]
    path = _strip_amp_path(parts.path)
    kept: list[tuple[tuple[str, str], str]] = []
    for piece in parts.query.split("&"):
        if not piece:
            continue
        name = unquote_plus(piece.partition("=")[0]).lower()
        value = unquote_plus(piece.partition("=")[2]).lower()
        if name in TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES):
            continue
        if name == "amp" or (name == "outputtype" and value == "amp"):
            continue
        kept.append(((name, unquote_plus(piece.partition("=")[0])), piece))
    kept.sort(key=lambda item: item[0])  # stable: repeated names keep their order
    query = "&".join(piece for _, piece in kept)
    return f"{parts.scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def host_of(url: str) -> str:
    """The host of `url` without a leading `www.`: the outlet name when a feed has none."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        host = ""
    if not host:
        raise InvalidUrl(f"URL has no host: {url[:200]!r}")
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") and len(host) > 4 else host


# --- helpers --------------------------------------------------------------------------------


def same_site(url: str, other: str) -> bool:
    """Whether two URLs are on one site: the same host, or one host a subdomain of the other
    ("www.bbc.co.uk" and "bbc.co.uk"). A page may only name a canonical URL on its own site."""
    try:
        a, b = host_of(url), host_of(other)
    except InvalidUrl:
        return False
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _check_chars(url: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(f"URL longer than {MAX_URL_LENGTH} characters")
    bad = _FORBIDDEN.search(url)
    if bad:
        raise InvalidUrl(f"URL contains a forbidden character {bad.group()!r}")


def _normal_host(netloc: str, hostname: str | None) -> str:
    """Lower-cased, IDNA-encoded host; IPv6 in brackets and compressed; anything odd refused."""
    if not hostname:
        raise InvalidUrl("URL has no host")
    if netloc.startswith("["):
        try:
            addr = ipaddress.IPv6Address(hostname)
        except ValueError:
            raise InvalidUrl(f"bracketed host {hostname!r} is not an IPv6 address") from None
        if addr.scope_id:
            raise InvalidUrl("IPv6 zone identifiers are refused")
        return f"[{addr.compressed}]"
    host = hostname.rstrip(".")  # "example.com." names the same host as "example.com"
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise InvalidUrl(f"host {hostname!r} is not a valid internationalised name: {exc}") from None
    host = host.lower()
    # Percent-escapes, brackets and the like in a host are parser-differential bait: refuse.
    if not _HOST_LABELS.match(host) or len(host) > 253:
        raise InvalidUrl(f"invalid host {hostname!r}")
    return host


def _normal_escapes(text: str, safe: str) -> str:
    """Upper-case hex in escapes, decode escaped unreserved characters, escape the rest."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    # A "%" not starting a valid escape is itself escaped, so the result always parses back.
    text = re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", text)
    return quote(_ESCAPE.sub(fix, text), safe=safe)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, so `/a/./b/../c` and `/a/c` are one URL."""
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") or not path.startswith("/") else "/" + result


def _strip_amp_path(path: str) -> str:
    """Drop `amp` path segments and `.amp` suffixes: the AMP copy of a page is the same article."""
    segments = [s for s in path.split("/") if s.lower() != "amp"]
    last = segments[-1] if segments else ""
    lowered = last.lower()
    if lowered.endswith(".amp.html"):
        last = last[: -len(".amp.html")] + ".html"
    elif lowered.endswith(".amp") and len(last) > 4:
        last = last[: -len(".amp")]
    if segments:
        segments[-1] = last
    result = "/".join(segments)
    # A path that was only "/amp" or "/amp/" collapses to the root.
    return result if result.startswith("/") and result != "" else "/" + result.lstrip("/")
