"""Results that show themselves: a plain text table, an HTML table (what a notebook
shows, through ``_repr_html_``) and the flat rows a ``pandas.DataFrame`` takes, all
three from one description of the record, a :class:`View`.

A record that shows itself is :class:`Viewable`: it builds its :class:`View` in
:meth:`~Viewable.view`, and gets from it

* ``table()``: the plain text view, a ``str`` to print;
* ``rows()``: one flat ``dict`` per row of its main table (str keys; values ``str``,
  ``int``, ``Decimal``, ``datetime``, ``date`` or ``None``): ``pandas.DataFrame(x.rows())``
  without the library depending on pandas;
* ``_repr_html_()``: the HTML table, every text escaped (``html.escape``): ids, names,
  anything a user wrote.

Every cell is shown by one rule (:func:`shown`): an amount (a ``Money``) with at least
its currency's minor digits and never rounded (:func:`~subscriptions.money.shown_amount`:
``0.00`` euros, ``1200`` yen), an instant in the view's time zone, to the minute when
it has no seconds. In :meth:`View.rows` an amount is its ``Decimal`` (the row names its
currency), an instant an aware ``datetime`` in that zone.

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> from subscriptions.money import to_money
>>> view = View(
...     title="Prices <draft>",
...     sections=(Section(title="prices", columns=("plan", "currency", "price"), cells=(
...         ("basic", "EUR", to_money(Decimal("10"), "EUR")),
...         ("<b>pro</b>", "JPY", to_money(Decimal("1200"), "JPY")),
...     )),),
... )
>>> print(view.table(), end="")
Prices <draft>
<BLANKLINE>
prices
plan        currency  price
----------  --------  -----
basic       EUR       10.00
<b>pro</b>  JPY        1200
>>> view.rows()[0]
{'plan': 'basic', 'currency': 'EUR', 'price': Decimal('10')}
>>> "&lt;b&gt;pro&lt;/b&gt;" in view.html() and "<b>pro" not in view.html()
True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol, TypeAlias

import attrs
from moneyed import Money

from .errors import InvalidInput
from .money import shown_amount
from .periods import zone as named_zone

__all__ = [
    "Cell",
    "Pairs",
    "Row",
    "Section",
    "View",
    "Viewable",
    "ZoneLike",
    "shown",
    "view_zone",
]

#: What a cell of a view holds: an amount is a ``Money`` (it knows its currency).
Cell: TypeAlias = str | int | Decimal | Money | datetime | date | None
#: A row as :meth:`View.rows` gives it: flat, an amount as its ``Decimal``.
Row: TypeAlias = dict[str, str | int | Decimal | datetime | date | None]
#: A time zone as a view takes it: an IANA name, a ``tzinfo``, or ``None`` for the
#: record's own (UTC where the record does not know one).
ZoneLike: TypeAlias = str | tzinfo | None


def view_zone(zone: ZoneLike, default: str | tzinfo = UTC) -> tzinfo:
    """The time zone a view shows its instants in: ``zone``, else ``default``."""
    return named_zone(default if zone is None else zone)


def shown(cell: Cell) -> str:
    """The text of a cell, by the module's rule.

    >>> from decimal import Decimal
    >>> from subscriptions.money import to_money
    >>> shown(to_money(Decimal("0"), "EUR")), shown(to_money(Decimal("1200"), "JPY"))
    ('0.00', '1200')
    >>> shown(datetime(2026, 1, 5, 9, tzinfo=UTC)), shown(Decimal("25.50")), shown(None)
    ('2026-01-05 09:00+00:00', '25.5', '')
    """
    if cell is None:
        return ""
    if isinstance(cell, Money):
        return shown_amount(cell.amount, str(cell.currency.code))
    if isinstance(cell, bool):
        return "yes" if cell else "no"
    if isinstance(cell, datetime):
        exact = cell.second or cell.microsecond
        return cell.isoformat(sep=" ", timespec="seconds" if exact else "minutes")
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, Decimal):
        # A rate or a quantity (an amount is a Money): no exponent, no trailing zeros,
        # and no decimal context (normalize() would round in the caller's).
        text = f"{cell:f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "0") else text
    if isinstance(cell, Enum):
        return str(cell.value)
    return str(cell)


def _plain(cell: Cell) -> str | int | Decimal | datetime | date | None:
    if isinstance(cell, Money):
        amount: Decimal = cell.amount
        return amount
    if isinstance(cell, Enum):
        return str(cell.value)
    return cell


def _numeric(cell: Cell) -> bool:
    return isinstance(cell, Money | Decimal | int) and not isinstance(cell, bool)


def _cells_fit(instance: Section, attribute: attrs.Attribute[Any], value: Any) -> None:
    width = len(instance.columns)
    for row in instance.cells:
        if len(row) != width:
            raise InvalidInput(
                f"section {instance.title!r}: a row of {len(row)} cells under "
                f"{width} columns; give one cell per column"
            )


@attrs.frozen(kw_only=True, weakref_slot=False)
class Section:
    """A table of a view: ``cells`` in rows under ``columns``. The ``hidden`` columns
    are in :meth:`rows` but not in the text or HTML table (a currency the view's
    title already names, an id a person does not read)."""

    title: str
    columns: tuple[str, ...]
    cells: tuple[tuple[Cell, ...], ...] = attrs.field(default=(), validator=_cells_fit)
    hidden: frozenset[str] = frozenset()

    def rows(self) -> list[Row]:
        """One flat ``dict`` per row, every column named."""
        columns = self.columns
        return [
            {column: _plain(cell) for column, cell in zip(columns, row, strict=True)}
            for row in self.cells
        ]

    def _shown(self) -> tuple[list[str], list[list[str]], list[bool]]:
        """The shown columns' headers, text cells and right alignment (numbers)."""
        keep = [i for i, column in enumerate(self.columns) if column not in self.hidden]
        texts = [[shown(row[i]) for i in keep] for row in self.cells]
        right = [
            bool(self.cells)
            and all(_numeric(row[i]) or row[i] is None for row in self.cells)
            and any(_numeric(row[i]) for row in self.cells)
            for i in keep
        ]
        return [self.columns[i] for i in keep], texts, right


#: Labelled values: a view's facts and totals.
Pairs: TypeAlias = tuple[tuple[str, Cell], ...]


@attrs.frozen(kw_only=True, weakref_slot=False)
class View:
    """A record as a person sees it: a ``title``, ``facts`` (label and value pairs
    above the tables), ``sections`` (tables), ``totals`` (label and amount pairs,
    shown below the ``primary`` section, whose rows :meth:`rows` gives) and
    ``notes`` (a mention the document carries)."""

    title: str
    facts: Pairs = ()
    sections: tuple[Section, ...] = ()
    totals: Pairs = ()
    notes: tuple[str, ...] = ()
    primary: int = 0

    def rows(self) -> list[Row]:
        """The primary section's rows (``pandas.DataFrame(view.rows())``); none for a
        view without a table."""
        return self.sections[self.primary].rows() if self.sections else []

    def table(self) -> str:
        """The plain text view: the title, the facts, each table under its title (a
        header and a rule, numbers right-aligned), the totals and the notes."""
        blocks = [self.title + "\n"]
        if self.facts:
            blocks.append(_text_pairs(self.facts))
        for index, section in enumerate(self.sections):
            blocks.append(_text_section(section))
            if index == self.primary and self.totals:
                blocks.append(_text_pairs(self.totals, right=True))
        if not self.sections and self.totals:
            blocks.append(_text_pairs(self.totals, right=True))
        if self.notes:
            blocks.append("".join(note + "\n" for note in self.notes))
        return "\n".join(blocks)

    def html(self) -> str:
        """The HTML view (a fragment: one ``<div>``), every text escaped."""
        parts = [
            '<div class="subscriptions-view">',
            f"<p><strong>{_escape(self.title)}</strong></p>",
        ]
        if self.facts:
            parts.append(_html_pairs(self.facts, "subscriptions-facts"))
        for index, section in enumerate(self.sections):
            parts.append(_html_section(section))
            if index == self.primary and self.totals:
                parts.append(_html_pairs(self.totals, "subscriptions-totals", right=True))
        if not self.sections and self.totals:
            parts.append(_html_pairs(self.totals, "subscriptions-totals", right=True))
        parts.extend(f"<p>{_escape(note)}</p>" for note in self.notes)
        parts.append("</div>")
        return "\n".join(parts) + "\n"

    def _repr_html_(self) -> str:
        return self.html()

    def __str__(self) -> str:
        return self.table()


class Viewable(Protocol):
    """The views of a record that builds its :class:`View` (a protocol its records
    subclass for the views it gives them: it adds no state, and leaves the record's
    ``repr`` as it is)."""

    __slots__ = ()

    def view(self, *, zone: ZoneLike = None) -> View:
        """The record's view, its instants in ``zone`` (default: the record's own time
        zone where it knows one, else UTC)."""
        ...

    def table(self, *, zone: ZoneLike = None) -> str:
        """The plain text view (see :meth:`View.table`)."""
        return self.view(zone=zone).table()

    def rows(self, *, zone: ZoneLike = None) -> list[Row]:
        """The main table's rows, for ``pandas.DataFrame(record.rows())``."""
        return self.view(zone=zone).rows()

    def _repr_html_(self) -> str:
        return self.view().html()


# -- rendering ----------------------------------------------------------------------


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _text_rows(rows: Sequence[Sequence[str]], right: Sequence[bool], *, rule: bool) -> str:
    """``rows`` in aligned columns two spaces apart; with ``rule``, the first row is a
    header and a rule of dashes follows it."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(right))]
    lines = [
        "  ".join(
            cell.rjust(width) if align else cell.ljust(width)
            for cell, width, align in zip(row, widths, right, strict=True)
        ).rstrip()
        for row in rows
    ]
    if rule:
        lines.insert(1, "  ".join("-" * width for width in widths))
    return "".join(line + "\n" for line in lines)


def _text_section(section: Section) -> str:
    headers, texts, right = section._shown()
    if not texts:
        return f"{section.title}\n(none)\n"
    return section.title + "\n" + _text_rows([headers, *texts], right, rule=True)


def _text_pairs(pairs: Pairs, *, right: bool = False) -> str:
    rows = [[label, shown(value)] for label, value in pairs]
    return _text_rows(rows, [False, right], rule=False)


def _td(text: str, right: bool, tag: str = "td") -> str:
    style = ' style="text-align: right"' if right else ' style="text-align: left"'
    return f"<{tag}{style}>{_escape(text)}</{tag}>"


_CAPTION = "text-align: left; font-weight: bold"


def _html_section(section: Section) -> str:
    headers, texts, right = section._shown()
    head = "".join(_td(h, r, "th") for h, r in zip(headers, right, strict=True))
    if texts:
        body = "\n".join(
            "<tr>" + "".join(_td(c, r) for c, r in zip(row, right, strict=True)) + "</tr>"
            for row in texts
        )
    else:
        body = f'<tr><td colspan="{max(len(headers), 1)}">(none)</td></tr>'
    caption = f'<caption style="{_CAPTION}">{_escape(section.title)}</caption>'
    return (
        f'<table class="subscriptions-table">\n{caption}\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    )


def _html_pairs(pairs: Pairs, css: str, *, right: bool = False) -> str:
    body = "\n".join(
        f"<tr>{_td(label, False, 'th')}{_td(shown(value), right)}</tr>" for label, value in pairs
    )
    return f'<table class="{css}">\n<tbody>\n{body}\n</tbody>\n</table>'
