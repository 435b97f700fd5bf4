"""Errors that decide what happens to a message.

    WirewatchError
    ├── Retryable              transient: back off, retry, then dead-letter
    │   ├── UpstreamTimeout        the remote server did not answer in time
    │   └── UpstreamUnavailable    connection refused/reset, 5xx, 429
    └── Permanent              this input can never succeed: dead-letter now
        ├── InvalidMessage         bytes on a topic that do not decode to its schema
        ├── InvalidUrl             a URL with a forbidden scheme, port or shape
        ├── BlockedAddress         the SSRF guard refused the resolved address
        ├── ResponseTooLarge       body over the byte cap (also after decompression)
        ├── UpstreamRejected       4xx other than 429, too many redirects
        └── ExtractionFailed       the page holds no article text we can use
            └── NotAnArticle           a paywall stub or a non-article page (home, section, profile)
"""

from __future__ import annotations


class WirewatchError(Exception):
    """Base of every error wirewatch raises on purpose."""


class Retryable(WirewatchError):
    """A failure that may pass if tried again later."""


class Permanent(WirewatchError):
    """A failure that will repeat for this input: dead-letter it at once."""


class UpstreamTimeout(Retryable):
    """The remote server did not answer within the deadline."""


class UpstreamUnavailable(Retryable):
    """The remote server refused, reset, or answered 5xx/429."""


class InvalidMessage(Permanent):
    """Bytes on a topic that do not decode to the topic's schema."""


class InvalidUrl(Permanent):
    """A URL wirewatch refuses to fetch: scheme, port, credentials or shape."""


class BlockedAddress(Permanent):
    """The SSRF guard refused an address (loopback, private, metadata, ...)."""


class ResponseTooLarge(Permanent):
    """The response body exceeded the byte cap (counted after decompression)."""


class UpstreamRejected(Permanent):
    """The remote server answered with a permanent HTTP error or a redirect loop."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ExtractionFailed(Permanent):
    """The page yielded no usable article (empty, not HTML, not an article)."""


class NotAnArticle(ExtractionFailed):
    """The page is reachable and parses, but is no article: a paywall stub or a home/section page."""
