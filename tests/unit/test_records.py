"""A record's next version."""

from __future__ import annotations

import gc
import inspect

import attrs
import pytest

from subscriptions._records import (
    _twin,
    filling,
    moved,
    quick_init,
    revised,
    slot_setter,
    version_after,
)
from subscriptions.cart import Cart
from subscriptions.errors import InvalidInput


def test_revised_is_the_next_version_with_the_changes() -> None:
    cart = Cart(account_id="acct", version=3)
    moved = revised(cart, items=())
    assert (moved.version, moved.account_id, moved.items) == (4, "acct", ())
    assert cart.version == 3  # the record itself is frozen
    assert revised(moved) == attrs.evolve(moved, version=5)


def test_revised_runs_the_validators_and_refuses_unknown_fields() -> None:
    from tests.contract import records as r

    account = r.italian_account()
    assert revised(account, name="Rossi SpA").version == account.version + 1
    with pytest.raises(InvalidInput, match="unknown time zone"):
        revised(account, timezone="Mars/Olympus")
    with pytest.raises(InvalidInput, match=r"account name .* must be a non-empty text"):
        revised(account, name="  ")
    # Converters run too.
    assert revised(account, billing_contacts=["anna", "anna"]).billing_contacts == {"anna"}
    with pytest.raises(TypeError, match="colour"):
        revised(account, colour="red")
    with pytest.raises(TypeError):
        revised(account, version=9)  # the version is the rule's, not the caller's


def test_moved_copies_without_checking_and_leaves_the_record_alone() -> None:
    cart = Cart(account_id="acct", version=3)
    copy = moved(cart, items=())
    assert (copy.version, copy.account_id, copy.items) == (4, "acct", ())
    assert copy == attrs.evolve(cart, version=4, items=())
    assert copy is not cart
    assert cart.version == 3


def test_a_slot_setter_sets_a_slot_or_falls_back_to_setattr() -> None:
    @attrs.frozen
    class Slotted:
        a: int
        version: int = 0

    @attrs.frozen(slots=False)
    class Plain:
        a: int
        version: int = 0

    for cls in (Slotted, Plain):
        built = object.__new__(cls)
        slot_setter(cls, "a")(built, 7)
        slot_setter(cls, "version")(built, 2)
        assert built == cls(a=7, version=2)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            built.a = 8  # type: ignore[misc]
        # The copier is built on it, for either kind of class.
        assert moved(built, a=9) == cls(a=9, version=3)


def test_a_quick_init_takes_the_same_arguments_and_stores_the_same_values() -> None:
    @attrs.frozen
    class Plain:
        a: int
        b: str = "b"
        c: list[int] = attrs.Factory(list)
        _d: int = 4
        e: int = attrs.field(default=5, kw_only=True)

    original = inspect.signature(Plain)
    attrs_built = [Plain(1), Plain(1, "x", [2], 3, e=6)]
    quick = quick_init(Plain)
    assert quick is Plain
    assert inspect.signature(Plain) == original
    assert [Plain(1), Plain(1, "x", [2], 3, e=6)] == attrs_built
    assert Plain(1).c is not Plain(1).c  # a factory per instance
    assert Plain(d=9, a=1)._d == 9
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Plain(1).a = 2  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'a'"):
        Plain()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'f'"):
        Plain(1, f=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Plain(1, "x", [2], 3, 6)  # type: ignore[misc]

    @attrs.frozen(kw_only=True)
    class Empty:
        pass

    assert quick_init(Empty)() == Empty()


def test_a_quick_init_is_refused_where_attrs_would_convert_or_compute_something() -> None:
    @attrs.frozen
    class Converted:
        a: int = attrs.field(converter=int)

    @attrs.frozen
    class Computed:
        a: int
        b: int = attrs.field(init=False, default=0)

    @attrs.frozen
    class Prepared:
        a: int

        def __attrs_pre_init__(self) -> None:
            pass

    @attrs.frozen(cache_hash=True)
    class Hashed:
        a: int

    @attrs.frozen(slots=False)
    class Unslotted:
        a: int

    for cls in (Converted, Computed, Prepared, Hashed, Unslotted):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)


@pytest.mark.parametrize("weakref_slot", [False, True], ids=["twin", "setters"])
def test_a_quick_init_checks_as_attrs_checks(weakref_slot: bool) -> None:
    seen: list[str] = []

    def positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        seen.append(f"{attribute.name}={value}")
        if value <= 0:
            raise ValueError(f"{attribute.name} must be positive, not {value}")

    @quick_init
    @attrs.frozen(weakref_slot=weakref_slot)
    class Checked:
        a: int = attrs.field(validator=positive)
        b: int = 1
        c: int = attrs.field(default=2, validator=positive)

        def __attrs_post_init__(self) -> None:
            seen.append("post")
            if self.a == self.c:
                raise ValueError("a and c differ")

    assert Checked(3) == Checked(3, 1, 2)
    assert seen[:3] == ["a=3", "c=2", "post"]  # in the order of the fields, then post
    with pytest.raises(ValueError, match="a must be positive, not 0"):
        Checked(0)
    with pytest.raises(ValueError, match="c must be positive"):
        Checked(1, c=-1)
    with pytest.raises(ValueError, match="a and c differ"):
        Checked(2)
    seen.clear()
    attrs.validators.set_disabled(True)
    try:
        assert Checked(0).a == 0  # as attrs' own: the validators are off, not the post-init
    finally:
        attrs.validators.set_disabled(False)
    assert seen == ["post"]


def test_the_records_built_quickly_are_built_as_attrs_builds_them() -> None:
    from datetime import UTC, datetime

    from subscriptions.subscription import Event, EventKind

    at = datetime(2026, 6, 1, tzinfo=UTC)
    event = Event(kind=EventKind.SEATS_ASSIGNED, at=at, user_ids=("u1",))
    assert attrs.asdict(event, recurse=False) == {
        **{f.name: f.default for f in attrs.fields(Event)},
        "kind": EventKind.SEATS_ASSIGNED,
        "at": at,
        "user_ids": ("u1",),
    }
    assert attrs.evolve(event, note="n").note == "n"
    assert "kind" in inspect.signature(Event).parameters


def test_a_record_without_a_weakref_slot_is_built_through_its_twin() -> None:
    @attrs.frozen(weakref_slot=False)
    class Twinned:
        a: int
        b: list[int] = attrs.Factory(list)
        version: int = 0

    @attrs.frozen
    class Weak:  # a slot for weak references: CPython refuses the swap
        a: int

    assert _twin(Twinned) is not None
    assert _twin(Weak) is None
    reference = attrs.asdict(Twinned(1, [2], 3), recurse=False)
    quick_init(Twinned)
    built = Twinned(1, [2], 3)
    assert type(built) is Twinned
    assert attrs.asdict(built, recurse=False) == reference
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.a = 2  # type: ignore[misc]
    copy = moved(built, a=5, version=40)  # the version is the rule's
    assert type(copy) is Twinned
    assert (copy.a, copy.b, copy.version) == (5, [2], 4)
    assert (built.a, built.version) == (1, 3)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        copy.a = 6  # type: ignore[misc]

    class Sub(Twinned):
        __slots__ = ()

    # A subclass's instance keeps its own class (built by the slot setters).
    assert type(Sub(7)) is Sub
    assert Sub(7).a == 7


def test_a_factory_that_raises_leaves_no_record_behind() -> None:
    def broken() -> list[int]:
        raise RuntimeError("no list today")

    @quick_init
    @attrs.frozen(weakref_slot=False)
    class Failing:
        a: int
        b: list[int] = attrs.Factory(broken)

    twin = _twin(Failing)
    assert twin is not None
    with pytest.raises(RuntimeError, match="no list today"):
        Failing(1)
    gc.collect()
    assert [o for o in gc.get_objects() if type(o) in (Failing, twin)] == []
    assert Failing(1, [3]).b == [3]


def test_filling_names_the_values_it_uses() -> None:
    @attrs.frozen(weakref_slot=False)
    class Pair:
        a: int
        b: int

    names: dict[str, object] = {}

    def name(prefix: str, value: object) -> str:
        names[f"{prefix}{len(names)}"] = value
        return f"{prefix}{len(names) - 1}"

    lines = filling(Pair, "o", [("a", "x"), ("b", "x + 1")], name)
    source = "def make(x):\n" + "".join(f"    {line}\n" for line in lines) + "    return o\n"
    exec(source, names)
    made = names["make"](4)  # type: ignore[operator]
    assert type(made) is Pair
    assert made == Pair(4, 5)


def test_every_record_of_the_library_is_built_through_its_twin() -> None:
    # A record declared with a weak-reference slot would silently be built the slow
    # way (by its slot descriptors) everywhere: each is declared without one.
    import importlib
    import pkgutil

    import subscriptions

    records = []
    for module in pkgutil.walk_packages(subscriptions.__path__, "subscriptions."):
        if module.name.endswith("__main__"):
            continue
        namespace = vars(importlib.import_module(module.name))
        records += [
            value
            for value in namespace.values()
            if isinstance(value, type) and attrs.has(value) and value.__module__ == module.name
        ]
    assert len(records) > 50
    assert [cls.__qualname__ for cls in records if _twin(cls) is None] == []


def test_what_replaces_a_missing_record_is_version_0() -> None:
    assert version_after(None) == 0
    assert version_after(Cart(account_id="acct", version=7)) == 8


def test_a_credit_corrects_the_latest_charge_of_its_subscription_and_period() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from subscriptions.orders import corrected_numbers
    from subscriptions.periods import Frequency, Period
    from subscriptions.pricing import InvoiceLine, LineKind
    from tests.contract import records as r

    jan = Period.between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    late_jan = Period.between(datetime(2026, 1, 20, tzinfo=UTC), jan.end)

    def line(kind: LineKind, sub: str, period: Period) -> InvoiceLine:
        amount = Decimal("-5.00") if kind is LineKind.CREDIT else Decimal("10.00")
        return InvoiceLine(
            kind=kind,
            subscription_id=sub,
            product="app",
            plan="basic",
            frequency=Frequency.MONTHLY,
            seats=1,
            unit_price=Decimal("10.00"),
            period=period,
            listed=amount,
            amount=amount,
        )

    account = r.italian_account()
    _, base = r.subscribed(account)
    first, second, other = (
        r.issued_invoice(
            account,
            attrs.evolve(base, lines=(line(LineKind.CHARGE, sub, jan),)),
            invoice_id=f"inv-{n}",
            sequence=n,
        )
        for n, sub in ((1, "sub-a"), (2, "sub-a"), (3, "sub-b"))
    )
    credit = line(LineKind.CREDIT, "sub-a", late_jan)
    # The latest matching charge, once; another subscription's never.
    assert corrected_numbers([first, second, other], [credit]) == ("INV-000002",)
    assert corrected_numbers([first, second, other], [line(LineKind.CHARGE, "sub-a", jan)]) == ()
    assert corrected_numbers([other], [credit]) == ()
