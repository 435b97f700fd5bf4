"""Debian's chromium driven by Playwright for the story desk's tests (never a browser Playwright downloads).

The flags keep a headless Chromium from reaching out on its own (component updates, sync, field trials,
QUIC probes): the machines these tests run on have no network but the package registries, and a fresh
user-data directory per browser keeps one test's cookies and storage from the next.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
#: Where the desk's tests leave their screenshots (ignored by git; printed in the test log).
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".cache" / "screenshots"


@dataclass
class Console:
    """Every console error and uncaught page error seen by the pages of a context."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        """Record `page`'s console errors and uncaught exceptions; returns the page."""
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: uncaught {exc}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.location.get('url', '')}: {message.text}")


def require_chromium() -> Path:
    """The system Chromium, or skip: `scripts/test` installs it (apt-get install chromium)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (scripts/test installs it with apt-get install chromium)")
    return CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or CHROMIUM)


@contextmanager
def chromium(*, color_scheme: str = "light", width: int = 1280, height: int = 900,
             base_url: str | None = None) -> Iterator[BrowserContext]:
    """A headless Chromium context with a fresh profile, closed afterwards."""
    executable = require_chromium()
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="wirewatch-chromium-") as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(executable), headless=True, args=ARGS,
            color_scheme=color_scheme,  # type: ignore[arg-type]
            viewport={"width": width, "height": height}, base_url=base_url)
        try:
            yield context
        finally:
            context.close()


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot under .cache/screenshots/, its path printed for the test log."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # a sticky header would otherwise be drawn where the page was scrolled
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")  # noqa: T201 - the artefact's path belongs in the test log
    return path
