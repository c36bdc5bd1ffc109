"""subscriptions: the billing engine behind a SaaS self-service billing center."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("subscriptions")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
