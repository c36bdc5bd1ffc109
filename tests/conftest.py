"""Fixtures shared by the test packages: the session's localstripe server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateways.stripe_support import localstripe_or_skip


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """The base URL of a localstripe started for the session (skipped without it,
    failing on CI)."""
    yield from localstripe_or_skip()
