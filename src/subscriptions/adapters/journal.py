"""A durable journal: JSON records appended to one file under a file lock, shared by the
processes that open it.

:class:`FileJournal` is the memory that a fake adapter keeps across processes (the
fake gateway's charges, for crash and race tests, as a real provider keeps its own):
:meth:`FileJournal.session` takes the file's exclusive lock, hands over every record
other processes appended since the last session, lets the caller append, and syncs the
file to disk before the lock is let go.

The lock is POSIX ``fcntl.flock``, imported when a journal is first opened: importing
this module (and the library) works where ``fcntl`` does not exist; opening a journal
there raises :class:`~subscriptions.errors.InvalidInput` saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidInput

__all__ = ["FileJournal"]


def _flock() -> Any:
    try:
        import fcntl
    except ImportError as exc:
        raise InvalidInput(
            "a journal file needs POSIX file locks (the fcntl module), which this "
            "platform lacks; run without a journal (the fake keeps its records in memory)"
        ) from exc
    return fcntl


class FileJournal:
    """Records appended to ``path``, one JSON object a line, read by every process that
    opens the file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fcntl = _flock()
        self.path.touch(exist_ok=True)
        self._offset = 0
        self._handle: IO[str] | None = None

    @contextlib.contextmanager
    def session(self, replay: Callable[[Mapping[str, Any]], None]) -> Iterator[None]:
        """Hold the file's lock: ``replay`` gets each record appended elsewhere since the
        last session, then the caller may :meth:`append`; on leaving, what was appended
        is on disk."""
        fcntl = self._fcntl
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(self._offset)
                text = handle.read()
                end = text.rfind("\n") + 1
                for line in text[:end].splitlines():
                    if line.strip():
                        replay(json.loads(line))
                self._offset += len(text[:end].encode("utf-8"))
                if end < len(text):
                    # A line torn by a process killed while writing it: that record
                    # was never acknowledged, so it never happened; drop it, and what
                    # comes next starts on a line of its own.
                    handle.truncate(self._offset)
                self._handle = handle
                yield
                handle.flush()
                os.fsync(handle.fileno())
                self._offset = handle.tell()
            finally:
                self._handle = None
                fcntl.flock(handle, fcntl.LOCK_UN)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append ``record``; only inside a :meth:`session`."""
        if self._handle is None:
            raise RuntimeError("FileJournal.append is called only inside a session")
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
