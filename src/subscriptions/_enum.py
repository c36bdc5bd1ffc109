"""The base of the library's enumerations."""

from __future__ import annotations

import enum

__all__ = ["Choice"]


class Choice(enum.Enum):
    """An enumeration whose members hash by identity.

    Members are singletons compared by identity, so the identity hash agrees with
    equality; it is computed in C, where ``Enum``'s own ``__hash__`` runs Python code,
    and enum members are dictionary keys on every hot path (prices by frequency,
    taxes by treatment).
    """

    __hash__ = object.__hash__
