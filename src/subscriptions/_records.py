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
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["moved", "quick_init", "revised", "slot_setter", "version_after"]

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
        make_copy = _COPIERS[type(record)]
    except KeyError:
        make_copy = _copier(type(record))
    copy = make_copy(record)
    put = object.__setattr__
    for name, value in changes.items():
        put(copy, name, value)
    put(copy, "version", record.version + 1)  # type: ignore[attr-defined]
    result: _T = copy
    return result


def version_after(record: Any | None) -> int:
    """The version of what replaces ``record``: 0 for a record that does not exist."""
    return 0 if record is None else int(record.version) + 1


#: The generated functions, by record type (made on first use).
_REVISERS: dict[type[Any], Callable[..., Any]] = {}
_COPIERS: dict[type[Any], Callable[[Any], Any]] = {}


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
    lookup of ``object.__setattr__`` (a third faster; records are rebuilt field by
    field on every read of a store), or ``object.__setattr__`` for a field that is
    not a slot."""
    descriptor = getattr(cls, name, None)
    if type(descriptor) is types.MemberDescriptorType:
        setter: Callable[[Any, Any], None] = descriptor.__set__
        return setter

    def put(instance: Any, value: Any) -> None:
        object.__setattr__(instance, name, value)

    return put


def quick_init(cls: _C) -> _C:
    """Give a frozen, slotted attrs class with nothing to check an ``__init__`` that
    sets each slot through its descriptor (:func:`slot_setter`).

    The constructor attrs writes for a frozen class goes through
    ``object.__setattr__`` once per field; this one takes the same arguments, in the
    same order and of the same kinds, with the same defaults (a factory called per
    instance), and stores the same values, a third faster (a renewal makes a dozen
    such records, its events among them). A class with a validator, a converter, a
    field left out of ``__init__``, an ``on_setattr`` hook, a pre- or post-init, or
    a cached hash keeps attrs' own and is refused here, so that nothing is skipped.
    Applied above ``@attrs.frozen``.
    """
    record: Any = cls  # (attrs.has would narrow the type of ``cls`` itself)
    slots = cls.__dict__.get("__slots__")
    if not attrs.has(record) or slots is None:
        raise TypeError(f"quick_init: {cls.__qualname__} is not a slotted attrs class")
    fields = attrs.fields(record)
    for name in ("__attrs_pre_init__", "__attrs_post_init__"):
        if hasattr(cls, name):
            raise TypeError(f"quick_init: {cls.__qualname__} has {name}, which would be skipped")
    if "_attrs_cached_hash" in slots:
        raise TypeError(f"quick_init: {cls.__qualname__} caches its hash")
    for field in fields:
        skipped = (
            field.validator is not None
            or field.converter is not None
            or not field.init
            or field.on_setattr not in (None, attrs.setters.NO_OP)
            or (isinstance(field.default, _FACTORY) and field.default.takes_self)
        )
        if skipped or type(getattr(cls, field.name, None)) is not types.MemberDescriptorType:
            raise TypeError(
                f"quick_init: {cls.__qualname__}.{field.name} is checked, converted or "
                "computed by attrs' constructor; keep it"
            )
    names: dict[str, Any] = {"NOTHING": attrs.NOTHING}
    positional: list[str] = []
    keywords: list[str] = []
    body: list[str] = []
    for index, field in enumerate(fields):
        names[f"put_{index}"] = slot_setter(cls, field.name)
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
        body.append(f"    put_{index}(self, {value})\n")
    signature = ", ".join(["self", *positional, *(["*", *keywords] if keywords else [])])
    source = f"def __init__({signature}):\n" + ("".join(body) or "    pass\n")
    init = _compiled(source, "__init__", cls, **names)
    init.__annotations__ = dict(getattr(cls.__init__, "__annotations__", {}))
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    setattr(cls, "__init__", init)  # noqa: B010 (the class is ours to finish)
    return cls


_FACTORY: Any = type(attrs.Factory(list))


def _copier(cls: type[Any]) -> Callable[[Any], Any]:
    """``copy(old)`` for ``cls``: a new instance, slot by slot (unrolled)."""
    fields = attrs.fields(cls)
    setters = {f"put_{i}": slot_setter(cls, f.name) for i, f in enumerate(fields)}
    body = "".join(f"    put_{i}(new, old.{f.name})\n" for i, f in enumerate(fields))
    source = f"def copy(old):\n    new = make(cls)\n{body}    return new\n"
    copy = _COPIERS[cls] = _compiled(source, "copy", cls, make=object.__new__, **setters)
    return copy


def _compiled(source: str, name: str, cls: type[Any], **names: Any) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"cls": cls, **names}
    exec(compile(source, f"<{cls.__name__} {name}>", "exec"), namespace)
    function: Callable[..., Any] = namespace[name]
    return function


_KEEP: Any = object()
