"""Helpers shared by the test folders (each folder's own live in its ``_helpers.py``)."""

from __future__ import annotations

from blobflow import TransferConfig

__all__ = ["FAST"]

#: retries without the real backoff: fault-injection tests stay fast
FAST = TransferConfig(backoff_base=0.001, backoff_cap=0.01)
