"""The store is the only part that knows SQL dialects, engines and driver errors.

Outside ``src/headway/store/`` no module may reach for the engine behind a store, branch
on the dialect, import ``sqlalchemy.dialects`` or catch ``SQLAlchemyError`` itself (the
one translation in ``store.errors`` decides outage versus bug). Modules still being
converted by their owners are listed with the reason; the list may only shrink.
"""

from __future__ import annotations

import re
from pathlib import Path

import headway

SRC = Path(headway.__file__).parent

RULES = {
    "engine behind a store": re.compile(r'getattr\([^)]*"engine"|\bstore\.engine\b'),
    "dialect branch": re.compile(r"\.dialect\.name\b|\bsqlalchemy\.dialects\b"),
    "hand-written SQLAlchemyError handling": re.compile(r"except\b[^:\n]*\bSQLAlchemyError\b"),
}

# path (relative to src/headway) -> why it is still here. Owners remove their line as they convert.
PENDING = {
    "pipelines/sources.py": "reads a user's own SQL source database, not the store",
}


def violations() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith("store/"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for rule, pattern in RULES.items():
                if pattern.search(line):
                    found.setdefault(relative, []).append(f"{relative}:{number}: {rule}: {line.strip()}")
    return found


def test_no_dialect_engine_or_driver_error_knowledge_outside_the_store() -> None:
    new = {path: lines for path, lines in violations().items() if path not in PENDING}
    assert not new, "store knowledge outside store/ (use a SqlRepository on store.database):\n" + "\n".join(
        line for lines in new.values() for line in lines
    )


def test_the_rules_see_what_they_forbid() -> None:
    samples = {
        "engine behind a store": 'engine = getattr(store, "engine", None)',
        "dialect branch": 'if connection.dialect.name == "postgresql":',
        "hand-written SQLAlchemyError handling": "except (SQLAlchemyError, RuntimeError) as exc:",
    }
    for rule, line in samples.items():
        assert RULES[rule].search(line), rule
    assert not any(pattern.search("with self.reading('read keys') as connection:") for pattern in RULES.values())
