"""The command line ends quietly: a database it cannot reach is one error line, a
reader that goes away (``| head -1``) ends it with no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "subscriptions"
LONG_OUTPUT = [str(SCRIPT), "--json", "simulate", "--example", "trial_then_upgrade"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_reader_gone_before_the_output_ends_the_command_with_141(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            LONG_OUTPUT, stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "PYTHONUNBUFFERED"])
def test_a_long_output_cut_short_ends_with_141_however_python_buffers(
    unbuffered: str, tmp_path: Path
) -> None:
    """Unbuffered, Python writes part of a long text to a pipe whose reader has gone,
    and says nothing: the command line buffers its output itself."""
    db = tmp_path / "demo.sqlite3"
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    subprocess.run([str(SCRIPT), "--db", str(db), "demo"], env=env, check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    long = [str(SCRIPT), "--db", str(db), "--json", "renew", "--dry-run",
            "--until", "2075-01-01T00:00:00+01:00"]  # fmt: skip
    child = subprocess.Popen(long, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert child.stdout is not None
    assert child.stderr is not None
    assert child.stdout.read(100).startswith(b"{")
    child.stdout.close()  # as head -c 100 does, long before the output ends
    err = child.stderr.read()
    child.stderr.close()
    assert child.wait(timeout=60) == 141
    assert err == b""


def test_a_reader_that_stops_after_one_line_sees_no_traceback(tmp_path: Path) -> None:
    child = subprocess.Popen(
        LONG_OUTPUT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert child.stdout is not None
    assert child.stderr is not None
    assert child.stdout.readline() == "{\n"
    child.stdout.close()  # as head -1 does
    err = child.stderr.read()
    child.stderr.close()
    # The output may have fitted in the pipe before the reader left: then it ends 0.
    assert child.wait(timeout=30) in (0, 141)
    assert err == ""


def test_a_postgresql_url_that_cannot_connect_is_one_line_at_once(tmp_path: Path) -> None:
    pytest.importorskip("psycopg", reason="needs the 'postgres' extra")
    url = f"postgresql://postgres@127.0.0.1:{_free_port()}/test"
    started = time.monotonic()
    done = subprocess.run(
        [str(SCRIPT), "--db", url, "catalog", "show"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "SUBSCRIPTIONS_GATEWAY_JOURNAL": str(tmp_path / "gateway.jsonl")},
    )
    assert time.monotonic() - started < 5
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("subscriptions: error: cannot connect to PostgreSQL")
    assert "Connection refused" in line
