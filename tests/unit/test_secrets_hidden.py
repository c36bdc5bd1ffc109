"""A 3-D Secure step may be a client secret (Stripe's ``pi_..._secret_...``): the host's
payment page needs it, and no repr, log line or command-line output shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from subscriptions.cli.output import WITHHELD
from subscriptions.cli.output import jsonable as _jsonable
from subscriptions.payments import PaymentResult, PaymentStatus, order_attempt

SECRET = "pi_3Abc_secret_XyZ"
AT = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_records_never_show_the_secret_in_their_repr() -> None:
    result = PaymentResult(status=PaymentStatus.REQUIRES_ACTION, next_action=SECRET)
    attempt = attrs.evolve(
        order_attempt(
            account_id="a",
            order_id="o",
            amount=Decimal("1.00"),
            currency="EUR",
            payment_method="pm_card_visa",
            at=AT,
            lease=timedelta(minutes=5),
        ),
        next_action=SECRET,
    )
    assert attempt.next_action == SECRET  # kept for the host
    for record in (result, attempt):
        assert SECRET not in repr(record)
        assert "secret" not in repr(record)


def test_the_command_line_prints_a_url_but_never_a_secret() -> None:
    url = "https://hooks.stripe.com/3d_secure_2/authenticate/pi_1"
    shown = _jsonable(PaymentResult(status=PaymentStatus.REQUIRES_ACTION, next_action=url))
    assert shown["next_action"] == url
    hidden = _jsonable(PaymentResult(status=PaymentStatus.REQUIRES_ACTION, next_action=SECRET))
    assert hidden["next_action"] == WITHHELD
    sneaky = f"https://example.test/pay?client_secret={SECRET}"
    assert (
        _jsonable(PaymentResult(status=PaymentStatus.DECLINED, next_action=sneaky))["next_action"]
        == WITHHELD
    )
