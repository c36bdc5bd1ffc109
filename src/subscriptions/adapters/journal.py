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

A journal long enough is read from a checkpoint. A caller that can say what its
records add up to (a :class:`Checkpoint`: ``dump()`` its state, ``load()`` it back)
passes one to :meth:`FileJournal.session`. Whenever the file has grown by a quarter
since the last checkpoint (and by :data:`CHECKPOINT_BYTES` at least), the session
writes that state and the offset it stands for beside the journal
(``<path>.checkpoint``, replaced whole, under the lock); a process that opens the
journal later loads it and reads only the records after it. A checkpoint that does not
match the file (the journal was cut, replaced or edited before that offset) or cannot
be read is ignored: the whole journal is read, as without one. The journal stays the
record and a checkpoint only a shortcut: one that cannot be written is skipped with a
warning.

The lock is POSIX ``fcntl.flock``, imported when a journal is first opened: importing
this module (and the library) works where ``fcntl`` does not exist; opening a journal
there raises :class:`~subscriptions.errors.InvalidInput` saying so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from ..errors import InvalidInput, JournalError

__all__ = ["CHECKPOINT_BYTES", "Checkpoint", "FileJournal"]

#: How much the journal grows at least between two checkpoints (about 700 charges).
CHECKPOINT_BYTES = 256 * 1024

#: The bytes before a checkpoint's offset it keeps a checksum of, to know the file.
_FINGERPRINT_BYTES = 4096

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


class Checkpoint(Protocol):
    """What a journal's records add up to, for a checkpoint."""

    def dump(self) -> Any:
        """The state the records read and appended so far make (JSON data)."""
        ...

    def load(self, state: Any) -> None:
        """Take ``state``, a :meth:`dump` of an earlier process, as the records up to the
        checkpoint; raise (``KeyError``, ``TypeError``, ``AttributeError``,
        ``ValueError``, ``ArithmeticError``) and change nothing if it is not one."""
        ...


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
        #: The offset of the last checkpoint written or loaded (None: not looked for).
        self._checkpointed: int | None = None
        self.checkpoint_path = self.path.with_name(self.path.name + ".checkpoint")

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
    def session(
        self,
        replay: Callable[[Mapping[str, Any]], None],
        checkpoint: Checkpoint | None = None,
    ) -> Iterator[None]:
        """Hold the file's lock: ``replay`` gets each record appended elsewhere since the
        last session (after the ``checkpoint`` loaded at the first one), then the caller
        may :meth:`append`; on leaving, what was appended is on disk."""
        fcntl = self._fcntl
        with self._guarded():
            handle = open(self.path, "a+b")  # noqa: SIM115 - closed in the finally below
        try:
            with self._guarded():
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if checkpoint is not None and self._checkpointed is None:
                    self._restore(handle, checkpoint)
                self._read(handle, replay)
                self._handle = handle
                yield
                with self._guarded():
                    handle.flush()
                    os.fsync(handle.fileno())
                    # Under the lock the file ends with what this session appended.
                    self._offset = os.fstat(handle.fileno()).st_size
                self._lines += self._appended
                if checkpoint is not None:
                    self._save(handle, checkpoint)
            finally:
                self._handle = None
                self._appended = 0
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    def _fingerprint(self, handle: IO[bytes], offset: int) -> int:
        """A checksum of the bytes just before ``offset``: the file a checkpoint is of."""
        start = max(0, offset - _FINGERPRINT_BYTES)
        handle.seek(start)
        return zlib.crc32(handle.read(offset - start))

    def _restore(self, handle: IO[bytes], checkpoint: Checkpoint) -> None:
        """Load the checkpoint beside the journal if it matches the file (first session
        of this journal only); else read the journal whole."""
        self._checkpointed = 0
        if self._offset:
            return
        try:
            saved = json.loads(self.checkpoint_path.read_bytes())
            offset, lines = saved["offset"], saved["lines"]
            size = os.fstat(handle.fileno()).st_size
            if not (isinstance(offset, int) and 0 < offset <= size and isinstance(lines, int)):
                return
            handle.seek(offset - 1)
            if handle.read(1) != b"\n" or self._fingerprint(handle, offset) != saved["crc"]:
                return
            checkpoint.load(saved["state"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ArithmeticError):
            # None yet, unreadable, or not one of ours: the journal is read whole.
            return
        self._offset, self._lines, self._checkpointed = offset, lines, offset

    def _save(self, handle: IO[bytes], checkpoint: Checkpoint) -> None:
        """Write a checkpoint of the journal up to its end, under the lock, if it has
        grown enough since the last one."""
        # A checkpoint is written when the journal has grown by a quarter since the last
        # (at least CHECKPOINT_BYTES): a later reader replays at most a fifth of the
        # journal, and a long run dumps its state a bounded number of times.
        last = self._checkpointed or 0
        if self._offset - last < max(CHECKPOINT_BYTES, last // 4):
            return
        offset = self._offset
        self._checkpointed = offset
        saved = {
            "offset": offset,
            "lines": self._lines,
            "crc": self._fingerprint(handle, offset),
            "state": checkpoint.dump(),
        }
        partial = self.checkpoint_path.with_name(self.checkpoint_path.name + ".partial")
        try:
            with open(partial, "wb") as out:
                out.write(json.dumps(saved, separators=(",", ":")).encode("utf-8"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, self.checkpoint_path)
        except OSError as exc:
            # The journal holds every record; this process tries again once it has grown.
            _log.warning("journal %s: no checkpoint written (%s)", self.path, exc)

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
