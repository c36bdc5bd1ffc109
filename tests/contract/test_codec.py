"""The codec the SQL stores write their documents with: exact round trips."""

from __future__ import annotations

import enum
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from subscriptions.adapters import codec
from subscriptions.periods import Period
from subscriptions.ports import OutboxEntry
from subscriptions.pricing import TaxLine
from subscriptions.subscription import Event, EventKind
from subscriptions.vat import TaxTreatment

from . import records as r

ZONES = ["Europe/Rome", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]

decimals = st.decimals(allow_nan=False, allow_infinity=False)
zones = st.one_of(
    st.sampled_from([ZoneInfo(key) for key in ZONES]),
    st.just(UTC),
    st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    ),
)
instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones
)


def every_record() -> list[Any]:
    it, de = r.italian_account(), r.german_account()
    sub, invoice = r.subscribed(de)
    return [
        it,
        de,
        sub,
        invoice,
        r.trialing(it),
        r.past_due(it, "dunned"),
        r.cart(it),
        r.releasing_cart(it),
        r.quote(de),
        r.quote(it),
        r.releasing_quote(de),
        r.order(de),
        r.issued_invoice(de, invoice),
        r.seats("s-1"),
        r.outbox_entry(it, "m-1", r.START),
        r.written_outbox_entry(it, "m-2", r.START),
        *(OutboxEntry(id="m-3", created_at=r.START, notice=n) for n in r.notices(de)),
        *r.events(de),
    ]


@pytest.mark.parametrize("record", every_record(), ids=lambda record: type(record).__name__)
def test_every_stored_record_round_trips(record: Any) -> None:
    text = codec.dumps(record)
    assert codec.loads(type(record), text) == record
    assert codec.decode(type(record), codec.encode(record)) == record
    # The direct text encoder writes exactly what json writes for the dict form.
    assert text == json.dumps(codec.encode(record), separators=(",", ":"), ensure_ascii=False)
    assert json.loads(text) == codec.encode(record)


def _no_floats(value: Any) -> None:
    assert not isinstance(value, float)
    if isinstance(value, dict):
        for item in value.values():
            _no_floats(item)
    elif isinstance(value, list):
        for item in value:
            _no_floats(item)


@pytest.mark.parametrize("record", every_record(), ids=lambda record: type(record).__name__)
def test_amounts_are_strings_never_floats(record: Any) -> None:
    _no_floats(json.loads(codec.dumps(record)))


def test_a_subscription_document_reads_as_expected() -> None:
    sub, _ = r.subscribed(r.german_account())
    data = json.loads(codec.dumps(sub))
    line = data["open_charges"][0]
    assert line["amount"] == "150.00"
    assert line["tax"] == {
        "treatment": "reverse_charge",
        "rate": "0",
        "rate_country": "DE",
        "mention": line["tax"]["mention"],
    }
    assert data["period"]["start"] == "2026-11-11T11:17:41+00:00"
    assert data["status"] == "active"


@given(rate=decimals, base=decimals, amount=decimals)
def test_decimals_keep_their_digits_and_exponent(
    rate: Decimal, base: Decimal, amount: Decimal
) -> None:
    line = TaxLine(rate=rate, treatment=TaxTreatment.STANDARD, base=base, amount=amount)
    back = codec.loads(TaxLine, codec.dumps(line))
    assert back == line
    assert [v.as_tuple() for v in (back.rate, back.base, back.amount)] == [
        v.as_tuple() for v in (rate, base, amount)
    ]


@given(at=instants)
def test_instants_keep_their_instant_offset_and_zone(at: datetime) -> None:
    event = Event(kind=EventKind.TRIAL_STARTED, at=at, note="ü €\n\"'\\")
    back = codec.loads(Event, codec.dumps(event))
    assert back == event
    assert back.at.utcoffset() == at.utcoffset()
    assert back.at.astimezone(UTC) == at.astimezone(UTC)
    if isinstance(at.tzinfo, ZoneInfo):
        assert back.at.tzinfo is at.tzinfo
        assert back.at.replace(tzinfo=None) == at.replace(tzinfo=None)
        assert back.at.fold == at.fold or back.at.utcoffset() == at.utcoffset()


def test_an_instant_known_in_utc_keeps_its_own_zone_and_amounts_their_exponent() -> None:
    rome = ZoneInfo("Europe/Rome")
    at = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)
    utc_text = codec.dumps(Event(kind=EventKind.TRIAL_STARTED, at=at))
    # The same instant in Rome is equal to it (and hashes alike): its text is its own.
    local_text = codec.dumps(Event(kind=EventKind.TRIAL_STARTED, at=at.astimezone(rome)))
    assert '"2026-05-04T08:30:00+00:00"' in utc_text
    assert '"2026-05-04T10:30:00+02:00[Europe/Rome]"' in local_text
    assert codec.loads(Event, local_text).at.tzinfo is rome
    # Amounts read again are the values written, exponent and sign included, zero too.
    for text in ("10.00", "10.0", "-0.00", "0", "1E+2", "10.00"):
        line = codec.loads(
            TaxLine, f'{{"rate":"{text}","treatment":"standard","base":"0","amount":"0"}}'
        )
        assert line.rate.as_tuple() == Decimal(text).as_tuple()
    # A zero is read once too (a miss is not mistaken for a falsy amount).
    zeros = [
        codec.loads(
            TaxLine, f'{{"rate":"{rate}","treatment":"standard","base":"0.00","amount":"0"}}'
        )
        for rate in ("4", "5")
    ]
    assert zeros[0].base is zeros[1].base


def test_a_leaf_record_read_again_is_the_value_read_before_and_only_that() -> None:
    from subscriptions.periods import Period

    start = datetime(2026, 6, 1, 7, tzinfo=UTC)
    june = Period.between(start, start + timedelta(days=30))
    first, again = (codec.loads(Period, codec.dumps(june)) for _ in range(2))
    assert first == june
    assert first is again
    later = codec.loads(Period, codec.dumps(Period.between(start, start + timedelta(days=31))))
    assert later is not first
    assert later.end == start + timedelta(days=31)
    # Known by the texts, so an amount keeps the exponent it was written with.
    lines = [
        codec.loads(
            TaxLine,
            f'{{"rate":"{rate}","treatment":"standard","base":"1","amount":"0.22"}}',
        )
        for rate in ("22", "22.0", "22")
    ]
    assert lines[0] is lines[2]
    assert lines[1] is not lines[0]
    assert [line.rate.as_tuple().exponent for line in lines] == [0, -1, 0]
    # A record holding another record is built anew each time.
    event = Event(kind=EventKind.TRIAL_STARTED, at=start)
    assert codec.loads(Event, codec.dumps(event)) is not codec.loads(Event, codec.dumps(event))

    # Frozensets of names are shared too, field by field.
    account = r.italian_account()
    one, two = (codec.loads(type(account), codec.dumps(account)) for _ in range(2))
    assert one.billing_contacts == account.billing_contacts
    assert one.billing_contacts is two.billing_contacts

    @attrs.define
    class Mutable:
        name: str

    # A record that can change is never shared.
    assert codec.loads(Mutable, '{"name":"a"}') is not codec.loads(Mutable, '{"name":"a"}')


@attrs.frozen
class Dated:
    period: Period
    tags: tuple[str, ...] = ()


@attrs.frozen
class Loose:
    names: list[str]


@attrs.frozen
class Outer:
    loose: Loose
    dated: Dated


def test_a_value_nested_again_is_written_from_its_text_and_only_while_it_cannot_change() -> None:
    start = datetime(2026, 6, 1, 7, tzinfo=UTC)
    june = Period.between(start, start + timedelta(days=30))
    first = Event(kind=EventKind.TRIAL_STARTED, at=start, ends_at=start)
    immutable = codec._COMPILER.nested_text_encoder(Dated)
    assert immutable is not codec._COMPILER.text_encoder(Dated)
    # A frozen record holding a list can change through it: never remembered.
    assert codec._COMPILER.nested_text_encoder(Loose) is codec._COMPILER.text_encoder(Loose)
    names = ["a"]
    outer = Outer(loose=Loose(names=names), dated=Dated(period=june, tags=("x",)))
    text = codec.dumps(outer)
    assert text == json.dumps(codec.encode(outer), separators=(",", ":"))
    names.append("b")
    assert codec.dumps(outer) == json.dumps(codec.encode(outer), separators=(",", ":"))
    assert '"names":["a","b"]' in codec.dumps(outer)
    # Equal values are each written in full; a value's text is its own.
    for days in range(1, 40):
        period = Period.between(start, start + timedelta(days=days))
        dated = Dated(period=period)
        assert codec.dumps(dated) == json.dumps(codec.encode(dated), separators=(",", ":"))
    assert codec.dumps(first) == json.dumps(codec.encode(first), separators=(",", ":"))


def test_a_bounded_memory_of_texts_forgets_whole_and_stays_right() -> None:
    start = datetime(2026, 6, 1, 7, tzinfo=UTC)
    held = []
    for minutes in range(codec._NESTED_KEPT + 50):
        period = Period.between(start, start + timedelta(days=1, minutes=minutes))
        line = TaxLine(
            rate=Decimal(minutes),
            treatment=TaxTreatment.STANDARD,
            base=Decimal("1"),
            amount=Decimal("0.22"),
        )
        held.append((period, line))
    encode = codec._COMPILER.nested_text_encoder(Period)
    for period, _ in held:
        assert encode(period) == codec.dumps(period)
    # Again, after the memory was cleared once.
    assert all(encode(period) == codec.dumps(period) for period, _ in held[::97])


def test_the_texts_kept_are_let_go_when_a_unit_of_work_ends(tmp_path: Any) -> None:
    from subscriptions.adapters.sqlite import SQLiteStore

    start = datetime(2026, 6, 1, 7, tzinfo=UTC)
    codec.dumps(Dated(period=Period.between(start, start + timedelta(days=3))))
    assert any(codec._COMPILER.kept_texts)
    codec.forget_texts()
    assert not any(codec._COMPILER.kept_texts)
    with SQLiteStore(tmp_path / "book.sqlite3") as store, store.unit_of_work() as uow:
        uow.accounts.add(r.italian_account())
        uow.flush()
        assert any(codec._COMPILER.kept_texts)  # its address, while the work goes on
        uow.commit()
    assert not any(codec._COMPILER.kept_texts)


def test_a_wall_time_in_a_dst_gap_or_fold_reads_back_equal() -> None:
    rome = ZoneInfo("Europe/Rome")
    skipped = datetime(2026, 3, 29, 2, 30, tzinfo=rome)
    repeated = datetime(2026, 10, 25, 2, 30, tzinfo=rome, fold=1)
    for at in (skipped, repeated):
        back = codec.loads(Event, codec.dumps(Event(kind=EventKind.TRIAL_STARTED, at=at))).at
        assert back == at
        assert (back.fold, back.utcoffset()) == (at.fold, at.utcoffset())
    assert codec.dumps(Event(kind=EventKind.TRIAL_STARTED, at=repeated)).count(
        "+01:00[Europe/Rome]"
    )


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(codec.CodecError, match="naive"):
        codec.dumps(Event(kind=EventKind.TRIAL_STARTED, at=datetime(2026, 1, 1)))
    with pytest.raises(codec.CodecError, match="naive"):
        codec.encode(Event(kind=EventKind.TRIAL_STARTED, at=datetime(2026, 1, 1)))


# -- the generic rules, on classes of their own ----------------------------------------


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


@attrs.frozen(kw_only=True)
class Leaf:
    name: str
    when: date


@attrs.frozen(kw_only=True)
class Tree:
    leaves: tuple[Leaf, ...]
    tags: frozenset[str]
    colour: Colour
    level: Level
    price: Money
    counts: dict[str, int]
    names: list[str]
    best: Leaf | None = None
    flag: bool = False
    note: str = "none"
    extra: tuple[int, ...] = attrs.field(factory=tuple)


@attrs.define(kw_only=True)
class Cached:
    value: int
    derived: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.derived = self.value * 2


@attrs.frozen(kw_only=True)
class Holder:
    cached: Cached


def tree() -> Tree:
    leaf = Leaf(name='a "quoted"\nname', when=date(2028, 2, 29))
    return Tree(
        leaves=(leaf, Leaf(name="b", when=date(1999, 12, 31))),
        tags=frozenset({"z", "a", "m"}),
        colour=Colour.BLUE,
        level=Level.HIGH,
        price=Money("12.30", "EUR"),
        counts={"x": 1, "y": -2},
        names=["p", "q"],
        best=leaf,
        flag=True,
        extra=(1, 2, 3),
    )


def test_generic_classes_round_trip() -> None:
    value = tree()
    text = codec.dumps(value)
    assert codec.loads(Tree, text) == value
    assert text == json.dumps(codec.encode(value), separators=(",", ":"), ensure_ascii=False)
    data = json.loads(text)
    assert data["tags"] == ["a", "m", "z"]
    assert data["level"] == 2
    assert data["price"] == {"amount": "12.30", "currency": "EUR"}
    assert data["leaves"][1] == {"name": "b", "when": "1999-12-31"}


def test_missing_fields_take_their_defaults_and_unknown_ones_are_ignored() -> None:
    data = codec.encode(tree())
    for key in ("best", "flag", "note", "extra"):
        del data[key]
    data["removed_since"] = "ignored"
    back = codec.decode(Tree, data)
    assert (back.best, back.flag, back.note, back.extra) == (None, False, "none", ())


@attrs.frozen(kw_only=True)
class Sparse:
    name: str | None = None
    maybe: Leaf | None = None
    words: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    text: str = ""
    either: str | None = ""
    flag: bool = False
    count: int = 0


def test_fields_at_an_empty_default_are_left_out_and_read_back() -> None:
    empty = Sparse()
    # The first field is always written; the others only when they hold something.
    # A field whose default is "" but may be None keeps its None; False and 0 stay.
    assert json.loads(codec.dumps(empty)) == {
        "name": None,
        "either": "",
        "flag": False,
        "count": 0,
    }
    assert json.loads(codec.dumps(Sparse(either=None))).get("either", "absent") is None
    full = Sparse(
        name="n",
        maybe=Leaf(name="l", when=date(2026, 1, 2)),
        words=("a",),
        tags=frozenset({"t"}),
        text="x",
        either=None,
        flag=True,
        count=3,
    )
    for value in (empty, Sparse(either=None), Sparse(words=("b",)), full):
        text = codec.dumps(value)
        assert codec.loads(Sparse, text) == value
        assert text == json.dumps(codec.encode(value), separators=(",", ":"), ensure_ascii=False)
    assert list(codec.encode(full)) == [f.name for f in attrs.fields(Sparse)]


def test_a_missing_required_field_is_a_clear_error() -> None:
    data = codec.encode(tree())
    del data["colour"]
    with pytest.raises(codec.CodecError, match="no field 'colour'"):
        codec.decode(Tree, data)
    with pytest.raises(codec.CodecError, match="Tree"):
        codec.loads(Tree, "{not json")


def test_a_document_is_read_as_json_reads_it_and_anything_around_it_is_refused() -> None:
    text = codec.dumps(tree())
    assert codec.loads(Tree, f" \n{text}\t") == codec.loads(Tree, text) == tree()
    for bad, problem in (
        (text + "x", "Extra data"),
        (text + text, "Extra data"),
        ("", "Expecting value"),
        (text[:-1], "Expecting"),
    ):
        with pytest.raises(codec.CodecError, match=problem):
            codec.loads(Tree, bad)


def test_classes_with_computed_state_are_built_by_their_constructor() -> None:
    back = codec.loads(Holder, codec.dumps(Holder(cached=Cached(value=21))))
    assert back.cached.derived == 42


@attrs.frozen(kw_only=True)
class Branch:
    leaf: Leaf
    # A record holding a union it is part of compiles (each class when first met).
    below: Leaf | Branch | None = None


@attrs.frozen(kw_only=True)
class Choice:
    one: Leaf | Branch
    maybe: Leaf | Branch | None = None
    many: tuple[Leaf | Branch, ...] = ()


def test_a_union_of_records_is_stored_under_the_name_of_each_ones_type() -> None:
    leaf = Leaf(name="l", when=date(2026, 1, 2))
    value = Choice(
        one=Branch(leaf=leaf, below=Branch(leaf=leaf, below=leaf)),
        maybe=leaf,
        many=(leaf, Branch(leaf=leaf)),
    )
    text = codec.dumps(value)
    assert text == json.dumps(codec.encode(value), separators=(",", ":"), ensure_ascii=False)
    assert codec.loads(Choice, text) == value
    assert codec.decode(Choice, codec.encode(value)) == value
    data = json.loads(text)
    assert data["maybe"] == {"Leaf": {"name": "l", "when": "2026-01-02"}}
    assert list(data["one"]) == ["Branch"]
    assert list(data["one"]["Branch"]["below"]["Branch"]["below"]) == ["Leaf"]
    assert [list(item) for item in data["many"]] == [["Leaf"], ["Branch"]]
    sparse = Choice(one=leaf)
    assert json.loads(codec.dumps(sparse)) == {"one": data["maybe"]}
    assert codec.loads(Choice, codec.dumps(sparse)) == sparse


def test_a_stored_union_names_one_of_its_types() -> None:
    leaf = {"name": "l", "when": "2026-01-02"}
    with pytest.raises(codec.CodecError, match="'Twig' is not one of Branch, Leaf"):
        codec.decode(Choice, {"one": {"Twig": leaf}})
    with pytest.raises(codec.CodecError, match="an object of one key naming its type"):
        codec.decode(Choice, {"one": leaf})
    with pytest.raises(codec.CodecError, match="cannot store a Tree where one of Branch, Leaf"):
        codec.dumps(Choice(one=tree()))  # type: ignore[arg-type]


@attrs.frozen
class OtherLeaf:
    x: int


OtherLeaf.__name__ = "Leaf"  # as another module's Leaf would be


@attrs.frozen
class Twins:
    either: Leaf | OtherLeaf


def test_unsupported_field_types_are_refused_when_compiled() -> None:
    @attrs.frozen
    class Floaty:
        ratio: float

    with pytest.raises(codec.CodecError, match="float"):
        codec.dumps(Floaty(ratio=0.5))
    with pytest.raises(codec.CodecError, match="not an attrs value"):
        codec.dumps({"a": 1})

    @attrs.frozen
    class Mixed:
        either: Leaf | int

    with pytest.raises(codec.CodecError, match=r"only X \| None and unions of attrs records"):
        codec.dumps(Mixed(either=1))
    with pytest.raises(codec.CodecError, match="two records share a name"):
        codec.dumps(Twins(either=OtherLeaf(x=1)))


def test_compiled_once() -> None:
    assert codec.encoder(Tree) is codec.encoder(Tree)
    assert codec.decoder(Tree) is codec.decoder(Tree)


def test_a_cart_and_a_quote_stored_before_items_named_users_to_release() -> None:
    """Documents written before ``release`` existed read back releasing no one; an
    item that releases no one is written as they were, without the key."""
    from subscriptions.cart import Cart
    from subscriptions.orders import Quote

    old_cart = (
        '{"account_id":"acc-it","items":[{"product":"remote-support","plan":"premium",'
        '"seats":4,"frequency":"annual"}],"version":1}'
    )
    cart = codec.loads(Cart, old_cart)
    assert cart.items[0].release == ()
    assert codec.dumps(cart) == old_cart
    quote = r.quote(r.german_account())
    document = codec.encode(quote)
    assert "release" not in document["cart"][0]
    assert "release" not in document["items"][0]
    assert codec.decode(Quote, document) == quote
    releasing = codec.encode(r.releasing_quote(r.german_account()))
    assert releasing["cart"][0]["release"] == releasing["items"][0]["release"] == ["ada", "grace"]
