"""`GET /v1/config`: the running system's effective settings (secrets masked), for `wirewatch config`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.api.deps import SettingsDep

router = APIRouter(tags=["operations"])


@router.get("/config")
async def running_config(settings: SettingsDep) -> dict[str, Any]:
    """The settings this API runs with (under `wirewatch up`: every service's), secrets masked."""
    return settings.redacted()
