"""docs/security.md documents the permission table the code enforces; they must not drift apart."""

from __future__ import annotations

from pathlib import Path

from headway.auth.permissions import PERMISSIONS, ROLE_PERMISSIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def documented_roles() -> dict[str, set[str]]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| role | inference"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    table: dict[str, set[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0]] = {header[i] for i, cell in enumerate(cells) if i and cell == "✓"}
    return table


def test_the_documented_role_table_is_the_enforced_one() -> None:
    documented = documented_roles()
    assert set(documented) == set(ROLE_PERMISSIONS)
    for role, permissions in ROLE_PERMISSIONS.items():
        assert documented[role] == set(permissions) & set(PERMISSIONS), role


def test_every_permission_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert all(f"`{name}`" in text or f"`{name.split(':')[0]}:" in text for name in PERMISSIONS)


def test_every_owasp_item_is_mapped() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = ["Prompt Injection", "Sensitive Information Disclosure", "Supply Chain", "Data and Model Poisoning",
             "Improper Output Handling", "Excessive Agency", "System Prompt Leakage", "Vector and Embedding Weaknesses",
             "Misinformation", "Unbounded Consumption"]
    for number, name in enumerate(names, start=1):
        assert f"**LLM{number:02d} {name}**" in text
