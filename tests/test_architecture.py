"""Imports point one way: routes -> service -> crypto. A new import that breaks it fails here."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)
WEB = {"fastapi", "starlette", "jinja2"}


def _imports(package: str, root: Path = ROOT) -> list[tuple[Path, str]]:
    found = []
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path, alias.name.split(".")[0]) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((path, node.module.split(".")[0]))
    assert found, f"no imports found under {package}/"
    return found


def test_crypto_imports_only_stdlib_and_cryptography() -> None:
    bad = [
        (p.relative_to(ROOT), m)
        for p, m in _imports("crypto")
        if m not in STDLIB and m not in {"cryptography", "crypto", "__future__"}
    ]
    assert bad == []


def test_service_never_imports_the_web_layer() -> None:
    bad = [(p.relative_to(ROOT), m) for p, m in _imports("service") if m in WEB | {"routes"}]
    assert bad == []


@pytest.mark.parametrize("package", ["crypto", "service"])
def test_nothing_below_routes_imports_routes(package: str) -> None:
    assert [m for _, m in _imports(package) if m == "routes"] == []


def test_migrations_import_only_service_db() -> None:
    allowed = STDLIB | {"alembic", "sqlalchemy", "__future__"}
    bad = []
    for path in sorted((ROOT / "alembic").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] not in allowed and node.module != "service.db":
                    bad.append((path.name, node.module))
            elif isinstance(node, ast.Import):
                bad += [
                    (path.name, a.name) for a in node.names if a.name.split(".")[0] not in allowed
                ]
    assert bad == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # Guards against a scanner that silently passes everything.
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "m.py").write_text(
        "import os\nfrom fastapi import FastAPI\nimport routes.app\nfrom . import sibling\n"
    )
    modules = {m for _, m in _imports("pkg", tmp_path)}
    assert modules == {"os", "fastapi", "routes"}
