"""The command line at a terminal and around it: help on every command and parameter,
shell completion, rich tables and a progress bar on a terminal, plain text in a pipe,
``NO_COLOR``, and the extra the command line needs."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import CLI_ACCOUNT, cli

from subscriptions.cli import DEMO_CATALOG, EXTRA_ADVICE, main
from subscriptions.cli.app import root
from subscriptions.cli.output import table
from subscriptions.cli.show import Terminal

SCRIPT = Path(sys.executable).with_name("subscriptions")
COLOUR = re.compile(r"\x1b\[3\dm")


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def _leaves() -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for path in _commands(root):
        command: Any = root
        for word in path:
            command = command.commands[word]
        if not isinstance(command, click.Group):
            found.append((path, command))
    return found


@pytest.mark.parametrize("path", list(_commands(root)), ids=" ".join)
def test_every_command_has_help_with_the_global_options(path: tuple[str, ...]) -> None:
    out = io.StringIO()
    assert main([*path, "--help"], stdout=out) == 0
    text = out.getvalue()
    assert text.startswith(f"Usage: subscriptions {' '.join(path)}")
    assert "Global options (anywhere on the line):" in text
    assert "--json" in text
    assert "--db" in text


def test_every_argument_and_option_says_what_it_is() -> None:
    leaves = _leaves()
    assert len(leaves) > 40
    for path, command in leaves:
        assert command.help, path
        for param in command.params:
            if param.name == "help":
                continue
            assert getattr(param, "help", None), (path, param.name)


def test_choices_and_defaults_are_in_the_help() -> None:
    out = io.StringIO()
    assert main(["cart", "add", "--help"], stdout=out) == 0
    assert "[monthly|quarterly|semiannual|annual|biennial]" in out.getvalue()
    out = io.StringIO()
    assert main(["corporate", "order", "--help"], stdout=out) == 0
    assert "[default: 30]" in out.getvalue()


def test_a_group_without_its_command_shows_its_help_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = io.StringIO()
    assert main(["invoice", "--json"], stdout=out) == 2
    err = capsys.readouterr().err
    assert "Usage: subscriptions invoice" in err
    assert "pay" in err
    assert '"type": "UsageError"' in out.getvalue()


def test_without_its_extra_the_command_line_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    out = io.StringIO()
    assert main(["catalog", "show"], stdout=out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "needs rich" in err
    assert EXTRA_ADVICE in err
    assert out.getvalue() == ""


def test_the_shell_completes_commands_and_options() -> None:
    env = {
        **os.environ,
        "_SUBSCRIPTIONS_COMPLETE": "bash_complete",
        "COMP_WORDS": "subscriptions cat",
        "COMP_CWORD": "1",
    }
    done = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["plain,catalog"]
    env.update(COMP_WORDS="subscriptions cart add --fre", COMP_CWORD="3")
    done = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["plain,--frequency"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_script_is_printed_for_each_shell(shell: str) -> None:
    out = io.StringIO()
    assert main(["completion", shell], stdout=out) == 0
    assert "_SUBSCRIPTIONS_COMPLETE" in out.getvalue()


def test_completion_refuses_an_unknown_shell(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "tcsh"], stdout=io.StringIO()) == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in capsys.readouterr().err


# -- what a person sees ----------------------------------------------------------------

_SHOWN = ["Head\n", table([("a", "failed"), ("b", "paid")], ("item", "state")), "tail\n"]


def test_a_pipe_gets_plain_text() -> None:
    out = io.StringIO()
    Terminal(out).show(_SHOWN)
    assert out.getvalue() == "Head\nitem  state\n----  ------\na     failed\nb     paid\ntail\n"


def test_a_terminal_gets_a_drawn_table_whose_colour_repeats_the_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    Terminal(out, force=True).show(_SHOWN)
    text = out.getvalue()
    assert "─" in text
    assert COLOUR.search(text)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "failed" in plain
    assert "paid" in plain


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    Terminal(out, force=True).show(_SHOWN)
    assert "─" in out.getvalue()
    assert "failed" in out.getvalue()
    assert not COLOUR.search(out.getvalue())


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_has_a_total_and_the_time_left() -> None:
    err = _Tty()
    screen = Terminal(io.StringIO(), err=err)
    assert screen.shows_progress(as_json=False)
    assert not screen.shows_progress(as_json=True)
    with screen.progress("Renewing", 10) as progress:
        progress(4)
        progress(12)  # a late run renews some subscriptions twice: the total grows
    text = err.getvalue()
    assert "Renewing" in text
    assert "12/12" in text
    assert "left" in text


def test_no_progress_is_drawn_where_nobody_watches() -> None:
    err = io.StringIO()
    screen = Terminal(io.StringIO(), err=err)
    assert not screen.shows_progress(as_json=False)
    with screen.progress("Renewing", 10) as progress:
        progress(3)
    assert err.getvalue() == ""


def _on_a_terminal(*argv: str) -> str:
    """What ``subscriptions ARGV`` prints with a pseudo-terminal as its stdout."""
    main_fd, child_fd = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env.update(TERM="xterm-256color", COLUMNS="120")
    process = subprocess.Popen([str(SCRIPT), *argv], stdout=child_fd, env=env)
    os.close(child_fd)
    drawn = _read_all(main_fd)
    assert process.wait(timeout=60) == 0
    return drawn


def _read_all(fd: int) -> str:
    """Everything written to the terminal whose other end is ``fd``, until it closes."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def test_the_catalog_is_drawn_on_a_terminal_and_plain_in_a_pipe(tmp_path: Path) -> None:
    db = tmp_path / "book.sqlite3"
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(DEMO_CATALOG, encoding="utf-8")
    assert cli(db, "catalog", "load", str(catalog))[0] == 0
    drawn = _on_a_terminal("--db", str(db), "catalog", "show")
    assert "─" in drawn
    assert "\x1b[1m" in drawn
    assert "remote-support" in drawn
    piped = subprocess.run(
        [str(SCRIPT), "--db", str(db), "catalog", "show"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "\x1b" not in piped
    assert "─" not in piped
    assert piped.splitlines()[1].startswith("product")


def _completions(*words: str, cwd: Path | None = None) -> list[str]:
    env = {
        **os.environ,
        "_SUBSCRIPTIONS_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(("subscriptions", *words)),
        "COMP_CWORD": str(len(words)),
    }
    done = subprocess.run(
        [str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, cwd=cwd, check=True
    )
    assert done.stderr == ""
    return [line.removeprefix("plain,") for line in done.stdout.split()]


def test_the_shell_completes_account_and_product_ids_from_the_database(tmp_path: Path) -> None:
    db = tmp_path / "book.sqlite3"
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(DEMO_CATALOG, encoding="utf-8")
    assert cli(db, "catalog", "load", str(catalog))[0] == 0
    for name in ("acme", "acorn", "bianchi"):
        assert (
            cli(db, "account", "create", "--id", name, *CLI_ACCOUNT[4:], "--country", "IT")[0] == 0
        )
    assert _completions("--db", str(db), "trial", "start", "ac") == ["acme", "acorn"]
    assert _completions("--db", str(db), "trial", "start", "acme", "mo") == ["monitoring"]
    # No database where the line points: no suggestion, and none is created.
    assert _completions("trial", "start", "", cwd=tmp_path / "..") == []
    assert not (tmp_path.parent / "subscriptions.sqlite3").exists()


def test_a_bill_run_at_a_terminal_draws_its_progress_with_the_total(tmp_path: Path) -> None:
    db = tmp_path / "book.sqlite3"
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(DEMO_CATALOG, encoding="utf-8")
    assert cli(db, "catalog", "load", str(catalog))[0] == 0
    assert cli(db, *CLI_ACCOUNT, "--country", "IT", "--payment-method", "tok_visa")[0] == 0
    for product in ("monitoring", "remote-support"):
        assert cli(db, "cart", "add", "acme", product, "--user", "anna")[0] == 0
    _, quote = cli(db, "quote", "acme", "--user", "anna")
    assert cli(db, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k")[0] == 0
    main_fd, child_fd = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env.update(TERM="xterm-256color", COLUMNS="120", SUBSCRIPTIONS_NOW="2026-12-03T09:00:00+01:00")
    process = subprocess.Popen(
        [str(SCRIPT), "--db", str(db), "renew"],
        stdout=subprocess.PIPE,
        stderr=child_fd,
        env=env,
        text=True,
    )
    os.close(child_fd)
    drawn = _read_all(main_fd)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert "Renewing" in text
    assert "2/2" in text  # both subscriptions were due, and both done
    assert "left" in text
    assert re.search(r"^renewed\s+2$", out, re.M)  # the report, plain in the pipe
    assert "\x1b" not in out


def test_the_command_line_imports_and_explains_itself_with_no_click_nor_rich() -> None:
    blocked = (
        "import sys; sys.modules['click'] = None; sys.modules['rich'] = None\n"
        "from subscriptions.cli import main\n"
        "raise SystemExit(main(['catalog', 'show']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "subscriptions: error: the command line needs click and rich, which its optional "
        f"extra installs: {EXTRA_ADVICE}\n"
    )
