"""Typed access to a JSON request body: every wrong type is a 400 naming the field."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from blobflow.server._errors import BadRequest

__all__ = ["Body", "as_int", "as_str", "as_dict", "as_list", "int_list"]

_MISSING: Any = object()


def _type_error(field: str, expected: str, value: Any) -> BadRequest:
    return BadRequest(f"'{field}' must be {expected}, got {type(value).__name__}")


def as_int(value: Any, field: str) -> int:
    # bool is an int subclass; a JSON true is not an id.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(field, "an integer", value)
    if not -(2**63) <= value < 2**63:
        raise BadRequest(f"'{field}' is out of range")
    return value


def as_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _type_error(field, "a string", value)
    if "\x00" in value:
        raise BadRequest(f"'{field}' must not contain NUL characters")
    return value


def as_dict(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _type_error(field, "an object", value)
    return value


def as_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise _type_error(field, "an array", value)
    return value


def int_list(value: Any, field: str) -> list[int]:
    items = as_list(value, field)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not -(2**63) <= item < 2**63:
            raise BadRequest(f"'{field}' must be an array of integers")
    return items


class Body:
    """A request's JSON object with typed getters (``None`` counts as missing)."""

    def __init__(self, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise BadRequest("the request body must be a JSON object")
        self.data: Mapping[str, Any] = data

    def _get(self, key: builtins.str, default: Any) -> Any:
        value = self.data.get(key)
        if value is None:
            if default is _MISSING:
                raise BadRequest(f"'{key}' is required")
            return default
        return value

    def int(self, key: builtins.str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        return value if value is default else as_int(value, key)

    def str(self, key: builtins.str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        return value if value is default else as_str(value, key)

    def bool(self, key: builtins.str, default: bool = False) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise _type_error(key, "a boolean", value)
        return value

    def dict(self, key: builtins.str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        return value if value is default else as_dict(value, key)

    def list(self, key: builtins.str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        return value if value is default else as_list(value, key)

    def int_list(self, key: builtins.str) -> builtins.list[builtins.int]:
        return int_list(self._get(key, _MISSING), key)
