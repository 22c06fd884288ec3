"""Token authentication (``x-api-key``) and per-team authorisation."""

from __future__ import annotations

import sqlite3

from aiohttp import web

from blobflow.server._context import Principal, State
from blobflow.server._errors import Unauthorized

__all__ = ["authenticate"]


def _lookup(conn: sqlite3.Connection, token: str) -> Principal | None:
    row = conn.execute(
        "SELECT u.id, u.login FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token = ?",
        (token,),
    ).fetchone()
    if row is None:
        return None
    teams = conn.execute("SELECT team_id FROM team_members WHERE user_id = ?", (row[0],))
    return Principal(row[0], row[1], frozenset(t for (t,) in teams))


async def authenticate(request: web.Request, state: State) -> Principal:
    """The caller behind ``x-api-key``; 401 without a valid token."""
    token = request.headers.get("x-api-key", "")
    if not token:
        raise Unauthorized("missing x-api-key header")
    principal = state.principals.get(token)
    if principal is None:
        principal = await state.db.read(_lookup, token)
        if principal is None:
            raise Unauthorized("invalid API token")
        # Memberships never change after a tenant is created, so the lookup can be cached.
        state.principals[token] = principal
    return principal
