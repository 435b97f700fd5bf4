"""Logs for people on a terminal, JSON for machines (issue 18, point 7): structlog's console renderer with
colours on a terminal, JSON lines when stderr is not one or when asked, never escape codes in a pipe."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from services.common.logging import configure_logging, get_logger

ESC = "\x1b["


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def logged(monkeypatch: pytest.MonkeyPatch, *, tty: bool, json_logs: bool | None = None) -> str:
    stream = _Stream(tty)
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(json=json_logs, level="INFO")
    get_logger("test").info("api.ready", url="http://127.0.0.1:8080")
    logging.getLogger("uvicorn.error").warning("a library speaks")
    return stream.getvalue()


def test_a_terminal_gets_readable_coloured_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    text = logged(monkeypatch, tty=True)
    assert ESC in text, "colours on a terminal"
    first = text.splitlines()[0]
    assert "api.ready" in first and "http://127.0.0.1:8080" in first and not first.startswith("{")


def test_a_pipe_gets_json_lines_without_escape_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    text = logged(monkeypatch, tty=False)
    assert ESC not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["event"] == "api.ready" and lines[0]["url"] == "http://127.0.0.1:8080"
    assert lines[1]["event"] == "a library speaks" and lines[1]["level"] == "warning"


def test_json_when_asked_and_readable_lines_without_colour_in_a_pipe_when_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert json.loads(logged(monkeypatch, tty=True, json_logs=True).splitlines()[0])["event"] == "api.ready"
    readable = logged(monkeypatch, tty=False, json_logs=False)
    assert "api.ready" in readable and ESC not in readable and not readable.startswith("{")
