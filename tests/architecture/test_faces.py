"""A part imports another part only through its face: ``from headway.<part> import X``, where
``X`` is in that part's ``__all__`` — never a deep module (``headway.<part>.<module>``).

Each part's ``__init__.py`` lists, in ``__all__``, what other parts may use; the modules behind
it are the part's own and may change freely. ``errors`` and ``types`` are single modules and
the package root is not a part, so they are imported as they are.

``DEEP_IMPORTS_NOT_YET_CONVERTED`` names the deep imports that predate this rule. It only
shrinks: a new deep import fails here, and so does an entry that no longer occurs (delete it
from the list when you convert the import). Tests are not parts and may import any module.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "headway"


@dataclass(frozen=True)
class Reach:
    module: str  # importing file, relative to src/headway
    line: int
    source: str  # importing part
    target: str  # the imported part
    path: str  # the dotted module named in the import
    names: tuple[str, ...]  # names taken from it (``from … import names``)


def parts(src: Path) -> frozenset[str]:
    """Folders that are packages; single modules (errors, types, testing) are not faces to curate."""
    return frozenset(p.name for p in src.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def face(src: Path, part: str) -> frozenset[str] | None:
    """The names in the part's literal ``__all__``, or None when it declares none."""
    tree = ast.parse((src / part / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
            return frozenset(ast.literal_eval(node.value))
    return None


def reaches(src: Path) -> Iterator[Reach]:
    known = parts(src)
    for path in sorted(src.rglob("*.py")):
        relative = path.relative_to(src)
        source = relative.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                named = [(node.module, tuple(alias.name for alias in node.names))]
            elif isinstance(node, ast.Import):
                named = [(alias.name, ()) for alias in node.names]
            else:
                continue
            for dotted, names in named:
                pieces = dotted.split(".")
                if pieces[0] != "headway" or len(pieces) < 2 or pieces[1] not in known or pieces[1] == source:
                    continue
                yield Reach(str(relative), node.lineno, source, pieces[1], dotted, names)


def _is_module(src: Path, part: str, name: str) -> bool:
    return (src / part / f"{name}.py").exists() or (src / part / name / "__init__.py").exists()


def violations(src: Path, allowed: frozenset[str]) -> tuple[list[str], list[str]]:
    """(imports against the rule, allow-list entries that no longer occur)."""
    found: list[str] = []
    seen: set[str] = set()
    faces = {part: face(src, part) for part in parts(src)}
    for reach in reaches(src):
        deep = [reach.path] if reach.path != f"headway.{reach.target}" else []
        # ``from headway.store import migrate`` names a module too: a deep import all the same.
        deep += [f"{reach.path}.{name}" for name in reach.names if not deep and _is_module(src, reach.target, name)]
        for path in deep:
            key = f"{reach.module}: {path}"
            seen.add(key)
            if key not in allowed:
                found.append(f"{reach.module}:{reach.line}: imports the deep module {path}; import it from headway.{reach.target}")
        if reach.path != f"headway.{reach.target}":
            continue
        exposed = faces[reach.target]
        for name in reach.names:
            if _is_module(src, reach.target, name):
                continue
            if exposed is None or name not in exposed:
                found.append(f"{reach.module}:{reach.line}: headway.{reach.target} does not expose {name} (add it to its __all__)")
        if not reach.names:
            found.append(f"{reach.module}:{reach.line}: `import headway.{reach.target}`; take names with `from headway.{reach.target} import …`")
    return found, sorted(allowed - seen)


def test_parts_import_each_other_only_through_their_faces() -> None:
    found, stale = violations(SRC, DEEP_IMPORTS_NOT_YET_CONVERTED)
    assert found == [], "\n".join(found)
    assert stale == [], "these deep imports are gone; delete them from DEEP_IMPORTS_NOT_YET_CONVERTED:\n" + "\n".join(stale)


def test_every_part_folder_opens_with_its_readme_and_a_face() -> None:
    for part in sorted(parts(SRC)):
        assert (SRC / part / "README.md").is_file(), f"src/headway/{part}/ has no README.md"
        docstring = ast.get_docstring(ast.parse((SRC / part / "__init__.py").read_text(encoding="utf-8")))
        assert docstring, f"src/headway/{part}/__init__.py must say in a docstring what the part is"


def test_every_name_a_face_exposes_exists() -> None:
    for part in sorted(parts(SRC)):
        exposed = face(SRC, part)
        if exposed is None:
            continue
        module = importlib.import_module(f"headway.{part}")
        missing = sorted(name for name in exposed if not hasattr(module, name))
        assert missing == [], f"headway.{part}.__all__ names what it does not define: {missing}"


def test_the_face_test_catches_a_deep_import_a_hidden_name_and_a_stale_entry(tmp_path: Path) -> None:
    fake = tmp_path / "headway"
    for part in ("store", "serving", "cli"):
        (fake / part).mkdir(parents=True)
        (fake / part / "README.md").write_text("x\n")
    (fake / "store" / "__init__.py").write_text('"""Store."""\nfrom headway.store.sql import SqlStore\n__all__ = ["SqlStore"]\n')
    (fake / "store" / "sql.py").write_text("class SqlStore: ...\nclass Hidden: ...\n")
    (fake / "serving" / "__init__.py").write_text('"""Serving."""\n')
    (fake / "serving" / "chat.py").write_text(
        "from headway.store.sql import SqlStore\nfrom headway.store import SqlStore, Hidden\nfrom headway.store.sql import Hidden\nfrom headway.store import sql\n"
    )
    (fake / "cli" / "__init__.py").write_text('"""Cli."""\n')
    (fake / "cli" / "main.py").write_text("def f():\n    import headway.store\n")
    found, stale = violations(fake, frozenset({"serving/chat.py: headway.store.sql", "cli/main.py: headway.store.gone"}))
    assert found == [
        "cli/main.py:2: `import headway.store`; take names with `from headway.store import …`",
        "serving/chat.py:2: headway.store does not expose Hidden (add it to its __all__)",
    ], found
    assert stale == ["cli/main.py: headway.store.gone"]
    found, _ = violations(fake, frozenset())
    assert "serving/chat.py:1: imports the deep module headway.store.sql; import it from headway.store" in found
    assert "serving/chat.py:3: imports the deep module headway.store.sql; import it from headway.store" in found
    assert "serving/chat.py:4: imports the deep module headway.store.sql; import it from headway.store" in found


DEEP_IMPORTS_NOT_YET_CONVERTED: frozenset[str] = frozenset()
