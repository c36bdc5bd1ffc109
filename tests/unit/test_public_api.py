"""The package's public surface: an explicit, sorted __all__ that really exports."""

from __future__ import annotations

import importlib

import subscriptions


def test_all_is_sorted_and_unique() -> None:
    names = list(subscriptions.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_every_public_name_is_importable() -> None:
    for name in subscriptions.__all__:
        assert hasattr(subscriptions, name), name


def test_optional_adapters_are_not_imported_eagerly() -> None:
    # psycopg is an optional extra: importing the package must not need it.
    module = importlib.import_module("subscriptions")
    assert "PostgresStore" not in module.__all__


def test_the_version_is_a_string() -> None:
    assert isinstance(subscriptions.__version__, str)
    assert subscriptions.__version__
