"""The package imports where optional pieces are missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_library_imports_without_fcntl() -> None:
    done = _run(
        """
        import sys
        sys.modules["fcntl"] = None  # as on a platform without it
        import subscriptions
        import subscriptions.adapters.fakes
        from subscriptions import FakeGateway, InvalidInput
        gateway = FakeGateway()  # no journal: no file lock needed
        try:
            FakeGateway(journal="gateway.jsonl")
        except InvalidInput as exc:
            print("refused:", exc)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "refused: a journal file needs POSIX file locks" in done.stdout


def test_the_adapters_package_imports_no_optional_dependency() -> None:
    done = _run(
        """
        import sys
        sys.modules["psycopg"] = None
        sys.modules["psycopg_pool"] = None
        import subscriptions.adapters
        import subscriptions.adapters.memory, subscriptions.adapters.fakes
        import subscriptions.adapters.sqlite
        print("ok")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
