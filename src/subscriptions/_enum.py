"""The base of the library's enumerations."""

from __future__ import annotations

import enum
from typing import Self

from .errors import InvalidInput, shown

__all__ = ["Choice"]


class Choice(enum.Enum):
    """An enumeration whose members hash by identity, read from their names.

    Members are singletons compared by identity, so the identity hash agrees with
    equality; it is computed in C, where ``Enum``'s own ``__hash__`` runs Python code,
    and enum members are dictionary keys on every hot path (prices by frequency,
    taxes by treatment).

    On Python 3.11, reading a member off its class (``Status.ACTIVE``) costs about
    ten times reading a global: ``EnumType.__getattr__`` (gone in 3.12) sends every
    attribute read on an enum class through a hook that calls
    ``type.__getattribute__`` as a method. The modules on a renewal's path bind the
    members they read there to module constants (``_ACTIVE = Status.ACTIVE``).
    """

    __hash__ = object.__hash__

    @classmethod
    def parse(cls, value: object, *, what: str | None = None) -> Self:
        """The member ``value`` names (its value, such as ``"monthly"``), or the
        member itself; anything else is refused with
        :class:`~subscriptions.errors.InvalidInput` listing the known names."""
        if isinstance(value, cls):
            return value
        label = what or _label(cls.__name__)
        known = ", ".join(repr(member.value) for member in cls)
        if isinstance(value, str):
            for member in cls:
                if isinstance(member.value, str) and member.value == value:
                    return member
            raise InvalidInput(f"unknown {label} {shown(value)}; use one of {known}")
        raise InvalidInput(
            f"{label} {shown(value)} ({type(value).__name__}) is not a name; use one of {known}"
        )


def _label(name: str) -> str:
    """``"CancelTiming"`` as words: ``"cancel timing"``."""
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
