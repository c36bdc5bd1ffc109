"""What adapters and units of work do at the end of a ``with`` block: a store (or
another adapter holding connections) closes, a unit of work not yet committed rolls
back; and what a unit of work refuses once it has ended, or as a snapshot."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from ..errors import InvalidInput, ReadOnlySnapshot


class _EndsWithBlock(abc.ABC):
    """Used as a context manager, the object ends when the block ends, however it
    ends (each kind says what ending means)."""

    __slots__ = ()

    @abc.abstractmethod
    def _end_of_block(self) -> None:
        """What the end of the ``with`` block does."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end_of_block()


class ClosedOnExit(_EndsWithBlock):
    """A store (or another adapter holding connections) used as a context manager is
    closed when the block ends, by its own ``close()``."""

    __slots__ = ()

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of what the adapter holds (each says what)."""

    def _end_of_block(self) -> None:
        self.close()


class RolledBackOnExit(_EndsWithBlock):
    """A unit of work used as a context manager rolls back, when the block ends,
    whatever it has not committed (its ``_end_of_block`` says how). Once committed or
    rolled back (``_done``) it refuses more work; a snapshot (``_snapshot``) refuses
    every write."""

    __slots__ = ()

    _done: bool
    _snapshot: bool

    def _check_open(self) -> None:
        if self._done:
            raise InvalidInput(
                "this unit of work is already committed or rolled back; start a new one"
            )

    def _check_writable(self, operation: str, *subjects: object) -> None:
        """Refuse a write once the unit of work has ended, or in a snapshot.
        ``operation`` says what was asked, a format string over ``subjects``: it is
        formatted only when refused (every write of a bill run passes here)."""
        if self._done or self._snapshot:
            self._check_open()
            raise ReadOnlySnapshot(operation.format(*subjects))
