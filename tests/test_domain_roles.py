"""Every domain folder under service/ gives each module one of the fixed roles (models,
repository, service, schemas, cli) in its __init__ docstring, so a newcomer knows where a table,
a query, a rule, a data shape or a command lives before opening anything."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent / "service"
ROLES = {"models", "repository", "service", "schemas", "cli"}
DOMAINS = sorted(p.name for p in SERVICE.iterdir() if (p / "__init__.py").is_file())
# "- a.py, b.py (role): what they hold", possibly wrapped onto indented lines.
_ENTRY = re.compile(r"^- ((?:[a-z_]+\.py,?\s*)+)\((\w+)\):", re.MULTILINE)


def _listed_roles(domain: str) -> dict[str, list[str]]:
    doc = ast.get_docstring(ast.parse((SERVICE / domain / "__init__.py").read_text())) or ""
    joined = re.sub(r"\n  +", " ", doc)
    roles: dict[str, list[str]] = {}
    for files, role in _ENTRY.findall(joined):
        for name in re.findall(r"[a-z_]+\.py", files):
            roles.setdefault(name, []).append(role)
    return roles


def test_the_domains_are_the_ones_we_expect() -> None:
    expected = "access agencies approvals audit blobs compartments evidence export instance"
    assert [*expected.split(), "retention", "staff", "tips"] == DOMAINS


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_module_of_a_domain_is_listed_once_with_a_fixed_role(domain: str) -> None:
    modules = sorted(p.name for p in (SERVICE / domain).glob("*.py") if p.name != "__init__.py")
    roles = _listed_roles(domain)
    assert sorted(roles) == modules
    assert {name: found for name, found in roles.items() if len(found) != 1} == {}
    assert {name: found[0] for name, found in roles.items() if found[0] not in ROLES} == {}
    # A module named after a role has that role.
    named = {f"{role}.py": role for role in ROLES}
    assert {n: roles[n][0] for n in roles if n in named and roles[n][0] != named[n]} == {}
