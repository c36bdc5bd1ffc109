"""A griffe extension for the docs site: the package's reStructuredText docstrings as the
Markdown that mkdocstrings renders.

The docstrings are written for ``help()`` and Sphinx-style readers; mkdocstrings renders
Markdown. Before any docstring is parsed, this extension rewrites, in every docstring of
the package:

* ``#:`` comments above an attribute into its docstring, as Sphinx reads them;
* Sphinx roles (``:class:`~subscriptions.x.Y```, ``:meth:`name```, ``:mod:`.base```,
  ``:attr:`title <target>```) into mkdocs-autorefs cross-references
  (``[`Y`][subscriptions.x.Y]``), each name resolved the way Python would, from the
  scope of the object whose docstring it is in. A name in a module without a page under
  ``docs/reference/`` (a private helper, the standard library) becomes code, not a link;
  a name that does not resolve is a warning (an error under ``mkdocs build --strict``).
* literal blocks (``text::`` and the indented block after it) into fenced code blocks;
* doctest blocks (``>>>`` lines and their output) into fenced ``pycon`` blocks;
* simple tables (``====  ====`` borders) into Markdown tables, or into a list when the
  table has no header row.

Loaded by mkdocs.yml (``plugins: mkdocstrings: handlers: python: options: extensions``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import griffe

PACKAGE = "subscriptions"
REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference"

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|exc|func|meth|mod|attr|data|obj|const):"
    r"`(?P<tilde>~?)(?P<body>[^`]+)`"
)
_TITLED = re.compile(r"(?P<title>.*?)\s*<(?P<target>[^<>]+)>\s*$", re.S)
_BORDER = re.compile(r"^(?P<indent> *)=+(?: +=+)+ *$")


def documented_modules() -> set[str]:
    """The modules with a page under ``docs/reference/`` (the ``::: module`` lines)."""
    found = set()
    for page in REFERENCE.glob("*.md"):
        found.update(re.findall(r"^::: ([\w.]+)\s*$", page.read_text(), re.M))
    return found


class RstToMarkdown(griffe.Extension):
    """Rewrites the package's docstrings from reStructuredText to Markdown."""

    def __init__(self) -> None:
        super().__init__()
        self.documented = documented_modules()

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **_: Any) -> None:
        if pkg.path != PACKAGE:
            return
        for obj in _objects(pkg):
            if obj.docstring is None and obj.is_attribute:
                _doc_comment(obj)
            if obj.docstring is not None:
                text = _blocks(obj.docstring.value)
                obj.docstring.value = _roles(text, obj, loader, self.documented)


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)  # type: ignore[arg-type]


def _doc_comment(obj: griffe.Object) -> None:
    """An attribute's ``#:`` comment (the lines just above it, or the end of its line), as
    Sphinx reads it, for its docstring: griffe reads only docstrings."""
    if obj.lineno is None:
        return
    lines = obj.lines_collection[obj.filepath]  # type: ignore[index]
    first = obj.lineno - 1
    if "#: " in lines[first]:
        found = [lines[first].split("#: ", 1)[1]]
    else:
        found = []
        i = first - 1
        while i >= 0 and lines[i].lstrip().startswith("#:"):
            found.insert(0, lines[i].lstrip()[2:].removeprefix(" "))
            i -= 1
    if found:
        obj.docstring = griffe.Docstring("\n".join(found), lineno=obj.lineno, parent=obj)


# Sphinx roles -------------------------------------------------------------------------


def _roles(text: str, obj: griffe.Object, loader: griffe.GriffeLoader, documented: set[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        body = " ".join(match["body"].split())
        titled = _TITLED.match(body)
        target, title = (titled["target"], titled["title"]) if titled else (body, None)
        target = target.lstrip("~")
        shown = title or (target.rsplit(".", 1)[-1] if match["tilde"] else target.lstrip("."))
        path = _resolve(target, obj, loader)
        if path is None:
            # Only in a docstring the site renders; a bare module name is the standard
            # library's (:mod:`sqlite3`).
            ours = target.startswith((".", f"{PACKAGE}.")) or (
                "." not in target and match["role"] != "mod"
            )
            if ours and obj.module.path in documented:
                griffe.logger.warning(
                    f"{obj.path}: {match[0]!r} names nothing that "
                    f"{obj.module.path} can reach; write the full path"
                )
            return f"`{shown}`"
        if _module_of(path, loader) in documented:
            return f"[`{shown}`][{path}]"
        # Defined in a module without a page, it may still be rendered where it is
        # re-exported (BillingCenter in subscriptions.center): a link if so, else code.
        return f'<autoref identifier="{path}" optional><code>{shown}</code></autoref>'

    return _ROLE.sub(replace, text)


def _resolve(target: str, obj: griffe.Object, loader: griffe.GriffeLoader) -> str | None:
    """The full path of ``target`` seen from ``obj``, or ``None`` (not in the package)."""
    if target.startswith("."):
        package: griffe.Object | None = obj.module
        if not obj.module.is_init_module:
            package = obj.module.parent
        for _ in range(len(target) - len(target.lstrip(".")) - 1):
            package = package.parent if package is not None else None
        if package is None:
            return None
        return _canonical(f"{package.path}.{target.lstrip('.')}", loader)
    if target.startswith(f"{PACKAGE}.") or target == PACKAGE:
        return _canonical(target, loader)
    first, _, rest = target.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            base = scope.resolve(first)
        except griffe.NameResolutionError:
            scope = scope.parent
            continue
        path = f"{base}.{rest}" if rest else base
        return _canonical(path, loader)
    return None


def _canonical(path: str, loader: griffe.GriffeLoader) -> str | None:
    """Where the object a path names is defined, or ``None`` if there is no such object."""
    try:
        obj = loader.modules_collection[path]
        return str(obj.canonical_path)
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _module_of(path: str, loader: griffe.GriffeLoader) -> str:
    """The deepest module a path goes through."""
    obj: Any = loader.modules_collection[path]
    while not obj.is_module:
        obj = obj.parent
    return str(obj.path)


# Blocks: literal blocks, doctests, simple tables --------------------------------------


def _blocks(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.lstrip().startswith(">>>"):
            i = _literal(lines, i, out)
        elif line.lstrip().startswith(">>> "):
            i = _doctest(lines, i, out)
        elif _BORDER.match(line):
            i = _table(lines, i, out)
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _pad(indent: int) -> str:
    """The indentation of a block nested ``indent`` columns deep, as Python-Markdown needs
    it (a block inside a list item is indented four columns)."""
    return " " * (-(-indent // 4) * 4)


def _literal(lines: list[str], i: int, out: list[str]) -> int:
    line = lines[i]
    indent = _indent(line)
    lead = line.rstrip()[:-2].rstrip()
    if lead.strip():
        out.append(lead + (":" if not line.rstrip().endswith(" ::") else ""))
    j = i + 1
    while j < len(lines) and not lines[j].strip():
        j += 1
    block: list[str] = []
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        block.append(lines[j])
        j += 1
    while block and not block[-1].strip():
        block.pop()
    depth = min(_indent(b) for b in block if b.strip()) if block else 0
    pad = _pad(indent)
    out.extend(["", f"{pad}```text", *(pad + b[depth:] for b in block), f"{pad}```", ""])
    return j


def _doctest(lines: list[str], i: int, out: list[str]) -> int:
    indent = _indent(lines[i])
    pad = _pad(indent)
    out.append(f"{pad}```pycon")
    while i < len(lines) and lines[i].strip():
        out.append(pad + lines[i][indent:])
        i += 1
    out.append(f"{pad}```")
    return i


def _table(lines: list[str], i: int, out: list[str]) -> int:
    border = lines[i]
    indent = len(_BORDER.match(border)["indent"])  # type: ignore[index]
    starts = [m.start() for m in re.finditer(r"=+", border)]
    rows: list[list[str]] = []
    header: list[str] | None = None
    j = i + 1
    while j < len(lines):
        line = lines[j]
        if _BORDER.match(line) and _indent(line) == indent:
            if j + 1 < len(lines) and lines[j + 1].strip() and header is None and len(rows) > 0:
                header, rows = rows[0], []
                j += 1
                continue
            j += 1
            break
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        if rows and not cells[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
        elif line.strip():
            rows.append(cells)
        j += 1
    pad = _pad(indent)
    out.append("")
    if header is None:
        out.extend(f"{pad}* {row[0]}: {' '.join(row[1:])}" for row in rows)
    else:
        out.append(pad + "| " + " | ".join(header) + " |")
        out.append(pad + "|" + " --- |" * len(header))
        out.extend(pad + "| " + " | ".join(row) + " |" for row in rows)
    out.append("")
    return j
