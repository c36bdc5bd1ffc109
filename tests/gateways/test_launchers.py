"""The CI rule of the stand-ins the tests start (localstripe, the VIES stand-in): one
that cannot start skips its tests with a message saying how to run them, except with
``CI=true``, where they must run, so they fail."""

from __future__ import annotations

import re
import socket
import sys

import pytest

from tests.gateways import stripe_support
from tests.integration.conftest import _cannot_start, start_vies_standin

#: What "CI" may be set to in each case (the check ignores case).
ON_CI = ["true", "TRUE"]
OFF_CI = [None, "", "false", "1"]


def _ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)


def _no_localstripe() -> tuple[object, str]:
    raise RuntimeError("localstripe did not start (test)")


@pytest.mark.parametrize("ci", ON_CI)
def test_localstripe_that_cannot_start_fails_on_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    _ci(monkeypatch, ci)
    monkeypatch.setattr(stripe_support, "start_localstripe", _no_localstripe)
    with pytest.raises(pytest.fail.Exception, match="on CI these tests must run"):
        next(stripe_support.localstripe_or_skip())


@pytest.mark.parametrize("ci", OFF_CI)
def test_localstripe_that_cannot_start_skips_elsewhere_saying_how(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    _ci(monkeypatch, ci)
    monkeypatch.setattr(stripe_support, "start_localstripe", _no_localstripe)
    with pytest.raises(pytest.skip.Exception, match=r"pip install -e '\.\[stripe,test\]'") as seen:
        next(stripe_support.localstripe_or_skip())
    assert "(test)" in str(seen.value)


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), (None, pytest.skip.Exception)]
)
def test_localstripe_whose_python_cannot_run_follows_the_rule(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    # The real start, failing: the launcher's interpreter does not exist.
    _ci(monkeypatch, ci)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    with pytest.raises(outcome, match="localstripe could not be started"):
        next(stripe_support.localstripe_or_skip())


@pytest.mark.parametrize("ci", ON_CI)
def test_the_vies_standin_that_cannot_start_fails_on_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    _ci(monkeypatch, ci)
    with pytest.raises(pytest.fail.Exception, match="could not start: no port"):
        _cannot_start("no port")


@pytest.mark.parametrize("ci", OFF_CI)
def test_the_vies_standin_that_cannot_start_skips_elsewhere_saying_how(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    _ci(monkeypatch, ci)
    with pytest.raises(pytest.skip.Exception, match=re.escape("python -m tests.vies_standin")):
        _cannot_start("no port")


@pytest.mark.parametrize(
    "command",
    [
        (sys.executable, "-c", "print('not a port'); import sys; sys.exit(3)"),
        (sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(1)"),
        ("/nonexistent/python3", "-m", "tests.vies_standin"),
    ],
    ids=["no-port", "crash", "no-python"],
)
@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), (None, pytest.skip.Exception)]
)
def test_the_vies_standins_real_start_failing_follows_the_rule(
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    ci: str | None,
    outcome: type[BaseException],
) -> None:
    _ci(monkeypatch, ci)
    with pytest.raises(outcome, match="the VIES stand-in could not start"):
        next(start_vies_standin(command))


def test_the_vies_standin_starts_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same start, working: the rule above is about failing starts only.
    monkeypatch.setenv("CI", "true")
    started = start_vies_standin()
    standin = next(started)
    socket.create_connection(("127.0.0.1", standin.port), timeout=5).close()
    started.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", standin.port), timeout=5)
