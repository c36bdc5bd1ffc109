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


def _errors() -> dict[str, type[subscriptions.SubscriptionsError]]:
    from subscriptions import errors

    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.SubscriptionsError)
    }


def test_every_error_is_exported_from_the_package() -> None:
    missing = sorted(set(_errors()) - set(subscriptions.__all__))
    assert not missing, f"errors a host may catch, not exported by subscriptions: {missing}"


def test_every_error_the_library_defines_is_in_errors_py() -> None:
    # Every error the library raises lives in the one tree: none defined elsewhere.
    import pkgutil

    import subscriptions as package

    for info in pkgutil.walk_packages(package.__path__, "subscriptions."):
        if info.name.startswith("subscriptions.cli"):
            continue  # the face's own usage error, never raised to a host
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency not installed
            continue
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Exception):
                assert value.__module__ in ("subscriptions.errors", "builtins") or (
                    not value.__module__.startswith("subscriptions")
                ), f"{info.name}.{name} is defined in {value.__module__}, not in errors.py"


def test_the_tree_in_errors_py_draws_every_error_under_its_parent() -> None:
    from subscriptions import errors

    assert errors.__doc__ is not None
    drawn = [
        line
        for line in errors.__doc__.splitlines()
        if "SubscriptionsError" in line or "── " in line
    ]
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in drawn:
        name_at = len(line) - len(line.lstrip(" │├└─"))
        name = line[name_at:].split(" ")[0]
        while stack and stack[-1][0] >= name_at:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((name_at, name))
    classes = _errors()
    assert set(parents) | {"SubscriptionsError"} == set(classes)
    for name, parent in parents.items():
        first = next(b for b in classes[name].__bases__ if issubclass(b, errors.SubscriptionsError))
        assert first.__name__ == parent, f"{name} is drawn under {parent}, not {first.__name__}"
