"""The design card's import rules, checked by walking every import of the code.

A service (fetcher, extractor, store, notifier) imports only services.common and itself; the API, the
CLI, `system` and `evaluation` are composition roots that may import services; nothing imports a
composition root; common imports no service.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "services"
SERVICES = ("fetcher", "extractor", "store", "notifier")
COMPOSITION_ROOTS = ("api", "cli", "system", "evaluation")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name `path` imports, at any depth (function-level imports too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from services import store` imports a package by its attribute name.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def owner(module: str) -> str | None:
    """The top-level part of `services` a module belongs to (`services.store.lsh` -> `store`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "services" else None


def breaches(part: str) -> list[str]:
    """`file imports module` lines for every import of `part` that the rules forbid."""
    base = ROOT / part
    paths = list(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    allowed = {"common", part} if part in (*SERVICES, "common") else None
    if part == "common":
        allowed = {"common"}
    found = []
    for path in paths:
        for name in imported_modules(path):
            target = owner(name)
            if target is None or target == part:
                continue
            if target in COMPOSITION_ROOTS or (allowed is not None and target not in allowed):
                found.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    return sorted(found)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_only_common_and_itself(service: str) -> None:
    assert breaches(service) == []


def test_common_imports_no_service_and_no_composition_root() -> None:
    assert breaches("common") == []


@pytest.mark.parametrize("root", COMPOSITION_ROOTS)
def test_nothing_imports_a_composition_root(root: str) -> None:
    """A composition root may import services, but not another composition root (the CLI may call into
    `system` to start the system, and the API's public mappers)."""
    allowed = {"cli": {"system", "api", "evaluation"}, "system": {"api"}, "api": set(), "evaluation": set()}[root]
    base = ROOT / root
    paths = list(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    found = []
    for path in paths:
        for name in imported_modules(path):
            target = owner(name)
            if target in COMPOSITION_ROOTS and target != root and target not in allowed:
                found.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    assert found == []


def test_the_rules_catch_a_forbidden_import(tmp_path: Path) -> None:
    """The walker itself: a deliberate bad import is found (so a green run means something)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from services.store.repository import Repository\nfrom services import api\n")
    names = imported_modules(bad)
    assert "services.store.repository" in names and "services.api" in names
    assert {owner(n) for n in names} >= {"store", "api"}
