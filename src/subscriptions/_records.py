"""The one rule of a record's versions: every change of a stored record is its next
version (what optimistic concurrency compares)."""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

__all__ = ["revised"]

_T = TypeVar("_T")


def revised(record: _T, **changes: Any) -> _T:
    """``record`` with ``changes``, as its next version."""
    version: int = record.version  # type: ignore[attr-defined]
    return attrs.evolve(record, version=version + 1, **changes)  # type: ignore[misc]
