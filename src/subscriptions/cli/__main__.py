"""``python -m subscriptions.cli``: the command line."""

from . import main

raise SystemExit(main())
