"""docs/architecture.md lists every module of the package, and only those."""

from __future__ import annotations

import re
from pathlib import Path

import subscriptions

PAGE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _modules() -> set[str]:
    root = Path(subscriptions.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.add(".".join(parts))
    return found


def test_the_architecture_page_names_every_module_with_its_role() -> None:
    listed = re.findall(r"^\| `(subscriptions[\w.]*)` \| (.+?) \|$", PAGE.read_text(), re.M)
    names = [name for name, _ in listed]
    assert len(names) == len(set(names)), "a module is listed twice"
    assert all(role.strip() for _, role in listed)
    modules = _modules()
    assert sorted(modules - set(names)) == [], "modules missing from docs/architecture.md"
    assert sorted(set(names) - modules) == [], (
        "docs/architecture.md names modules that do not exist"
    )
