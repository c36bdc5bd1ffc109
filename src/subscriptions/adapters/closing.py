"""What every store does at the end of a ``with`` block: it closes."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class ClosedOnExit(abc.ABC):
    """A store used as a context manager is closed when the block ends (by its own
    ``close()``, the :class:`~subscriptions.ports.Store` port's)."""

    __slots__ = ()

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of what the store holds (each store says what)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
