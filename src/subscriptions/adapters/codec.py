"""Exact JSON encoding of the stored records, and back.

The storage adapters keep every record as a JSON document. The encoding is exact, so
decoding gives a value equal to the one encoded:

* ``Decimal`` amounts are strings (``"249.90"``, exponent and trailing zeros kept),
  never floats;
* aware datetimes are ISO 8601 with their offset; a datetime in an IANA zone also
  keeps the zone's name (``"2026-11-01T09:00:00+01:00[Europe/Rome]"``, as in RFC 9557),
  so it decodes to the same wall time in the same zone, and any other one decodes to
  the same instant;
* enums by value, tuples and frozensets as lists (frozensets of strings sorted),
  ``Money`` as ``{"amount": "...", "currency": "EUR"}``, nested ``attrs`` classes as
  objects keyed by their field names;
* a field that holds its default, when that default is ``None`` or empty (``()``,
  ``""``, an empty frozenset), is left out (the first field of a class excepted):
  most optional fields of a stored record are empty, and decoding gives a missing
  field its default, so the document reads back the same and is smaller (an event:
  300 bytes with its nulls, about 100 without; what a renewal writes: a quarter less);
* a field that holds one of several record types (``Confirmation | PaymentFailure``)
  as an object of one key, the name of the value's class, over the value
  (``{"PaymentFailure": {...}}``): the stored name is the format, so renaming such a
  class takes a migration.

The codec is driven by the ``attrs`` fields and type hints of each class. It sits on
the hot path of a bill run (every renewal reads and writes a few records), so each
class is compiled once, from generated source, into plain functions that encode a
value as a dict (:func:`encode`), as JSON text directly (:func:`dumps`: the same text
``json.dumps`` writes for the dict, without building it) and decode it; no
reflection happens per call. Decoding trusts the document: it was encoded from a
valid value, so slotted classes are rebuilt by setting their fields, without running
the validators again (a class with computed or cached state goes through its
constructor). A field added later with a default decodes old documents that lack
it; keys the class no longer has are ignored.

>>> from decimal import Decimal
>>> from subscriptions.pricing import TaxLine
>>> from subscriptions.vat import TaxTreatment
>>> line = TaxLine(rate=Decimal("22"), treatment=TaxTreatment.STANDARD,
...                base=Decimal("100.00"), amount=Decimal("22.00"))
>>> dumps(line)
'{"rate":"22","treatment":"standard","base":"100.00","amount":"22.00"}'
>>> loads(TaxLine, dumps(line)) == line
True
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import json.scanner
import operator
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import attrs
from moneyed import Money

from .._records import filling
from ..errors import CodecError
from ..money import money_currency

__all__ = ["decode", "dumps", "encode", "forget_texts", "loads"]

T = TypeVar("T")

_Encoder = Callable[[Any], Any]
_Decoder = Callable[[Any], Any]


# -- scalar helpers --------------------------------------------------------------------

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_json_encode = _JSON.encode
_DECODER = json.JSONDecoder()
_json_full_decode = _DECODER.decode
# (typeshed types make_scanner's argument as a make_scanner; it takes the decoder.)
_scan_once: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    _DECODER  # type: ignore[arg-type]
)


def _json_decode(text: str) -> Any:
    """The value of the JSON ``text``, as ``json.loads`` gives it. A stored document
    is one value with nothing around it, scanned directly (``JSONDecoder.decode``
    skips whitespace on both sides first, with two regular-expression matches run
    from Python); any other text goes through the whole decoder, which reads
    whitespace around the value and says what is wrong with anything else."""
    try:
        value, end = _scan_once(text, 0)
    except (StopIteration, ValueError):
        end = -1
    if end != len(text):
        return _json_full_decode(text)
    return value


def _encode_datetime(value: datetime) -> str:
    tz = value.tzinfo
    if tz is UTC:
        # Most stored instants are UTC (the core keeps them so) and repeat (a period's
        # ends appear in its lines too): keep their text.
        text = _UTC_TEXT.get(value)
        if text is None:
            if len(_UTC_TEXT) >= _CACHE_SIZE:
                _UTC_TEXT.clear()
            text = _UTC_TEXT[value] = value.isoformat()
        return text
    if tz is None or value.utcoffset() is None:
        raise CodecError(
            f"cannot store the naive datetime {value!r}; every stored instant is aware"
        )
    text = value.isoformat()
    if type(tz) is ZoneInfo and tz.key:
        return f"{text}[{tz.key}]"
    return text


#: Text of UTC instants, and instants of texts, both bounded.
_CACHE_SIZE = 50_000
_UTC_TEXT: dict[datetime, str] = {}
_INSTANTS: dict[str, datetime] = {}


#: How many nested immutable values each class's shared text encoder keeps the text
#: of at most (a batch of renewals' lines, written in its subscriptions and again in
#: its invoices).
_NESTED_KEPT = 4_096


#: Decimals of texts (prices and rates repeat in every document), bounded.
_DECIMALS: dict[str, Decimal] = {}


def _decode_decimal(text: str) -> Decimal:
    """The ``Decimal`` of a stored amount's text, kept for the next document
    (decimals are immutable values, shared safely)."""
    value = Decimal(text)
    if len(_DECIMALS) >= _CACHE_SIZE:
        _DECIMALS.clear()
    _DECIMALS[text] = value
    return value


#: Leaf records kept per class: few enough that the flat memory of a forecast
#: stays flat (a value held costs a record and its key).
_LEAF_CACHE_SIZE = 4096


def _keep(known: dict[Any, Any], key: Any, value: Any) -> None:
    """Remember a leaf record decoded from ``key`` (its field values), bounded."""
    if len(known) >= _LEAF_CACHE_SIZE:
        known.clear()
    known[key] = value


def _frozenset(items: list[Any], known: dict[tuple[Any, ...], frozenset[Any]]) -> frozenset[Any]:
    """The frozenset of a stored list of strings or numbers, the one read before from
    the same list if any (``known`` is its field's own, so ``1`` and ``true`` never
    meet)."""
    key = tuple(items)
    value = known.get(key)
    if value is None:
        value = frozenset(key)
        _keep(known, key, value)
    return value


_ZONES: dict[str, ZoneInfo] = {}


def _decode_datetime(text: str) -> datetime:
    value = _INSTANTS.get(text)
    if value is not None:
        return value
    if text[-1] == "]":
        cut = text.index("[")
        key = text[cut + 1 : -1]
        tz = _ZONES.get(key)
        if tz is None:
            tz = _ZONES[key] = ZoneInfo(key)
        # The same wall time and fold in the same zone, not just the same instant (so
        # that it compares equal even to a wall time the zone skips).
        local = datetime.fromisoformat(text[:cut])
        offset = local.utcoffset()
        value = local.replace(tzinfo=tz)
        if value.utcoffset() != offset:
            value = value.replace(fold=1)
            if value.utcoffset() != offset:
                # The zone's rules changed since it was written: keep the instant.
                value = local.astimezone(tz)
    else:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise CodecError(f"stored instant {text!r} has no offset")
    if len(_INSTANTS) >= _CACHE_SIZE:
        _INSTANTS.clear()
    _INSTANTS[text] = value
    return value


def _encode_money(value: Money) -> dict[str, str]:
    return {"amount": str(value.amount), "currency": value.currency.code}


def _decode_money(data: Mapping[str, str]) -> Money:
    return Money(Decimal(data["amount"]), money_currency(data["currency"]))


# -- compilation -------------------------------------------------------------------------

_IDENTITY = (str, int, bool, type(None))
_FACTORY: Any = type(attrs.Factory(list))


def _optional(tp: Any, args: tuple[Any, ...]) -> Any:
    """X of ``X | None`` (X itself may be a union of records)."""
    rest = [a for a in args if a is not type(None)]
    if len(rest) == len(args):
        raise CodecError(f"{tp!r} is not an optional type")
    return rest[0] if len(rest) == 1 else functools.reduce(operator.or_, rest)


def _records(tp: Any, args: tuple[Any, ...]) -> tuple[type, ...]:
    """The record types of a union of them (``A | B``), each stored under its class
    name, so that the names must differ; any other union is not stored."""
    if not all(isinstance(a, type) and attrs.has(a) for a in args):
        raise CodecError(
            f"cannot store a field of type {tp!r}: only X | None and unions of attrs records"
        )
    names = [a.__name__ for a in args]
    if len(set(names)) != len(names):
        raise CodecError(f"cannot store a field of type {tp!r}: two records share a name")
    return args


@attrs.frozen(weakref_slot=False)
class _Scalar:
    """How a scalar type is stored: templates over the value's expression (``{}``,
    or ``{0}`` where it appears more than once: a name or an attribute, cheap to
    read again) that encode it to its dict form and decode it back; ``quoted`` when
    the dict form is a JSON string that needs no escaping (so the text encoder
    writes it between quotes)."""

    encode: str
    decode: str
    quoted: bool


_SCALARS: dict[type, _Scalar] = {
    # (A miss is None, tested as such: a zero amount is falsy.)
    Decimal: _Scalar(
        encode="str({0})",
        decode="(_known if (_known := _decimals({0})) is not None else _dec({0}))",
        quoted=True,
    ),
    # A UTC instant's text is looked up in place (a document holds several).
    datetime: _Scalar(
        encode="(({0}.tzinfo is _UTC and _utc_text({0})) or _enc_dt({0}))",
        decode="_dec_dt({0})",
        quoted=True,
    ),
    date: _Scalar(encode="{}.isoformat()", decode="_date({})", quoted=True),
    Money: _Scalar(encode="_enc_money({})", decode="_dec_money({})", quoted=False),
}

#: The JSON text of the identity types: (literal, template over the expression).
_IDENTITY_TEXT: dict[Any, tuple[bool, str]] = {
    str: (False, "_esc({})"),
    bool: (False, "('true' if {} else 'false')"),
    int: (False, "int.__repr__({})"),
    type(None): (True, "null"),
}


class _Kind(enum.Enum):
    """How a field's type is stored. The generated encoders and decoders classify each
    type once (:func:`_kind`), then apply their rule for its kind."""

    IDENTITY = "identity"  # str, int, bool, None: in JSON as they are
    OPTIONAL = "optional"  # X | None
    SCALAR = "scalar"  # a type of _SCALARS
    ENUM = "enum"  # by value
    ATTRS = "attrs"  # a nested record: an object keyed by its field names
    RECORDS = "records"  # one of several records: {"ClassName": its object}
    SEQUENCE = "sequence"  # list[X] or tuple[X, ...]: a list
    SET = "set"  # set[X] or frozenset[X]: a list
    DICT = "dict"  # dict[K, V]: an object


def _kind(tp: Any) -> tuple[_Kind | None, Any, tuple[Any, ...]]:
    """The kind of ``tp`` (None for a type that is not stored), its origin and the
    types it holds (X of ``X | None``, the element of a collection, the key and value
    types of a dict)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in _IDENTITY:
        return _Kind.IDENTITY, origin, args
    if origin in (types.UnionType, typing.Union):
        if type(None) in args:
            return _Kind.OPTIONAL, origin, (_optional(tp, args),)
        return _Kind.RECORDS, origin, _records(tp, args)
    if isinstance(tp, type):
        if tp in _SCALARS:
            return _Kind.SCALAR, origin, args
        if issubclass(tp, enum.Enum):
            return _Kind.ENUM, origin, args
        if attrs.has(tp):
            return _Kind.ATTRS, origin, args
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is ...):
        return _Kind.SEQUENCE, origin, args[:1]
    if origin in (frozenset, set):
        return _Kind.SET, origin, args
    if origin is dict:
        return _Kind.DICT, origin, args
    return None, origin, args


def _omitted_when(field: attrs.Attribute[Any], tp: Any, expr: str) -> str | None:
    """The condition under which a field is left out of its document: when it holds
    its default and that default is ``None`` or empty (most optional fields of a
    stored record are, and decoding gives a missing field its default); None for a
    field always written."""
    default = field.default
    if default is None:
        return f"{expr} is None"
    optional = typing.get_origin(tp) in (types.UnionType, typing.Union)
    if type(default) in (tuple, str, frozenset) and not default and not optional:
        return f"not {expr}"
    return None


#: A piece of generated JSON text: (True, literal text) or (False, an expression).
_Part = tuple[bool, str]


def _render(parts: list[_Part]) -> str:
    """One expression that concatenates ``parts`` (adjacent literals merged)."""
    merged: list[_Part] = []
    for literal, text in parts:
        if literal and merged and merged[-1][0]:
            merged[-1] = (True, merged[-1][1] + text)
        else:
            merged.append((literal, text))
    pieces = [repr(text) if literal else text for literal, text in merged]
    if len(pieces) == 1:
        return pieces[0]
    if len(pieces) <= 4:
        return "(" + " + ".join(pieces) + ")"
    return '"".join((' + ", ".join(pieces) + "))"


class _Compiler:
    """Generates, once per attrs class, the functions that encode a value as a dict,
    encode it as JSON text directly (what the stores write: no intermediate dicts),
    and decode it."""

    def __init__(self) -> None:
        self.encoders: dict[type, _Encoder] = {}
        self.text_encoders: dict[type, Callable[[Any], str]] = {}
        self.nested_text_encoders: dict[type, Callable[[Any], str]] = {}
        #: The texts each shared nested encoder keeps (:func:`forget_texts`).
        self.kept_texts: list[dict[int, tuple[Any, str]]] = []
        self.decoders: dict[type, _Decoder] = {}
        self._names = itertools.count()
        self._namespace: dict[str, Any] = {
            "Decimal": Decimal,
            "_dec": _decode_decimal,
            "_decimals": _DECIMALS.get,
            "_UTC": UTC,
            "_utc_text": _UTC_TEXT.get,
            "_enc_dt": _encode_datetime,
            "_keep": _keep,
            "_frozenset": _frozenset,
            "_dec_dt": _decode_datetime,
            "_enc_money": _encode_money,
            "_dec_money": _decode_money,
            "_date": date.fromisoformat,
            "_MISSING": attrs.NOTHING,
            "_esc": encode_basestring,
            "_json": _json_encode,
        }

    def _name(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{next(self._names)}"
        self._namespace[name] = value
        return name

    def _var(self) -> str:
        return f"v{next(self._names)}"

    def convert(self, tp: Any, expr: str, *, decode: bool) -> str | None:
        """The expression that encodes ``expr``, of type ``tp``, to its dict form or
        (``decode``) decodes it from that form; None when the value passes through
        unchanged. ``expr`` is a plain name or attribute access, cheap to evaluate
        twice."""
        kind, origin, args = _kind(tp)
        match kind:
            case _Kind.IDENTITY:
                return None
            case _Kind.OPTIONAL:
                inner = self.convert(args[0], expr, decode=decode)
                return None if inner is None else f"(None if {expr} is None else {inner})"
            case _Kind.SCALAR:
                rule = _SCALARS[tp]
                return (rule.decode if decode else rule.encode).format(expr)
            case _Kind.ENUM if decode:
                members = {member.value: member for member in tp}
                return f"{self._name('members_', members)}[{expr}]"
            case _Kind.ENUM:
                # ``_value_`` is a plain attribute; ``.value`` goes through a descriptor.
                return f"{expr}._value_"
            case _Kind.ATTRS if decode:
                return f"{self._name('dec_', self.decoder(tp))}({expr})"
            case _Kind.ATTRS:
                return f"{self._name('enc_', self.encoder(tp))}({expr})"
            case _Kind.RECORDS if decode:
                return f"{self._name('dec_', self.records_decoder(args))}({expr})"
            case _Kind.RECORDS:
                return f"{self._name('enc_', self.records_encoder(args, text=False))}({expr})"
            case _Kind.SEQUENCE | _Kind.SET:
                var = self._var()
                inner = self.convert(args[0], var, decode=decode)
                if decode:
                    # The same collection type: list, tuple, set or frozenset.
                    collection = origin.__name__
                    if origin is frozenset and args[0] in _IDENTITY:
                        # Frozensets of names repeat (every account's contacts):
                        # shared, like leaf records.
                        return f"_frozenset({expr}, {self._name('known_', {})})"
                    if inner is None:
                        return f"{collection}({expr})"
                    return f"{collection}([{inner} for {var} in {expr}])"
                if inner is None:
                    return f"sorted({expr})" if kind is _Kind.SET else f"list({expr})"
                return f"[{inner} for {var} in {expr}]"
            case _Kind.DICT if decode or args[0] is str:
                var = self._var()
                inner = self.convert(args[1], var, decode=decode)
                if inner is None:
                    return f"dict({expr})"
                return f"{{k: {inner} for k, {var} in {expr}.items()}}"
        raise CodecError(f"cannot {'load' if decode else 'store'} a field of type {tp!r}")

    def text_parts(self, tp: Any, expr: str) -> list[_Part]:
        """The JSON text of a value of type ``tp``, as parts (see :func:`_render`);
        the same text ``json`` writes for the dict form."""
        kind, _, args = _kind(tp)
        match kind:
            case _Kind.IDENTITY:
                literal, template = _IDENTITY_TEXT[tp]
                return [(literal, template.format(expr))]
            case _Kind.OPTIONAL:
                inner = _render(self.text_parts(args[0], expr))
                return [(False, f"('null' if {expr} is None else {inner})")]
            case _Kind.SCALAR:
                rule = _SCALARS[tp]
                if rule.quoted:
                    return [(True, '"'), (False, rule.encode.format(expr)), (True, '"')]
                return [(False, f"_json({rule.encode.format(expr)})")]
            case _Kind.ENUM:
                texts = {member._value_: _json_encode(member._value_) for member in tp}
                return [(False, f"{self._name('texts_', texts)}[{expr}._value_]")]
            case _Kind.ATTRS:
                return [(False, f"{self._name('text_', self.nested_text_encoder(tp))}({expr})")]
            case _Kind.RECORDS:
                function = self._name("text_", self.records_encoder(args, text=True))
                return [(False, f"{function}({expr})")]
            case _Kind.SEQUENCE | _Kind.SET:
                element = args[0]
                items = f"sorted({expr})" if kind is _Kind.SET and element in _IDENTITY else expr
                if element is str:
                    joined = f"','.join(map(_esc, {items}))"
                elif isinstance(element, type) and attrs.has(element):
                    function = self._name("text_", self.nested_text_encoder(element))
                    joined = f"','.join(map({function}, {items}))"
                else:
                    var = self._var()
                    inner = _render(self.text_parts(element, var))
                    joined = f"','.join([{inner} for {var} in {items}])"
                return [(True, "["), (False, joined), (True, "]")]
        dict_form = self.convert(tp, expr, decode=False) or expr
        return [(False, f"_json({dict_form})")]

    def text_encoder(self, cls: type) -> Callable[[Any], str]:
        known = self.text_encoders.get(cls)
        if known is not None:
            return known
        self.text_encoders[cls] = lambda value: self.text_encoders[cls](value)
        parts: list[_Part] = [(True, "{")]
        for index, (field, tp) in enumerate(self._fields(cls)):
            key = encode_basestring(field.alias or field.name)
            access = f"o.{field.name}"
            omitted = _omitted_when(field, tp, access) if index else None
            if omitted is None:
                parts.append((True, f"{',' if index else ''}{key}:"))
                parts.extend(self.text_parts(tp, access))
            else:
                # Left out at its default; the leading comma goes with the key.
                value_type = _optional(tp, typing.get_args(tp)) if field.default is None else tp
                present = _render([(True, f",{key}:"), *self.text_parts(value_type, access)])
                parts.append((False, f"('' if {omitted} else {present})"))
        parts.append((True, "}"))
        source = f"def encode_text(o):\n    return {_render(parts)}\n"
        function: Callable[[Any], str] = self._compile(source, "encode_text", cls)
        self.text_encoders[cls] = function
        return function

    def nested_text_encoder(self, cls: type) -> Callable[[Any], str]:
        """The text encoder of ``cls`` where a value of it is nested in another record.

        For a deeply immutable class (:meth:`_immutable`) the texts of the values it
        encoded last are kept by identity: one renewal writes its period in the
        subscription, the invoice line and again in the line the subscription keeps
        open, and every invoice the seller's party and the tax decision its context
        shares, so each is encoded once. Each text is kept with its value, which
        keeps the value alive and its ``id`` its own, until :func:`forget_texts`
        (a unit of work of the SQL stores ends) or until it holds
        :data:`_NESTED_KEPT` values; then it is cleared whole.
        """
        known = self.nested_text_encoders.get(cls)
        if known is not None:
            return known
        encode = self.text_encoder(cls)
        if not self._immutable(cls, set()):
            self.nested_text_encoders[cls] = encode
            return encode
        kept: dict[int, tuple[Any, str]] = {}
        self.kept_texts.append(kept)
        recall = kept.get

        def encode_shared(value: Any) -> str:
            key = id(value)
            hit = recall(key)
            if hit is not None and hit[0] is value:
                return hit[1]
            text = encode(value)
            if len(kept) >= _NESTED_KEPT:
                kept.clear()
            kept[key] = (value, text)
            return text

        self.nested_text_encoders[cls] = encode_shared
        return encode_shared

    def _immutable(self, cls: type, seen: set[type]) -> bool:
        """Whether no value of ``cls`` can change after it is made: it is frozen and
        each field holds a string, number, boolean, enum, decimal or date, or a
        tuple, frozenset or record (itself immutable) of such."""
        if cls in seen:
            return False  # a record nested in itself: not worth the proof
        seen.add(cls)
        if not self._frozen(cls):
            return False
        return all(self._immutable_type(tp, seen) for _, tp in self._fields(cls))

    def _immutable_type(self, tp: Any, seen: set[type]) -> bool:
        kind, origin, args = _kind(tp)
        match kind:
            case _Kind.IDENTITY | _Kind.ENUM:
                return True
            case _Kind.SCALAR:
                return tp is not Money  # py-moneyed's Money can be assigned to
            case _Kind.OPTIONAL:
                return self._immutable_type(args[0], seen)
            case _Kind.ATTRS:
                return self._immutable(tp, set(seen))
            case _Kind.RECORDS:
                return all(self._immutable(one, set(seen)) for one in args)
            case _Kind.SEQUENCE | _Kind.SET:
                return origin in (tuple, frozenset) and self._immutable_type(args[0], seen)
        return False

    @staticmethod
    def _frozen(cls: type) -> bool:
        """Whether ``cls`` (an attrs class with fields) refuses assignment."""
        fields = attrs.fields(cls)
        if not fields:
            return False
        probe: Any = object.__new__(cls)
        try:
            setattr(probe, fields[0].name, None)
        except attrs.exceptions.FrozenInstanceError:
            return True
        return False

    def records_encoder(self, classes: tuple[type, ...], *, text: bool) -> Callable[[Any], Any]:
        """What encodes a value of one of ``classes`` under its class name: as JSON
        text (``text``) or as its dict form. Each class's encoder is compiled when
        first needed (so that a class may hold a union it is part of)."""
        known = self.text_encoders if text else self.encoders
        make = self.text_encoder if text else self.encoder
        names = {cls: cls.__name__ for cls in classes}
        keys = {cls: encode_basestring(name) for cls, name in names.items()}

        def encode_one(value: Any) -> Any:
            cls = type(value)
            if cls not in names:
                raise CodecError(
                    f"cannot store a {cls.__qualname__} where one of "
                    f"{', '.join(sorted(names.values()))} is expected"
                )
            encoded = (known.get(cls) or make(cls))(value)
            return f"{{{keys[cls]}:{encoded}}}" if text else {names[cls]: encoded}

        return encode_one

    def records_decoder(self, classes: tuple[type, ...]) -> _Decoder:
        """What decodes ``{"ClassName": its object}`` into a value of that one of
        ``classes``."""
        by_name = {cls.__name__: cls for cls in classes}

        def decode_one(data: Mapping[str, Any]) -> Any:
            if not isinstance(data, Mapping) or len(data) != 1:
                raise CodecError(
                    f"a stored {' or '.join(sorted(by_name))} is an object of one key "
                    f"naming its type, not {data!r}"
                )
            ((name, document),) = data.items()
            cls = by_name.get(name)
            if cls is None:
                raise CodecError(
                    f"the stored record type {name!r} is not one of {', '.join(sorted(by_name))}"
                )
            return (self.decoders.get(cls) or self.decoder(cls))(document)

        return decode_one

    def _fields(self, cls: type) -> list[tuple[attrs.Attribute[Any], Any]]:
        try:
            hints = typing.get_type_hints(cls)
        except NameError as exc:
            raise CodecError(f"cannot resolve the field types of {cls.__qualname__}") from exc
        return [(f, hints[f.name]) for f in attrs.fields(cls) if f.init]

    def encoder(self, cls: type) -> _Encoder:
        known = self.encoders.get(cls)
        if known is not None:
            return known
        # Registered before compiling, so that a class nested in itself resolves.
        self.encoders[cls] = lambda value: self.encoders[cls](value)
        # The same keys, in the same order, as the text encoder writes.
        lines = ["def encode(o):", "    d = {}"]
        for index, (field, tp) in enumerate(self._fields(cls)):
            access = f"o.{field.name}"
            expr = self.convert(tp, access, decode=False) or access
            omitted = _omitted_when(field, tp, access) if index else None
            assign = f"d[{field.alias or field.name!r}] = {expr}"
            lines.append(f"    {assign}" if omitted is None else f"    if not {omitted}: {assign}")
        lines.append("    return d")
        source = "\n".join(lines) + "\n"
        function: _Encoder = self._compile(source, "encode", cls)
        self.encoders[cls] = function
        return function

    def decoder(self, cls: type) -> _Decoder:
        known = self.decoders.get(cls)
        if known is not None:
            return known
        self.decoders[cls] = lambda data: self.decoders[cls](data)
        lines = ["def decode(d):"]
        arguments = []
        fields = self._fields(cls)
        for index, (field, tp) in enumerate(fields):
            local = f"a{index}"
            key = field.alias or field.name
            convert = self.convert(tp, local, decode=True)
            default: Any = field.default
            if default is attrs.NOTHING:
                lines.append(f"    {local} = d[{key!r}]")
                if convert is not None:
                    lines.append(f"    {local} = {convert}")
            else:
                if isinstance(default, _FACTORY):
                    factory = default.factory
                    if default.takes_self:
                        raise CodecError(f"cannot load {cls.__qualname__}.{field.name}")
                    fallback = f"{self._name('factory_', factory)}()"
                else:
                    fallback = self._name("default_", default)
                lines.append(f"    {local} = d.get({key!r}, _MISSING)")
                lines.append(f"    if {local} is _MISSING:")
                lines.append(f"        {local} = {fallback}")
                if convert is not None:
                    lines.append("    else:")
                    lines.append(f"        {local} = {convert}")
            arguments.append(f"{key}={local}")
        target = self._name("cls_", cls)
        if self._trusted(cls):
            values = [(field.name, f"a{index}") for index, (field, _) in enumerate(fields)]
            lines.extend(f"    {line}" for line in filling(cls, "o", values, self._name))
            if self._leaf(cls):
                lines[1:1] = self._known_leaf(cls)
                lines.append("    _keep(known, k, o)")
            lines.append("    return o")
        else:
            lines.append(f"    return {target}({', '.join(arguments)})")
        function: _Decoder = self._compile("\n".join(lines) + "\n", "decode", cls)
        self.decoders[cls] = function
        return function

    def _leaf(self, cls: type) -> bool:
        """Whether ``cls`` is frozen and every field of it is stored as one JSON
        string, number, boolean or null (no record, collection or amount within): a
        value of it is then known by its document's field values alone, and may be
        shared."""
        fields = self._fields(cls)
        if not self._frozen(cls):
            return False
        for _, tp in fields:
            kind, _, args = _kind(tp)
            if kind is _Kind.OPTIONAL:
                tp = args[0]
                kind, _, _ = _kind(tp)
            if kind not in (_Kind.IDENTITY, _Kind.ENUM, _Kind.SCALAR) or tp is Money:
                return False
        return True

    def _known_leaf(self, cls: type) -> list[str]:
        """The first lines of a leaf record's decoder: the value decoded before from
        the same field values, if any (periods, terms, tax decisions and addresses
        repeat from document to document; frozen values are shared safely)."""
        known = self._name("known_", {})
        # (A field left out and a field given as null may decode differently.)
        fields = self._fields(cls)
        values = ", ".join(f"d.get({(f.alias or f.name)!r}, _MISSING)" for f, _ in fields)
        return [
            f"    known = {known}",
            f"    k = ({values},)",
            "    o = known.get(k)",
            "    if o is not None:",
            "        return o",
        ]

    @staticmethod
    def _trusted(cls: type) -> bool:
        """Whether a value of ``cls`` can be rebuilt by setting its fields.

        A stored document was encoded from a valid value, so decoding it need not run
        the validators, converters and post-init checks again (a bill run reads a
        hundred thousand records). Classes whose instances hold anything besides
        their init fields (a cached hash, a computed index) go through ``__init__``.
        """
        fields = attrs.fields(cls)
        if any(not field.init for field in fields) or "__slots__" not in cls.__dict__:
            return False
        slots: set[str] = set()
        for klass in cls.__mro__:
            declared = klass.__dict__.get("__slots__", ())
            slots.update((declared,) if isinstance(declared, str) else declared)
        return slots - {"__weakref__"} == {field.name for field in fields}

    def _compile(self, source: str, name: str, cls: type) -> Any:
        scope: dict[str, Any] = {}
        code = compile(source, f"<subscriptions.adapters.codec {name} {cls.__qualname__}>", "exec")
        exec(code, self._namespace, scope)
        return scope[name]


_COMPILER = _Compiler()
_ENCODERS = _COMPILER.encoders
_TEXT_ENCODERS = _COMPILER.text_encoders
_DECODERS = _COMPILER.decoders


def encoder(cls: type) -> Callable[[Any], dict[str, Any]]:
    """The compiled encoder of ``cls`` (compiled on first use, then cached)."""
    return _ENCODERS.get(cls) or _COMPILER.encoder(cls)


def decoder(cls: type[T]) -> Callable[[Mapping[str, Any]], T]:
    """The compiled decoder of ``cls`` (compiled on first use, then cached)."""
    return _DECODERS.get(cls) or _COMPILER.decoder(cls)


def encode(record: Any) -> dict[str, Any]:
    """``record`` (an attrs value) as a JSON-able dict."""
    cls = type(record)
    if not attrs.has(cls):
        raise CodecError(f"cannot encode {record!r}: not an attrs value")
    function = _ENCODERS.get(cls) or _COMPILER.encoder(cls)
    result: dict[str, Any] = function(record)
    return result


def decode(cls: type[T], data: Mapping[str, Any]) -> T:
    """The ``cls`` value that ``data`` (from :func:`encode`) encodes."""
    function = _DECODERS.get(cls) or _COMPILER.decoder(cls)
    try:
        result: T = function(data)
    except CodecError:
        raise
    except KeyError as exc:
        raise CodecError(
            f"cannot load a {cls.__qualname__}: the stored document has no field {exc}"
        ) from exc
    except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise CodecError(f"cannot load a {cls.__qualname__}: {exc}") from exc
    return result


def dumps(record: Any) -> str:
    """``record`` as compact JSON text: ``json.dumps(encode(record),
    separators=(",", ":"), ensure_ascii=False)``, written directly."""
    cls = type(record)
    function = _TEXT_ENCODERS.get(cls)
    if function is None:
        if not attrs.has(cls):
            raise CodecError(f"cannot encode {record!r}: not an attrs value")
        function = _COMPILER.text_encoder(cls)
    return function(record)


def forget_texts() -> None:
    """Let go of the texts (and the values) the nested encoders keep: what a unit of
    work wrote is not held after it ends."""
    for kept in _COMPILER.kept_texts:
        kept.clear()


def loads(cls: type[T], text: str | bytes) -> T:
    """The ``cls`` value that the JSON ``text`` (from :func:`dumps`) encodes."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        data = _json_decode(text)
    except ValueError as exc:
        raise CodecError(f"cannot load a {cls.__qualname__}: {exc}") from exc
    return decode(cls, data)
