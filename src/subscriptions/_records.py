"""The one rule of a record's versions: every change of a stored record is its next
version (what optimistic concurrency compares).

Two ways to make that next version, both here so that no other module counts
versions (and, below them, :func:`quick_init`, which makes the records a renewal builds
by the thousand cheaper to construct):

- :func:`revised` builds it through the record's own constructor, so every
  validator runs on the new values (what ``attrs.evolve`` does, without its cost:
  the constructor call is generated once per record type, with the fields
  unrolled).
- :func:`moved` copies it slot by slot and checks nothing: for the transitions of
  the core whose changes never touch what a validator checks (a payment attempt's
  state, an invoice's collection status), made once or twice per renewal.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

__all__ = ["filling", "moved", "quick_init", "revised", "slot_setter", "version_after"]

_T = TypeVar("_T")
_C = TypeVar("_C", bound=type[Any])


def revised(record: _T, **changes: Any) -> _T:
    """``record`` with ``changes``, as its next version, checked by its constructor."""
    try:
        revise = _REVISERS[type(record)]
    except KeyError:
        revise = _reviser(type(record))
    result: _T = revise(record, **changes)
    return result


def moved(record: _T, **changes: Any) -> _T:
    """``record`` with ``changes``, as its next version, copied without checks."""
    try:
        move = _MOVERS[type(record)]
    except KeyError:
        move = _mover(type(record))
    result: _T = move(record, changes)
    return result


def version_after(record: Any | None) -> int:
    """The version of what replaces ``record``: 0 for a record that does not exist."""
    return 0 if record is None else int(record.version) + 1


#: The generated functions, by record type (made on first use).
_REVISERS: dict[type[Any], Callable[..., Any]] = {}
_MOVERS: dict[type[Any], Callable[[Any, dict[str, Any]], Any]] = {}


def _reviser(cls: type[Any]) -> Callable[..., Any]:
    """``revise(old, **changes)`` for ``cls``: one constructor call, fields unrolled."""
    fields = [f for f in attrs.fields(cls) if f.init and f.name != "version"]
    params = "".join(f", {f.alias}=KEEP" for f in fields)
    args = "".join(
        f"        {f.alias}=old.{f.name} if {f.alias} is KEEP else {f.alias},\n" for f in fields
    )
    source = (
        f"def revise(old, *{params}):\n"
        f"    return cls(\n{args}        version=old.version + 1,\n    )\n"
    )
    revise = _REVISERS[cls] = _compiled(source, "revise", cls, KEEP=_KEEP)
    return revise


def slot_setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    """What sets field ``name`` of a new ``cls`` instance that nobody holds yet (a
    frozen record being built): the slot's own descriptor, which skips the attribute
    lookup of ``object.__setattr__``, or ``object.__setattr__`` for a field that is
    not a slot. (:func:`filling` writes plain assignments instead where it can.)"""
    descriptor = getattr(cls, name, None)
    if type(descriptor) is types.MemberDescriptorType:
        setter: Callable[[Any, Any], None] = descriptor.__set__
        return setter

    def put(instance: Any, value: Any) -> None:
        object.__setattr__(instance, name, value)

    return put


def _twin(cls: type[Any]) -> type[Any] | None:
    """A mutable class with the layout of ``cls`` (the same bases, the same slots),
    whose instances may become ``cls`` instances by ``__class__`` assignment; or
    ``None`` where CPython would refuse that (a slot for weak references, which it
    places after the others, a base with its own ``__setattr__``, a ``__dict__``)."""
    try:
        return _TWINS[cls]
    except KeyError:
        pass
    twin: type[Any] | None = None
    slots = cls.__dict__.get("__slots__")
    if isinstance(slots, tuple) and "__weakref__" not in slots and "__dict__" not in slots:
        candidate = type(f"{cls.__name__}Being", cls.__bases__, {"__slots__": slots})
        inherited: Any = candidate.__setattr__
        if inherited is object.__setattr__:
            try:
                probe: Any = object.__new__(candidate)
                probe.__class__ = cls
                _SET_CLASS(probe, candidate)
            except TypeError:
                pass
            else:
                twin = candidate
    _TWINS[cls] = twin
    return twin


_TWINS: dict[type[Any], type[Any] | None] = {}
#: ``object.__setattr__(instance, "__class__", ...)``, also on a frozen instance.
_SET_CLASS: Callable[[Any, type[Any]], None] = object.__dict__["__class__"].__set__


def filling(
    cls: type[Any],
    target: str,
    values: Sequence[tuple[str, str]],
    name: Callable[[str, Any], str],
    *,
    made: bool = False,
    then: Sequence[str] = (),
) -> list[str]:
    """Source lines (not indented) that make ``target`` a new ``cls`` instance whose
    fields hold ``values`` (field name, expression), for generated constructors,
    copiers and decoders of frozen slotted records; ``name(prefix, value)`` makes
    ``value`` visible to the generated code and returns its name there. With
    ``made``, ``target`` is already a new instance of exactly ``cls`` (an
    ``__init__``'s ``self``). The lines ``then`` run once the fields are set, on an
    instance that ``object.__setattr__`` may still change.

    Setting a slot of a frozen record goes through its descriptor's ``__set__``, a
    call with an argument tuple per field. Where CPython allows it (:func:`_twin`),
    the record is built as an instance of its mutable twin instead, each field set
    by plain assignment, then given its class: a third of the cost for a dozen
    fields. Nobody holds the instance before it has its class (an expression that
    raises leaves a twin behind for the collector, never a record).
    """
    twin = _twin(cls)
    if twin is None:
        lines = [] if made else [f"{target} = {name('new_', object.__new__)}({name('cls_', cls)})"]
        return [*lines, *_setting(cls, target, values, name), *then]
    kind = name("being_", twin)
    if made:
        lines = [f"{name('set_class_', _SET_CLASS)}({target}, {kind})"]
    else:
        lines = [f"{target} = {name('new_', object.__new__)}({kind})"]
    lines.extend(f"{target}.{field} = {expression}" for field, expression in values)
    lines.extend(then)
    lines.append(f"{target}.__class__ = {name('cls_', cls)}")
    return lines


def _setting(
    cls: type[Any], target: str, values: Sequence[tuple[str, str]], name: Callable[[str, Any], str]
) -> list[str]:
    """The lines of :func:`filling` that set each field of ``target`` through its
    slot's descriptor (:func:`slot_setter`)."""
    return [f"{name('set_', slot_setter(cls, f))}({target}, {value})" for f, value in values]


def quick_init(cls: _C) -> _C:
    """Give a frozen, slotted attrs class with nothing to check an ``__init__`` that
    fills the instance as :func:`filling` does.

    The constructor attrs writes for a frozen class goes through
    ``object.__setattr__`` once per field; this one takes the same arguments, in the
    same order and of the same kinds, with the same defaults (a factory called per
    instance), and stores the same values, several times faster (a renewal makes a dozen
    such records, its events among them); then it runs the validators, field by field
    (unless ``attrs.validators.set_disabled(True)``), and ``__attrs_post_init__``, as
    attrs' does. A class with a converter, a field left out of ``__init__``, an
    ``on_setattr`` hook, a pre-init or a cached hash keeps attrs' own and is refused
    here, so that nothing is skipped.
    Applied above ``@attrs.frozen``.
    """
    record: Any = cls  # (attrs.has would narrow the type of ``cls`` itself)
    slots = cls.__dict__.get("__slots__")
    if not attrs.has(record) or slots is None:
        raise TypeError(f"quick_init: {cls.__qualname__} is not a slotted attrs class")
    fields = attrs.fields(record)
    if hasattr(cls, "__attrs_pre_init__"):
        raise TypeError(
            f"quick_init: {cls.__qualname__} has __attrs_pre_init__, which would be skipped"
        )
    if "_attrs_cached_hash" in slots:
        raise TypeError(f"quick_init: {cls.__qualname__} caches its hash")
    for field in fields:
        skipped = (
            field.converter is not None
            or not field.init
            or field.on_setattr not in (None, attrs.setters.NO_OP)
            or (isinstance(field.default, _FACTORY) and field.default.takes_self)
        )
        if skipped or type(getattr(cls, field.name, None)) is not types.MemberDescriptorType:
            raise TypeError(
                f"quick_init: {cls.__qualname__}.{field.name} is converted or computed by "
                "attrs' constructor; keep it"
            )
    names: dict[str, Any] = {"NOTHING": attrs.NOTHING}
    positional: list[str] = []
    keywords: list[str] = []
    values: list[tuple[str, str]] = []
    for index, field in enumerate(fields):
        parameter = field.alias
        value = parameter
        if isinstance(field.default, _FACTORY):
            names[f"factory_{index}"] = field.default.factory
            parameter += "=NOTHING"
            value = f"factory_{index}() if {field.alias} is NOTHING else {field.alias}"
        elif field.default is not attrs.NOTHING:
            names[f"default_{index}"] = field.default
            parameter += f"=default_{index}"
        (keywords if field.kw_only else positional).append(parameter)
        values.append((field.name, value))
    signature = ", ".join(["self", *positional, *(["*", *keywords] if keywords else [])])
    namer = _namer(names)
    # A subclass's instance keeps its class: only an instance of ``cls`` itself is
    # built through the twin.
    slow = _setting(cls, "self", values, namer)
    if _twin(cls) is None or not values:
        body = "".join(f"    {line}\n" for line in slow) or "    pass\n"
    else:
        fast = filling(cls, "self", values, namer, made=True)
        body = (
            "    if type(self) is cls:\n"
            + "".join(f"        {line}\n" for line in fast)
            + "    else:\n"
            + "".join(f"        {line}\n" for line in slow)
        )
    # Then, as attrs' constructor does: the validators in the order of the fields
    # (unless attrs' validators are disabled), then the post-init.
    checks = [
        f"        {namer('validator_', field.validator)}(self, "
        f"{namer('attribute_', field)}, self.{field.name})\n"
        for field in fields
        if field.validator is not None
    ]
    if checks:
        body += f"    if not {namer('disabled_', attrs.validators.get_disabled)}():\n"
        body += "".join(checks)
    if hasattr(cls, "__attrs_post_init__"):
        body += "    self.__attrs_post_init__()\n"
    source = f"def __init__({signature}):\n" + body
    init = _compiled(source, "__init__", cls, **names)
    init.__annotations__ = dict(getattr(cls.__init__, "__annotations__", {}))
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    setattr(cls, "__init__", init)  # noqa: B010 (the class is ours to finish)
    return cls


_FACTORY: Any = type(attrs.Factory(list))


def _mover(cls: type[Any]) -> Callable[[Any, dict[str, Any]], Any]:
    """``move(old, changes)`` for ``cls``: a new instance holding ``old``'s fields
    (unrolled), ``changes`` over them and the next version."""
    names: dict[str, Any] = {}
    values = [(f.name, f"old.{f.name}") for f in attrs.fields(cls) if f.name != "version"]
    then = [
        "for name, value in changes.items():",
        "    put(new, name, value)",
        "put(new, 'version', old.version + 1)",
    ]
    lines = filling(cls, "new", values, _namer(names), then=then)
    body = "".join(f"    {line}\n" for line in lines)
    source = f"def move(old, changes):\n{body}    return new\n"
    move = _MOVERS[cls] = _compiled(source, "move", cls, put=object.__setattr__, **names)
    return move


def _namer(names: dict[str, Any]) -> Callable[[str, Any], str]:
    """``name(prefix, value)`` for :func:`filling`, registering in ``names``."""

    def name(prefix: str, value: Any) -> str:
        for known, held in names.items():
            if held is value and known.startswith(prefix):
                return known
        key = f"{prefix}{len(names)}"
        names[key] = value
        return key

    return name


def _compiled(source: str, name: str, cls: type[Any], **names: Any) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"cls": cls, **names}
    exec(compile(source, f"<{cls.__name__} {name}>", "exec"), namespace)
    function: Callable[..., Any] = namespace[name]
    return function


_KEEP: Any = object()
