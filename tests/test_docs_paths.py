"""docs/architecture.md names files, folders and functions; each must exist, so the doc cannot go
stale silently. Checked, in backticks: paths (`service/tips/intake.py`, `routes/api/`, braces
`service/{db,errors}.py`, pytest ids `tests/x.py::test_y`), dotted names
(`service.db.lock_for_write`, `routes.deps.UnitOfWork.run`) and a class's attributes
(`TipIntake.finish`: some class of that name has it), read from the source, not imported.

A placeholder stands for every value of its kind: `service/<domain>/models.py` claims a models.py
in every domain. A new placeholder needs its values below."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PLACEHOLDERS = {
    "domain": sorted(p.parent.name for p in (ROOT / "service").glob("*/__init__.py")),
    "zone": ["reporter", "staff", "audit"],
}
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_SPAN = re.compile(r"`([^`\s]+)`")
_PATH = re.compile(r"[\w.<>{},*-]+(/[\w.<>{},*-]*)+(::[\w.]+)?")
_DOTTED = re.compile(r"(alembic|bench|crypto|routes|service|tests)(\.[A-Za-z_]\w*)+")
_CLASS_ATTR = re.compile(r"[A-Z]\w*(\.\w+)+")
_MODULES = [p for top in ("crypto", "routes", "service") for p in (ROOT / top).rglob("*.py")]
_SUFFIXES = (".py", ".md", ".html", ".toml", ".txt", ".cfg", "/")


def _expand(pattern: str) -> list[str]:
    """Braces and placeholders, expanded: `a/{b,c}.py` is `a/b.py` and `a/c.py`."""
    braces = re.search(r"\{([^{}]*)\}", pattern)
    if braces:
        head, tail = pattern[: braces.start()], pattern[braces.end() :]
        return [p for choice in braces[1].split(",") for p in _expand(head + choice + tail)]
    holder = re.search(r"<(\w+)>", pattern)
    if holder:
        values = PLACEHOLDERS.get(holder[1], [f"<unknown placeholder {holder[1]}>"])
        return [p for v in values for p in _expand(pattern.replace(holder[0], v, 1))]
    return [pattern]


def _names_in(body: list[ast.stmt]) -> dict[str, ast.AST]:
    """What a module or class body defines (imports too: a package's re-exports)."""
    found: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found[node.name] = node
        elif isinstance(node, ast.Assign):
            found.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = node
        elif isinstance(node, ast.ImportFrom | ast.Import):
            found.update({(a.asname or a.name): node for a in node.names})
    return found


def _defines(module: Path, names: list[str]) -> bool:
    """`names` (a name, then attributes of a class) are defined in `module`."""
    body: list[ast.stmt] = ast.parse(module.read_text()).body
    for name in names:
        node = _names_in(body).get(name)
        if node is None:
            return False
        body = node.body if isinstance(node, ast.ClassDef) else []
    return True


def _module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _dotted_exists(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = _module_file(parts[:cut])
        if module is not None:
            return _defines(module, parts[cut:])
    return False


def _class_attr_exists(span: str) -> bool:
    owner = span.split(".")[0]
    for module in _MODULES:
        if f"class {owner}" in module.read_text() and _defines(module, span.split(".")):
            return True
    return False


def _path_exists(path: str) -> bool:
    path, _, names = path.partition("::")
    matches = list(ROOT.glob(path.rstrip("/"))) if "*" in path else [ROOT / path]
    if path.endswith("/"):
        matches = [m for m in matches if m.is_dir()]
    matches = [m for m in matches if m.exists()]
    if not names:
        return bool(matches)
    return any(m.is_file() and _defines(m, names.split(".")) for m in matches)


def _is_path(span: str) -> bool:
    if not _PATH.fullmatch(span) or span.startswith("/"):
        return False  # URLs (`/api/v1/tips`) and media types (`multipart/form-data`) are not
    first = span.split("/")[0]
    return (ROOT / first).exists() or span.partition("::")[0].endswith(_SUFFIXES)


def missing(text: str) -> list[str]:
    """Every backticked path or dotted name in `text` that does not exist, once each."""
    gone: list[str] = []
    for span in dict.fromkeys(_SPAN.findall(_FENCE.sub("", text))):
        if _is_path(span):
            gone += [p for p in _expand(span) if not _path_exists(p)]
        elif _DOTTED.fullmatch(span):
            gone += [] if _dotted_exists(span) else [span]
        elif _CLASS_ATTR.fullmatch(span) and not span.endswith(_SUFFIXES):  # not `README.md`
            gone += [] if _class_attr_exists(span) else [span]
    return list(dict.fromkeys(gone))


def test_every_path_and_name_in_the_architecture_doc_exists() -> None:
    assert missing(DOC.read_text()) == []


def test_the_checker_sees_what_is_gone() -> None:
    # The old doc's stale claims (not every domain has a service.py; no routes/pages/staff.py),
    # a typo, a vanished function and method, a test id, a placeholder value; fences are skipped.
    text = (
        "`service/<domain>/service.py` `routes/pages/<zone>.py` `routes/templates/<zone>/`"
        " `servce/db.py` `service.db.lock_for_write` `service.db.take_write_lock`"
        " `routes.deps.UnitOfWork.run` `routes.deps.UnitOfWork.walk` `service/<zone>/`"
        " `tests/test_architecture.py::test_nope` `service/{db,errors}.py` `service/*/cli.py`"
        " `multipart/form-data` `/api/v1/tips` `service/tips/` `service/<kind>.py`"
        " `TipIntake.finish` `TipIntake.store` `NoSuchClass.run` `README.md`"
        "\n```\n`service/nothing.py`\n```\n"
    )
    without = [d for d in PLACEHOLDERS["domain"] if not (ROOT / f"service/{d}/service.py").exists()]
    assert without  # else the first claim would be true
    assert missing(text) == [
        *(f"service/{d}/service.py" for d in without),
        "routes/pages/staff.py",
        "servce/db.py",
        "service.db.take_write_lock",
        "routes.deps.UnitOfWork.walk",
        "service/reporter/",
        "tests/test_architecture.py::test_nope",
        "service/<unknown placeholder kind>.py",
        "TipIntake.store",
        "NoSuchClass.run",
    ]
