"""Dependencies point inward, and a test says so: any import against the layering fails here.

The layering (docs/architecture.md, "Layering"), outermost first; a part may import parts
of its own layer only where the rows below allow it, and any part of a layer further in:

    entry    __main__ | testing
             cli
    api      api
    serving  serving
    parts    admission | cache | dialects | gate | idempotency | jobs | pipelines | review   (features: never each other)
             console | retrieval
             routing
             auth
             guards
             observe
             evals | loadtest | sim                                    (tools)
    inner    backends | providers | store
             config
             tasks | types
             errors

Every ``import headway…`` counts, at module level, under ``if TYPE_CHECKING:`` or inside a
function. Outside ``cli`` (which imports its commands lazily so ``headway --help`` starts
fast), an import of another part inside a function is refused whatever its direction:
it is how cycles get hidden.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "headway"

# Outermost first. Within a layer, each row is a rank: a part may import parts of a lower
# rank (further down the list), never the same rank or a higher one.
LAYERS: tuple[tuple[str, tuple[frozenset[str], ...]], ...] = (
    ("entry", (frozenset({"__main__", "testing"}), frozenset({"cli"}))),
    ("api", (frozenset({"api"}),)),
    ("serving", (frozenset({"serving"}),)),
    (
        "parts",
        (
            frozenset({"gate", "review", "jobs", "cache", "admission", "pipelines", "dialects", "idempotency"}),
            frozenset({"retrieval", "console"}),
            frozenset({"routing"}),
            frozenset({"auth"}),
            frozenset({"guards"}),
            frozenset({"observe"}),
            frozenset({"loadtest", "evals", "sim"}),
        ),
    ),
    (
        "inner",
        (
            frozenset({"backends", "providers", "store"}),
            frozenset({"config"}),
            frozenset({"types", "tasks"}),
            frozenset({"errors"}),
        ),
    ),
)
# The package root (``headway.__version__``) and data folders are not parts.
NOT_PARTS = frozenset({"__init__", "examples", "py.typed"})
LAZY_IMPORTS_ALLOWED = frozenset({"cli"})


def _rank() -> dict[str, int]:
    order: dict[str, int] = {}
    position = 0
    for _layer, ranks in LAYERS:
        for rank in ranks:
            for part in rank:
                order[part] = position
            position += 1
    return order


RANK = _rank()


@dataclass(frozen=True)
class Import:
    module: str  # importing file, relative to src/headway
    line: int
    source: str  # importing part
    target: str  # imported part
    where: str  # "module" | "type-checking" | "function"


def _part_of(relative: Path) -> str:
    return relative.parts[0].removesuffix(".py")


def _target(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "headway":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


class _Collector(ast.NodeVisitor):
    def __init__(self, relative: Path) -> None:
        self.relative = relative
        self.part = _part_of(relative)
        self.functions = 0
        self.type_checking = 0
        self.found: list[Import] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        guarded = "TYPE_CHECKING" in ast.unparse(node.test)
        self.type_checking += guarded
        for child in node.body:
            self.visit(child)
        self.type_checking -= guarded
        for child in node.orelse:
            self.visit(child)

    def _add(self, module: str, node: ast.stmt, names: list[str]) -> None:
        target = _target(module)
        if target is None:
            return
        if target == "__init__":  # ``from headway import x``: x is a part, or a name of the root
            targets = [name if (SRC / name).is_dir() or (SRC / f"{name}.py").exists() else "__init__" for name in names]
        else:
            targets = [target]
        where = "function" if self.functions else "type-checking" if self.type_checking else "module"
        for each in targets:
            if each != self.part:
                self.found.append(Import(str(self.relative), node.lineno, self.part, each, where))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node, [])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node, [alias.name for alias in node.names])


def imports() -> Iterator[Import]:
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        collector = _Collector(relative)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        yield from collector.found


def violations() -> list[str]:
    found = []
    for imp in imports():
        if imp.target in NOT_PARTS or imp.source in NOT_PARTS:
            continue
        if imp.source not in RANK or imp.target not in RANK:
            found.append(f"{imp.module}:{imp.line}: {imp.source} or {imp.target} is in no layer (add it to LAYERS)")
            continue
        if RANK[imp.target] <= RANK[imp.source]:
            found.append(f"{imp.module}:{imp.line}: {imp.source} imports {imp.target} ({imp.where}), against the layering")
        if imp.where == "function" and imp.source not in LAZY_IMPORTS_ALLOWED:
            found.append(f"{imp.module}:{imp.line}: {imp.source} imports {imp.target} inside a function")
    return found


def test_every_part_is_in_exactly_one_layer() -> None:
    parts = {_part_of(p.relative_to(SRC)) for p in SRC.iterdir() if p.name != "__pycache__"} - NOT_PARTS
    assert parts - set(RANK) == set(), "add new parts to LAYERS here and in docs/architecture.md"
    named = [part for _layer, ranks in LAYERS for rank in ranks for part in rank]
    assert len(named) == len(set(named))


def test_dependencies_point_inward() -> None:
    assert violations() == []


def test_the_layering_test_catches_an_outward_import_and_a_hidden_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "headway"
    (fake / "store").mkdir(parents=True)
    (fake / "serving").mkdir()
    (fake / "store" / "bad.py").write_text("from headway.serving.chat import serve_chat\n")
    (fake / "serving" / "hidden.py").write_text("def f():\n    from headway.api.app import create_app\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["SRC"]), "SRC", fake)
    found = violations()
    assert any("store/bad.py:1: store imports serving (module)" in v for v in found), found
    assert any("serving/hidden.py:2: serving imports api (function)" in v for v in found), found
    assert any("serving/hidden.py:2: serving imports api inside a function" in v for v in found), found


def test_the_documented_layering_is_this_one() -> None:
    doc = (SRC.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    for _layer, ranks in LAYERS:
        for rank in ranks:
            assert " | ".join(sorted(rank)) in doc, f"docs/architecture.md must list the rank {' | '.join(sorted(rank))}"
