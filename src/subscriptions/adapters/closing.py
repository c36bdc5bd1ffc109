"""What adapters and units of work do at the end of a ``with`` block: a store (or
another adapter holding connections) closes, a unit of work not yet committed rolls
back."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


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
    whatever it has not committed (its ``_end_of_block`` says how)."""

    __slots__ = ()
