"""The design card's import rule: a service imports services.common, never another service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "services"
SERVICES = ("fetcher", "extractor", "store")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_only_common_and_itself(service: str) -> None:
    for path in (ROOT / service).rglob("*.py"):
        for name in imported_modules(path):
            if name.startswith("services.") and not name.startswith(("services.common", f"services.{service}")):
                pytest.fail(f"{path.relative_to(ROOT.parent)} imports {name}")


def test_common_imports_no_service_and_no_composition_root() -> None:
    for path in (ROOT / "common").rglob("*.py"):
        for name in imported_modules(path):
            assert not name.startswith(tuple(f"services.{s}" for s in (*SERVICES, "cli", "system"))), (
                f"{path.relative_to(ROOT.parent)} imports {name}")
