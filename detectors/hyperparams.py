"""Detector keyword arguments checked against their type annotations, with one-line errors.

Hyperparameters arrive as JSON values (`--param epochs=5`, meta.json), so the annotations
that occur are few: int, float, bool, str, a Literal of strings, `X | None` and `list[int]`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from detectors.base import DetectorError

__all__ = ["check_params", "describe", "field_types", "matches"]

# One value, and several in a list.
_NAMES: dict[Any, tuple[str, str]] = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    bool: ("a boolean (true or false)", "booleans"),
    str: ("a string", "strings"),
}


def field_types(cls: type[Any]) -> dict[str, Any]:
    """Name -> resolved annotation of each field of dataclass `cls`, in field order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _options(annotation: Any) -> tuple[Any, ...]:
    """The members of a union (`int | None` -> int, None); the annotation alone otherwise."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _describe_one(option: Any) -> str:
    if typing.get_origin(option) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(option)))
    if typing.get_origin(option) is list:
        (item,) = typing.get_args(option)
        return "a list of " + (_NAMES[item][1] if item in _NAMES else str(item))
    return _NAMES[option][0] if option in _NAMES else str(option)


def describe(annotation: Any) -> str:
    """The expected value in words: `an integer`, `a number or null`, `one of a, b`."""
    options = _options(annotation)
    words = [_describe_one(option) for option in options if option is not type(None)]
    if type(None) in options:
        words.append("null")
    return " or ".join(words)


def _matches_one(value: Any, option: Any) -> bool:
    if option is type(None):
        return value is None
    if typing.get_origin(option) is Literal:
        return any(value == c and type(value) is type(c) for c in typing.get_args(option))
    if typing.get_origin(option) is list:
        (item,) = typing.get_args(option)
        return isinstance(value, list) and all(matches(v, item) for v in value)
    if option is bool:
        return isinstance(value, bool)
    if option is int:  # JSON `true` is no integer here, though Python's bool is an int
        return isinstance(value, int) and not isinstance(value, bool)
    if option is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if option is str:
        return isinstance(value, str)
    return True  # an annotation this module does not know is left to the constructor


def matches(value: Any, annotation: Any) -> bool:
    """Whether `value` (a JSON value) fits `annotation`; an integer fits a float."""
    return any(_matches_one(value, option) for option in _options(annotation))


def check_params(detector: str, accepted: Mapping[str, Any], params: Mapping[str, Any]) -> None:
    """Raise DetectorError for a name `accepted` lacks or a value its annotation rejects.

    `accepted` maps each keyword the detector takes to its annotation. The message names
    the parameter, what it expects, and every parameter the detector takes.
    """
    takes = f"it takes: {', '.join(accepted)}"
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise DetectorError(f"{detector} has no parameter {', '.join(unknown)}; {takes}")
    for name, value in params.items():
        if not matches(value, accepted[name]):
            raise DetectorError(
                f"{detector} parameter {name} must be {describe(accepted[name])}, "
                f"got {value!r}; {takes}"
            )
