"""``docs/command-line.md`` is a session a newcomer pastes into a shell: its ``sh``
blocks run here in order, in one shell in an empty folder, and each ``text`` block
right after one is exactly what that block prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).parents[2] / "docs" / "command-line.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
_MARK = "@@@ block "


def _steps() -> list[tuple[str, str | None]]:
    """Each ``sh`` block, with the ``text`` block that follows it (if one does)."""
    text = PAGE.read_text(encoding="utf-8")
    blocks = list(_BLOCK.finditer(text))
    steps: list[tuple[str, str | None]] = []
    for here, after in zip(blocks, [*blocks[1:], None], strict=True):
        if here.group(1) != "sh":
            continue
        follows = (
            after is not None
            and after.group(1) == "text"
            and not text[here.end() : after.start()].strip()
        )
        steps.append((here.group(2), after.group(2) if follows and after else None))
    return steps


def test_the_page_has_a_whole_journey() -> None:
    steps = _steps()
    script = "".join(code for code, _ in steps)
    for command in ("checkout", "fake authenticate", "payment confirm", "corporate confirm"):
        assert f"subscriptions {command}" in script
    assert sum(expected is not None for _, expected in steps) >= 10


def test_every_block_prints_what_the_page_says(tmp_path: Path) -> None:
    steps = _steps()
    script = "set -eu\n" + "".join(
        f"echo '{_MARK}{i}'\n{code}" for i, (code, _) in enumerate(steps)
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SUBSCRIPTIONS_", "STRIPE_")) and k not in ("NO_COLOR", "COLUMNS")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    printed = re.split(rf"^{_MARK}(\d+)\n", done.stdout, flags=re.M)[1:]
    outputs = {int(i): out for i, out in zip(printed[::2], printed[1::2], strict=True)}
    for i, (code, expected) in enumerate(steps):
        if expected is not None:
            assert outputs[i] == expected, f"the block\n{code}\nprinted\n{outputs[i]}"
