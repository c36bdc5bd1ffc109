"""A durable journal: JSON records appended to one file under a file lock, shared by the
processes that open it.

:class:`FileJournal` is the memory that a fake adapter keeps across processes (the
fake gateway's charges, for crash and race tests, as a real provider keeps its own):
:meth:`FileJournal.session` takes the file's exclusive lock, hands over every record
other processes appended since the last session, lets the caller append, and syncs the
file to disk before the lock is let go.

The file is read incrementally: a journal remembers how far it has read (a byte
offset), and each session reads only what was appended after it, so a process reads
each record once however many sessions it holds.

A crash can tear only the last line (a record is written whole, under the lock, and
acknowledged once synced). A session that finds a last line without its newline
drops it, logs one warning for this journal (logger ``subscriptions.journal``) and
cuts it off the file, so that the next record starts on a line of its own. Any other
line that is not a JSON record is corruption: :class:`~subscriptions.errors.JournalError`
names the file and the line. A file or folder that cannot be opened or written is a
``JournalError`` too.

The lock is POSIX ``fcntl.flock``, imported when a journal is first opened: importing
this module (and the library) works where ``fcntl`` does not exist; opening a journal
there raises :class:`~subscriptions.errors.InvalidInput` saying so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidInput, JournalError

__all__ = ["FileJournal"]

_log = logging.getLogger("subscriptions.journal")


def _flock() -> Any:
    try:
        import fcntl
    except ImportError as exc:
        raise InvalidInput(
            "a journal file needs POSIX file locks (the fcntl module), which this "
            "platform lacks; run without a journal (the fake keeps its records in memory)"
        ) from exc
    return fcntl


def _decoded(lines: list[bytes]) -> Iterator[Mapping[str, Any]] | None:
    """The records of ``lines`` decoded in one call (a third faster than a call per
    line on a journal of 20,000 records), or None when one of them is not a record: each is
    then decoded alone, so the error names its line."""
    if not lines:
        return None
    try:
        records: list[Any] = json.loads(b"[" + b",".join(lines) + b"]")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if len(records) != len(lines) or not all(type(r) is dict for r in records):
        return None
    return iter(records)


class FileJournal:
    """Records appended to ``path``, one JSON object a line, read by every process that
    opens the file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fcntl = _flock()
        with self._guarded():
            self.path.touch(exist_ok=True)
        #: How far the file has been read: bytes, and whole lines (for messages).
        self._offset = 0
        self._lines = 0
        self._warned = False
        self._appended = 0
        self._handle: IO[bytes] | None = None

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        """The file system's refusals as a JournalError that says what to do."""
        try:
            yield
        except OSError as exc:
            raise JournalError(
                str(self.path),
                f"cannot be opened or written ({exc.strerror or exc})",
                "give this process write access to the file and its folder (or free "
                "the disk), or open the journal at another path",
            ) from exc

    @contextlib.contextmanager
    def session(self, replay: Callable[[Mapping[str, Any]], None]) -> Iterator[None]:
        """Hold the file's lock: ``replay`` gets each record appended elsewhere since the
        last session, then the caller may :meth:`append`; on leaving, what was appended
        is on disk."""
        fcntl = self._fcntl
        with self._guarded():
            handle = open(self.path, "a+b")  # noqa: SIM115 - closed in the finally below
        try:
            with self._guarded():
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._read(handle, replay)
                self._handle = handle
                yield
                with self._guarded():
                    handle.flush()
                    os.fsync(handle.fileno())
                    # Under the lock the file ends with what this session appended.
                    self._offset = os.fstat(handle.fileno()).st_size
                self._lines += self._appended
            finally:
                self._handle = None
                self._appended = 0
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    def _read(self, handle: IO[bytes], replay: Callable[[Mapping[str, Any]], None]) -> None:
        """Replay what was appended since the last read, under the lock."""
        with self._guarded():
            handle.seek(self._offset)
            text = handle.read()
        end = text.rfind(b"\n") + 1
        lines = text[:end].split(b"\n")[:-1]
        decoded = _decoded([line for line in lines if line.strip()])
        for line in lines:
            self._lines += 1
            if line.strip():
                replay(self._record(line) if decoded is None else next(decoded))
            self._offset += len(line) + 1
        if end < len(text):
            self._drop_torn_line(handle)

    def _record(self, line: bytes) -> Mapping[str, Any]:
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if not isinstance(record, dict):
            raise JournalError(
                str(self.path),
                "this line is not a JSON record, and only the last line can be torn by a "
                "crash: the file was damaged or edited",
                "restore it from a copy, or delete that line if what it held may be lost",
                line=self._lines,
            )
        return record

    def _drop_torn_line(self, handle: IO[bytes]) -> None:
        # A line torn by a process killed while writing it: that record was never
        # acknowledged, so it never happened; drop it, and what comes next starts on a
        # line of its own.
        with self._guarded():
            handle.truncate(self._offset)
        if not self._warned:
            self._warned = True
            _log.warning(
                "journal %s: dropped its last line, torn by a process that stopped while "
                "writing it (that record was never acknowledged)",
                self.path,
            )

    def append(self, record: Mapping[str, Any]) -> None:
        """Append ``record``; only inside a :meth:`session`."""
        if self._handle is None:
            raise RuntimeError("FileJournal.append is called only inside a session")
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._guarded():
            self._handle.write(line.encode("utf-8"))
        self._appended += 1
