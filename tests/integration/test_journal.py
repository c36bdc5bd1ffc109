"""The file journal (the fake gateway's durable memory): torn and corrupt lines, files
it cannot write, and reading each record once per process."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from moneyed import Money

from subscriptions.adapters import journal as journal_module
from subscriptions.adapters.fakes import FakeGateway
from subscriptions.adapters.journal import FileJournal
from subscriptions.errors import JournalError, StorageError
from subscriptions.payments import ChargeRequest, RefundRequest


def _request(key: str) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=key,
        amount=Money(Decimal("10.00"), "EUR"),
        payment_method="tok_visa",
        description=f"Order {key}",
    )


class Counter:
    """A replay callback that keeps what it was handed."""

    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []

    def __call__(self, record: Mapping[str, Any]) -> None:
        self.records.append(record)


def _read(journal: FileJournal) -> list[Mapping[str, Any]]:
    seen = Counter()
    with journal.session(seen):
        pass
    return seen.records


def test_a_torn_last_line_is_dropped_with_one_warning_and_the_next_record_starts_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gateway.jsonl"
    path.write_text('{"n":1}\n{"n":2', encoding="utf-8")  # killed mid-write
    journal = FileJournal(path)
    with caplog.at_level(logging.WARNING, logger="subscriptions.journal"):
        assert _read(journal) == [{"n": 1}]
        with journal.session(Counter()):
            journal.append({"n": 3})
        path.write_bytes(path.read_bytes() + b'{"n":4')  # torn again, by another process
        assert _read(journal) == []
        other = FileJournal(path)
        with other.session(Counter()):
            other.append({"n": 5})
        assert _read(journal) == [{"n": 5}]  # read from where the torn line was cut
    assert [record.getMessage() for record in caplog.records] == [
        f"journal {path}: dropped its last line, torn by a process that stopped while "
        "writing it (that record was never acknowledged)"
    ]
    assert path.read_text(encoding="utf-8") == '{"n":1}\n{"n":3}\n{"n":5}\n'
    assert _read(FileJournal(path)) == [{"n": 1}, {"n": 3}, {"n": 5}]


def test_a_torn_line_in_the_middle_is_corruption_naming_the_file_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway.jsonl"
    path.write_text('{"n":1}\n{"n":2{"n":3}\n{"n":4}\n', encoding="utf-8")
    with pytest.raises(JournalError, match="only the last line can be torn") as raised:
        _read(FileJournal(path))
    assert (raised.value.path, raised.value.line) == (str(path), 2)
    assert f"journal {path}, line 2:" in str(raised.value)
    assert isinstance(raised.value, StorageError)


@pytest.mark.parametrize("bad", ['1,{"n":9}', "[]", '"text"', "null", "\xff"])
def test_a_line_that_is_no_record_is_named_whatever_it_holds(tmp_path: Path, bad: str) -> None:
    # The lines are decoded together; one that is not a record is still named alone.
    path = tmp_path / "gateway.jsonl"
    path.write_bytes(b'{"n":1}\n\n' + bad.encode("latin-1") + b'\n{"n":4}\n')
    with pytest.raises(JournalError) as raised:
        _read(FileJournal(path))
    assert raised.value.line == 3


def test_blank_lines_are_skipped_and_records_come_in_order(tmp_path: Path) -> None:
    path = tmp_path / "gateway.jsonl"
    path.write_text('{"n":1}\n\n{"n":2}\n  \n{"n":3}\n', encoding="utf-8")
    journal = FileJournal(path)
    assert [r["n"] for r in _read(journal)] == [1, 2, 3]
    assert _read(journal) == []


def test_a_gateway_reads_its_journal_when_first_called_not_when_made(tmp_path: Path) -> None:
    path = tmp_path / "gateway.jsonl"
    path.write_text("not a record\n", encoding="utf-8")
    gateway = FakeGateway(journal=path)  # a command that never charges reads nothing
    with pytest.raises(JournalError, match="line 1"):
        gateway.lookup("order:o1")


def test_a_folder_that_does_not_exist_is_a_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "gateway.jsonl"
    with pytest.raises(JournalError, match="open the journal at another path") as raised:
        FakeGateway(journal=path)
    assert raised.value.path == str(path)
    assert isinstance(raised.value.__cause__, FileNotFoundError)


def test_a_folder_in_place_of_the_file_is_a_journal_error(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path)
    with pytest.raises(JournalError, match=r"cannot be opened or written \(Is a directory\)"):
        _read(journal)


def test_a_file_the_process_may_not_write_is_a_journal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (Refused by the operating system as a read-only file is to any user but root,
    # which these tests may run as.)
    path = tmp_path / "gateway.jsonl"
    gateway = FakeGateway(journal=path)

    def refused(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if Path(file) == path and mode != "r":
            raise PermissionError(13, "Permission denied", str(file))
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(journal_module, "open", refused, raising=False)
    with pytest.raises(JournalError, match=r"Permission denied\); give this process write"):
        gateway.charge(_request("order:o1"))
    assert path.read_bytes() == b""


def test_each_record_is_read_once_per_process_however_many_sessions(tmp_path: Path) -> None:
    path = tmp_path / "gateway.jsonl"
    lines = (json.dumps({"op": "noop", "n": n}) + "\n" for n in range(20_000))
    path.write_text("".join(lines), encoding="utf-8")
    journal = FileJournal(path)
    assert len(_read(journal)) == 20_000
    for _ in range(5):
        assert _read(journal) == []
    other = FileJournal(path)  # another process, appending one record
    with other.session(Counter()):
        other.append({"op": "noop", "n": 20_000})
    assert _read(journal) == [{"op": "noop", "n": 20_000}]
    with journal.session(Counter()):
        journal.append({"op": "noop", "n": 20_001})
    assert _read(journal) == []  # what it appended itself it does not read back


def test_a_gateway_over_a_long_journal_reads_it_once(tmp_path: Path) -> None:
    path = tmp_path / "gateway.jsonl"
    first = FakeGateway(journal=path)
    for n in range(200):
        first.charge(_request(f"order:o{n}"))
    gateway = FakeGateway(journal=path)
    assert gateway.lookup("order:o0") is not None
    # Damage a line it has read (same length): reading the whole file again would fail.
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"order:o5"', '#order:o5"', 1), encoding="utf-8")
    gateway.charge(_request("order:new"))
    assert gateway.lookup("order:o199") is not None
    assert len(gateway.succeeded_charges()) == 201


# -- checkpoints ------------------------------------------------------------------------


class Tally:
    """A checkpoint double: the sum of the records' ``n``, and the records replayed."""

    def __init__(self) -> None:
        self.total = 0
        self.replayed: list[int] = []
        self.loaded: list[Any] = []

    def __call__(self, record: Mapping[str, Any]) -> None:
        self.total += record["n"]
        self.replayed.append(record["n"])

    def dump(self) -> Any:
        return {"total": self.total}

    def load(self, state: Any) -> None:
        self.loaded.append(state)
        self.total = state["total"]


@pytest.fixture
def small_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "CHECKPOINT_BYTES", 200)


def _write(path: Path, numbers: range) -> Tally:
    journal, tally = FileJournal(path), Tally()
    for n in numbers:
        with journal.session(tally, tally):
            journal.append({"n": n})
            tally.total += n  # what a writer knows of its own records
    return tally


def test_a_later_process_reads_from_the_checkpoint_on(
    tmp_path: Path, small_checkpoints: None
) -> None:
    path = tmp_path / "gateway.jsonl"
    writer = _write(path, range(1, 101))
    assert (tmp_path / "gateway.jsonl.checkpoint").exists()
    reader = Tally()
    with FileJournal(path).session(reader, reader):
        pass
    assert reader.total == writer.total == sum(range(1, 101))
    assert len(reader.loaded) == 1
    # A quarter of the journal at most is read after the checkpoint.
    assert 0 < len(reader.replayed) <= 25
    assert reader.replayed == list(range(101 - len(reader.replayed), 101))


@pytest.mark.parametrize("damage", ["replaced", "cut", "garbled", "not ours"])
def test_a_checkpoint_that_does_not_match_the_journal_is_ignored(
    tmp_path: Path, small_checkpoints: None, damage: str
) -> None:
    path = tmp_path / "gateway.jsonl"
    _write(path, range(1, 101))
    checkpoint = tmp_path / "gateway.jsonl.checkpoint"
    if damage == "replaced":  # another journal of the same size
        path.write_text(path.read_text(encoding="utf-8").replace('"n":1}', '"n":7}', 1))
    elif damage == "cut":
        path.write_text('{"n":5}\n', encoding="utf-8")
    elif damage == "garbled":
        checkpoint.write_bytes(checkpoint.read_bytes()[:-9])
    else:
        saved = json.loads(checkpoint.read_bytes())
        saved["state"] = {"sum": 1}
        checkpoint.write_text(json.dumps(saved), encoding="utf-8")
    reader = Tally()
    with FileJournal(path).session(reader, reader):
        pass
    lines = path.read_text(encoding="utf-8").splitlines()
    assert reader.replayed == [json.loads(line)["n"] for line in lines]


def test_a_checkpoint_that_cannot_be_written_is_skipped_with_a_warning(
    tmp_path: Path, small_checkpoints: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gateway.jsonl"
    (tmp_path / "gateway.jsonl.checkpoint.partial").mkdir()
    with caplog.at_level(logging.WARNING, logger="subscriptions.journal"):
        writer = _write(path, range(1, 61))
    assert "no checkpoint written" in caplog.text
    reader = Tally()
    with FileJournal(path).session(reader, reader):
        pass
    assert reader.total == writer.total
    assert reader.replayed == list(range(1, 61))


def _gateway_book(path: Path) -> FakeGateway:
    """A gateway over the journal at ``path`` that charged, declined, completed a 3-D
    Secure charge and refunded part of a charge."""
    writer = FakeGateway(journal=path)
    for n in range(30):
        writer.charge(_request(f"order:{n}"))
    writer.charge(attrs.evolve(_request("order:declined"), payment_method="tok_declined"))
    action = writer.charge(attrs.evolve(_request("order:3ds"), payment_method="tok_3ds"))
    assert action.charge_id is not None
    writer.complete_action(action.charge_id)
    paid = writer.lookup("order:0")
    assert paid is not None
    assert paid.charge_id is not None
    writer.refund(
        RefundRequest(
            idempotency_key="refund:0",
            charge_id=paid.charge_id,
            amount=Money(Decimal("2.50"), "EUR"),
            reason="test",
        )
    )
    return writer


@pytest.mark.parametrize("checkpointed", [False, True], ids=["replayed", "checkpointed"])
def test_a_gateway_reading_the_journal_knows_what_the_writer_knew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkpointed: bool
) -> None:
    if checkpointed:
        monkeypatch.setattr(journal_module, "CHECKPOINT_BYTES", 200)
    path = tmp_path / "gateway.jsonl"
    writer = _gateway_book(path)
    assert (tmp_path / "gateway.jsonl.checkpoint").exists() is checkpointed
    reader = FakeGateway(journal=path)
    assert reader.net_charged("EUR") == writer.net_charged("EUR") == Decimal("307.50")
    assert reader.succeeded_charges() == writer.succeeded_charges()
    for key in ("order:0", "order:29", "order:declined", "order:3ds", "refund:0", "never"):
        assert reader.lookup(key) == writer.lookup(key), key
    assert (reader._requests, reader._results) == (writer._requests, writer._results)
    assert (reader._refunds, reader._refunded) == (writer._refunds, writer._refunded)
    # The same key is not charged twice by a process that read the journal.
    assert reader.charge(_request("order:3")) == writer.lookup("order:3")
    assert reader.net_charged("EUR") == Decimal("307.50")


def test_a_malformed_gateway_checkpoint_is_ignored(tmp_path: Path, small_checkpoints: None) -> None:
    path = tmp_path / "gateway.jsonl"
    writer = _gateway_book(path)
    checkpoint = tmp_path / "gateway.jsonl.checkpoint"
    saved = json.loads(checkpoint.read_bytes())
    saved["state"]["requests"] = []  # the right keys, the wrong shape
    checkpoint.write_text(json.dumps(saved), encoding="utf-8")
    reader = FakeGateway(journal=path)
    assert reader.net_charged("EUR") == writer.net_charged("EUR")
    assert reader.succeeded_charges() == writer.succeeded_charges()
