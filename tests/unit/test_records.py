"""A record's next version."""

from __future__ import annotations

import attrs

from subscriptions._records import revised
from subscriptions.cart import Cart


def test_revised_is_the_next_version_with_the_changes() -> None:
    cart = Cart(account_id="acct", version=3)
    moved = revised(cart, items=())
    assert (moved.version, moved.account_id, moved.items) == (4, "acct", ())
    assert cart.version == 3  # the record itself is frozen
    assert revised(moved) == attrs.evolve(moved, version=5)
