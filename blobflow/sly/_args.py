"""SDK arguments that ``blobflow.sly`` does not support: a clear ``NotImplementedError``."""

from __future__ import annotations

__all__ = ["refuse"]


def refuse(method: str, nearest: str, **given: object) -> None:
    """Raise for the first argument given a value other than the SDK default (None / False).

    Never a silent different behaviour: the error names the argument and the nearest form
    that blobflow supports.
    """
    for name, value in given.items():
        if value is not None and value is not False:
            raise NotImplementedError(
                f"blobflow.sly: {method}({name}={value!r}) is not supported; {nearest}"
            )
