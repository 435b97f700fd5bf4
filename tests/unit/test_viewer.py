"""Who reads the desk (services.api.pages.viewer): scopes and the return path after signing in (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.api.apikeys import ApiKey
from services.api.pages.viewer import Viewer, login_url, safe_next


def key(scope: str) -> ApiKey:
    return ApiKey(id="k", name="n", scope=scope, created_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_only_admin_keys_or_an_open_api_see_write_buttons() -> None:
    assert Viewer(keys_required=False).can_write
    assert Viewer(keys_required=True, key=key("admin")).can_write
    assert not Viewer(keys_required=True, key=key("read")).can_write
    assert not Viewer(keys_required=True).can_write


def test_the_return_path_after_signing_in_stays_on_this_site() -> None:
    assert safe_next("/stories/abc?x=1") == "/stories/abc?x=1"
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", None, "stories"):
        assert safe_next(hostile) == "/"
    assert login_url("/feeds") == "/login?next=/feeds"
