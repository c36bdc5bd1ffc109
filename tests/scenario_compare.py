"""Compare a scenario result with an expected file, as SCENARIOS.md specifies.

Every key shown in the expected file is compared exactly, as strings; extra keys in
the output are allowed; for ``refused`` only the event indexes are compared; datetimes
are compared as instants.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)")


def differences(expected: Any, got: Any, path: str = "$") -> list[str]:
    """Every place where ``got`` does not match ``expected``."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object, got {got!r}"]
        found: list[str] = []
        for key, value in expected.items():
            if key not in got:
                found.append(f"{path}.{key}: missing")
            elif key == "refused":
                want = [r["event"] for r in value]
                have = [r["event"] for r in got[key]]
                if want != have:
                    found.append(f"{path}.refused: events {want} expected, got {got[key]}")
            else:
                found.extend(differences(value, got[key], f"{path}.{key}"))
        return found
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {got!r}"]
        found = []
        for i, (want, have) in enumerate(zip(expected, got, strict=True)):
            found.extend(differences(want, have, f"{path}[{i}]"))
        return found
    if (
        isinstance(expected, str)
        and isinstance(got, str)
        and _INSTANT.fullmatch(expected)
        and _INSTANT.fullmatch(got)
        and datetime.fromisoformat(expected) == datetime.fromisoformat(got)
    ):
        return []
    if expected != got or type(expected) is not type(got):
        return [f"{path}: expected {expected!r}, got {got!r}"]
    return []
