"""What a subscription can never be delivered, refused when it is made (the API and the CLI ask the same).

The notifier sends through the same SSRF guard, so a target the guard refuses (a metadata endpoint, a
private address, a port outside the allowed ones) would only fail later, in the delivery log. A query
with no criterion at all would send a webhook for every story.
"""

from __future__ import annotations

from services.common.errors import BlockedAddress, InvalidUrl, UpstreamUnavailable
from services.common.http import SafeHttpClient
from services.common.settings import Settings
from services.notifier.subscriptions import Query

#: (field, why) pairs: what is wrong with a subscription to be made.
Problems = list[tuple[str, str]]


async def undeliverable(settings: Settings, target_url: str, query: Query) -> Problems:
    """Why a subscription to `target_url` for `query` can never work; empty when it can."""
    problems: Problems = []
    async with SafeHttpClient.from_settings(settings) as http:
        try:
            await http.check_destination(target_url)
        except InvalidUrl as exc:
            problems.append(("target_url", f"not a URL webhooks can be sent to: {exc}"))
        except BlockedAddress as exc:
            problems.append(("target_url", str(exc)))
        except UpstreamUnavailable:
            pass  # a host that does not resolve today may tomorrow
    if empty_query(query):
        problems.append(("query", "the query selects every story (no entities, keywords, outlets or languages, and "
                                  "min_outlets 1): give at least one criterion"))
    return problems


def empty_query(query: Query) -> bool:
    """True when `query` has no criterion: it would match every story."""
    return not (query.entities or query.keywords or query.outlets or query.languages) and query.min_outlets <= 1
