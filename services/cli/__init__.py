"""The `wirewatch` command line (a composition root)."""

from services.cli.app import app

__all__ = ["app"]
