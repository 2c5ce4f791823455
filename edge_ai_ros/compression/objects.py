"""The user's objects a recipe names: ``package.module:attribute`` strings, resolved and called.

A recipe says ``model.factory: my_pkg.models:build``; this module imports ``my_pkg.models``,
takes ``build`` and calls it with the recipe's keyword arguments. Every failure (the module
does not import, the attribute is missing, the call raises, the result is the wrong kind) is a
ConfigError naming the recipe field, raised before any training.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from edge_ai_ros.errors import ConfigError


def resolve(spec: str, field_name: str) -> Any:
    """The object ``spec`` ("package.module:attribute", attribute may be dotted) names."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(field_name, f"{spec!r} is not 'package.module:attribute'",
                          fix="name the object as e.g. my_pkg.models:build")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(field_name, f"module {module_name!r} does not import: {err}",
                          fix="install the package or put it on PYTHONPATH; check the spelling") from err
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ConfigError(field_name, f"{module_name!r} has no attribute {attribute!r}",
                              fix=f"use a name defined in {module_name}")
        obj = getattr(obj, part)
    return obj


def accepts(func: Callable[..., Any], name: str) -> bool:
    """True if ``func`` takes a keyword argument ``name`` (or any keyword)."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def call_factory(spec: str, kwargs: Mapping[str, Any], field_name: str, *, expect: type | tuple[type, ...] | None = None,
                 what: str = "", **extra: Any) -> Any:
    """Resolve ``spec``, call it with ``kwargs`` (plus each of ``extra`` it accepts), check the kind."""
    factory = resolve(spec, field_name)
    if not callable(factory):
        raise ConfigError(field_name, f"{spec!r} is not callable", fix="name a function or class")
    passed = dict(kwargs) | {k: v for k, v in extra.items() if accepts(factory, k)}
    try:
        result = factory(**passed)
    except TypeError as err:
        raise ConfigError(field_name, f"calling {spec} with {sorted(passed)} failed: {err}",
                          fix="match the recipe's kwargs to the factory's parameters") from err
    if expect is not None and not isinstance(result, expect):
        raise ConfigError(field_name, f"{spec} returned {type(result).__name__}, not {what or expect}",
                          fix=f"make the factory return {what or expect}")
    return result
