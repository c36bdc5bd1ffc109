"""A child process for race and crash tests: one use case, then a JSON line.

Usage: python child.py STORE JOURNAL ACTION ARGS_JSON
The ``go`` file named in the arguments is a barrier: the child waits for it so that
several children act at the same moment. ``crash`` names where the child kills itself
(SIGKILL: nothing is cleaned up) or breaks its store: the order path's points are
in :func:`world.center`, the others in :func:`arm`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from subscriptions import BillingCenter
from subscriptions.center import attempts, billrun, purchase
from subscriptions.errors import SubscriptionsError
from tests.processes import world


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(center: BillingCenter, spec: str, crash: str | None) -> None:
    """Set the crash point ``crash`` of the bill run (or of an order's recording).

    * ``before_charges``: killed once the batch is committed, before any charge;
    * ``after_charges:N``: killed after the gateway took N charges;
    * ``before_record``: killed after the charges, before recording them;
    * ``inside_record``: killed inside the recording transaction, before its commit;
    * ``store_busy``: (orders) after the charge, another connection holds the SQLite
      write lock past the store's timeout;
    * ``backend_killed``: (orders) once charged, as the order is being completed, the
      PostgreSQL backends of this process are terminated;
    * ``backend_killed_in_record``: the same, as the bill run records its charges.
    """
    if crash is None:
        return
    if crash == "before_charges":
        real_send = attempts.send_patiently

        def send(*args: Any, **kwargs: Any) -> Any:
            _die()
            return real_send(*args, **kwargs)

        attempts.send_patiently = send  # type: ignore[assignment]
    elif crash.startswith("after_charges:"):
        limit = int(crash.split(":")[1])
        gateway = center.gateway
        real_charge = gateway.charge
        made: list[str] = []

        def charge(request: Any) -> Any:
            if len(made) >= limit:
                _die()
            result = real_charge(request)
            made.append(request.idempotency_key)
            return result

        gateway.charge = charge  # type: ignore[method-assign]
    elif crash == "before_record":

        def record(*args: Any, **kwargs: Any) -> Any:
            _die()

        billrun._record_all = record  # type: ignore[assignment]
    elif crash == "inside_record":
        real_record = billrun._record_all

        def record_then_die(center: Any, uow: Any, *args: Any, **kwargs: Any) -> Any:
            real_record(center, uow, *args, **kwargs)
            uow.flush()  # everything written, nothing committed
            _die()

        billrun._record_all = record_then_die  # type: ignore[assignment]
    elif crash == "store_busy":
        gateway = center.gateway
        real_charge = gateway.charge

        def charge_then_lock(request: Any) -> Any:
            result = real_charge(request)
            blocker = sqlite3.connect(spec.partition(":")[2], isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            _keep.append(blocker)
            return result

        gateway.charge = charge_then_lock  # type: ignore[method-assign]
    elif crash == "backend_killed":
        real_complete = purchase.complete

        def complete(center: Any, uow: Any, *args: Any, **kwargs: Any) -> Any:
            uow.orders.get("-")  # the transaction has its connection
            _terminate_my_backends(spec)
            return real_complete(center, uow, *args, **kwargs)

        purchase.complete = complete  # type: ignore[assignment]
    elif crash == "backend_killed_in_record":
        real_record = billrun._record_all

        def record(center: Any, uow: Any, *args: Any, **kwargs: Any) -> Any:
            uow.orders.get("-")
            _terminate_my_backends(spec)
            return real_record(center, uow, *args, **kwargs)

        billrun._record_all = record  # type: ignore[assignment]


_keep: list[Any] = []


def _terminate_my_backends(spec: str) -> None:
    import psycopg

    _, _, dsn = spec.partition(":")[2].partition("@")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND application_name = %s",
            (f"child-{os.getpid()}",),
        )


def main() -> int:
    spec, journal, action, raw = sys.argv[1:5]
    args = json.loads(raw)
    os.environ["PGAPPNAME"] = f"child-{os.getpid()}"
    store = world.open_store(spec, timeout=args.get("timeout"))
    try:
        center = world.center(
            store,
            journal,
            now=args.get("now", world.START),
            crash=args.get("crash"),
            batch_size=args.get("batch_size"),
        )
        arm(center, spec, args.get("crash"))
        prepared = args.get("quote")
        if action == "order" and prepared is None:
            # Each child reviews its own quote of the same cart before the race.
            prepared = center.quote(args["account"], world.CONTACT).id
        barrier = args.get("go")
        if barrier:
            Path(args["ready"]).touch()
            deadline = time.monotonic() + 30
            while not Path(barrier).exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the barrier never opened")
                time.sleep(0.001)
        try:
            result = _act(center, action, args, prepared)
        except SubscriptionsError as exc:
            result = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        print(json.dumps(result), flush=True)
        return 0
    finally:
        world.close(store)


def _act(center: BillingCenter, action: str, args: dict[str, Any], quote: str | None) -> Any:
    if action == "order":
        assert quote is not None
        order = center.place_order(
            args["account"],
            world.CONTACT,
            quote,
            idempotency_key=args["key"],
            payment_method=args.get("token", "tok_visa"),
        )
        return {"ok": True, "order": order.id, "state": order.state.value}
    if action == "assign":
        seats = center.assign_seats(
            args["account"], world.CONTACT, "remote-support", [args["user"]]
        )
        return {"ok": True, "users": list(seats.users)}
    if action == "renew":
        report = center.run_renewals()
        return {"ok": True, "renewed": report.renewed, "charged": report.charged}
    if action == "reconcile":
        rec = center.reconcile()
        return {"ok": True, "resolved": [a.idempotency_key for a in rec.resolved]}
    if action == "pay":
        invoice = center.pay_invoice(
            args["account"], world.CONTACT, args["invoice"], idempotency_key=args["key"]
        )
        return {"ok": True, "status": invoice.status.value}
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    raise SystemExit(main())
