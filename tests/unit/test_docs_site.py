"""The docs site (mkdocs.yml) shows every page of docs/ and a reference page for every
public module; the package's page links every name the package exports."""

from __future__ import annotations

import re
from pathlib import Path

import subscriptions

from .test_architecture import _modules

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"

#: The modules without a reference page, each with its reason (a module whose name has a
#: part starting with ``_`` is private and needs none).
INTERNAL = {
    "subscriptions.adapters.closing": "the stores' shared machinery: no name a host uses",
    "subscriptions.adapters.repositories": "the stores' shared machinery: no name a host uses",
    "subscriptions.adapters.sql": "the stores' shared machinery: no name a host uses",
    "subscriptions.adapters.sql_tables": "the stores' shared machinery: no name a host uses",
    "subscriptions.cli": "the command line, documented in the README",
    "subscriptions.cli.app": "the command line's words, documented by its --help",
    "subscriptions.cli.billing": "the command line's commands, documented in the README",
    "subscriptions.cli.book": "the command line's commands, documented in the README",
    "subscriptions.cli.database": "the command line's commands, documented in the README",
    "subscriptions.cli.line": "how the command line reads its global options",
    "subscriptions.cli.parsing": "how the command line's words are declared",
    "subscriptions.cli.replay": "the command line's commands, documented in the README",
    "subscriptions.cli.show": "how the command line draws on a terminal",
    "subscriptions.cli.commands": "the command line's commands, documented in the README",
    "subscriptions.cli.env": "what a command of the command line runs against",
    "subscriptions.cli.output": "how the command line prints",
    "subscriptions.cli.settings": "the command line's own table",
    "subscriptions.cli.wiring": "the command line's wiring",
}
#: The Billing Center's groups: what a host uses of them, subscriptions.center exports.
INTERNAL_PACKAGES = ("subscriptions.center.",)


def _public_modules() -> set[str]:
    return {
        name
        for name in _modules()
        if not any(part.startswith("_") for part in name.split("."))
        and name not in INTERNAL
        and not name.startswith(INTERNAL_PACKAGES)
    }


def _nav() -> list[str]:
    return re.findall(
        r"^\s*-\s+(?:[^:\n]+:\s+)?(\S+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M
    )


def test_every_public_module_has_a_reference_page() -> None:
    pages = {page.stem: page for page in REFERENCE.glob("*.md")}
    assert sorted(_public_modules() - set(pages)) == [], (
        "public modules without a page: add docs/reference/<module>.md with '::: <module>' "
        "and its line in mkdocs.yml's nav, or list the module in INTERNAL with the reason"
    )
    assert sorted(set(pages) - _public_modules()) == [], "pages of modules that are not public"
    for name, page in pages.items():
        assert re.findall(r"^::: ([\w.]+)\s*$", page.read_text(), re.M) == [name], page


def test_the_nav_names_every_page_once() -> None:
    nav = _nav()
    assert len(nav) == len(set(nav)), "a page is in the nav twice"
    pages = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert sorted(pages - set(nav)) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(set(nav) - pages) == [], "mkdocs.yml's nav names pages that do not exist"


def test_the_package_page_links_every_exported_name() -> None:
    page = (REFERENCE / "subscriptions.md").read_text()
    linked = set(re.findall(r"\[`(\w+)`\]\[subscriptions\.[\w.]+\]", page))
    exported = set(subscriptions.__all__) - {"__version__"}
    assert sorted(exported - linked) == [], "exported names missing from the package's page"
    assert sorted(linked - exported) == [], "names the package does not export"
