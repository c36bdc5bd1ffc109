"""A child process for race and crash tests: one use case, then a JSON line.

Usage: python child.py STORE JOURNAL ACTION ARGS_JSON
The ``go`` file named in the arguments is a barrier: the child waits for it so that
several children act at the same moment.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from subscriptions.errors import SubscriptionsError
from tests.processes import world


def main() -> int:
    spec, journal, action, raw = sys.argv[1:5]
    args = json.loads(raw)
    store = world.open_store(spec)
    try:
        center = world.center(
            store, journal, now=args.get("now", world.START), crash=args.get("crash")
        )
        prepared = None
        if action == "order":
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
            if action == "order":
                assert prepared is not None
                order = center.place_order(
                    args["account"],
                    world.CONTACT,
                    prepared,
                    idempotency_key=args["key"],
                    payment_method="tok_visa",
                )
                result = {"ok": True, "order": order.id, "state": order.state.value}
            elif action == "assign":
                seats = center.assign_seats(
                    args["account"], world.CONTACT, "remote-support", [args["user"]]
                )
                result = {"ok": True, "users": list(seats.users)}
            else:
                raise SystemExit(f"unknown action {action}")
        except SubscriptionsError as exc:
            result = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        print(json.dumps(result), flush=True)
        return 0
    finally:
        world.close(store)


if __name__ == "__main__":
    raise SystemExit(main())
