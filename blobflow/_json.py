"""JSON on the hot paths (request and response bodies, annotation files), through orjson.

Annotations are most of the bytes a transfer parses and writes: with the stdlib ``json``,
decoding and re-encoding 30,000 of them was the largest single CPU cost of both the client
and the reference server. orjson is strict where we want strictness (no NaN/Infinity, no
out-of-range numbers, valid UTF-8, nesting at most 1,024 deep), so the same call serves the
server's "reject malformed bodies" rule. Small, cold JSON (settings, CLI output, ``meta.json``
with its indentation) stays on the stdlib.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["loads", "dumps", "Encoded", "JSONDecodeError"]

JSONDecodeError = orjson.JSONDecodeError  # a ValueError

#: JSON already encoded (the bytes of a checked file), embedded by :func:`dumps` as it is: a
#: checked annotation file goes into a request body without being parsed a second time.
Encoded = orjson.Fragment


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse strict JSON; a :class:`JSONDecodeError` (a ``ValueError``) if it is not."""
    return orjson.loads(data)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON. A ``TypeError`` for what JSON cannot hold (sets, integers past 64
    bits, non-string keys, nesting deeper than 254)."""
    return orjson.dumps(obj)
