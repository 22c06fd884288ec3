"""What a method handler sees: the app state, the caller, and the method registry."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from blobflow import _json
from blobflow.server._db import Database, Tenant
from blobflow.server._errors import BadRequest, Forbidden, NotFound
from blobflow.server._http import RateShaper
from blobflow.server._storage import BlobStore

__all__ = [
    "ServerConfig",
    "State",
    "Principal",
    "Ctx",
    "STATE",
    "JSON_METHODS",
    "RAW_METHODS",
    "json_method",
    "raw_method",
    "parse_json",
]


@dataclass
class ServerConfig:
    data_dir: Path
    token: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    latency_ms: float = 0.0
    bandwidth_mbps: float | None = None
    max_json_bytes: int = 64 << 20
    max_upload_bytes: int = 1 << 40
    default_per_page: int = 1000
    max_per_page: int = 20000
    #: ``postgresql://...`` for PostgreSQL; ``None``: SQLite in the data dir.
    db_url: str | None = None
    #: ``s3://bucket/prefix`` for S3-compatible storage; ``None``: files in the data dir.
    storage_url: str | None = None
    #: How long start-up waits for the database and the object store to answer.
    startup_timeout_s: float = 30.0
    #: Orphaned stored files younger than this are kept (another node may be committing them);
    #: ``None``: the store's default (0 for local files, one hour for S3).
    sweep_grace_s: float | None = None
    #: Sweep orphans every this many seconds while running (0: only at start-up).
    sweep_interval_s: float = 0.0


@dataclass
class State:
    config: ServerConfig
    db: Database
    storage: BlobStore
    admin: Tenant
    shaper: RateShaper | None
    principals: dict[str, Principal] = field(default_factory=dict)


STATE = web.AppKey("blobflow_state", State)


@dataclass(frozen=True)
class Principal:
    user_id: int
    login: str
    team_ids: frozenset[int]


@dataclass
class Ctx:
    request: web.Request
    state: State
    principal: Principal

    @property
    def db(self) -> Database:
        return self.state.db

    @property
    def storage(self) -> BlobStore:
        return self.state.storage

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    def require_team(self, team_id: int) -> None:
        """An explicit team id the caller is not a member of is a 403."""
        if team_id not in self.principal.team_ids:
            raise Forbidden(f"no access to team {team_id}")

    def sees_team(self, team_id: int | None) -> bool:
        return team_id is not None and team_id in self.principal.team_ids

    def visible(self, row: sqlite3.Row | None, what: str) -> sqlite3.Row:
        """``row`` if it exists in one of the caller's teams; else 404 (existence in another
        team is not revealed)."""
        if row is None or not self.sees_team(row["team_id"]):
            raise NotFound(f"{what} not found")
        return row


def parse_json(raw: bytes) -> Any:
    """Strict JSON (no NaN/Infinity, finite numbers); anything else is a 400."""
    if not raw.strip():
        return {}
    try:
        return _json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"malformed JSON body: {exc}") from None


JsonHandler = Callable[[Ctx, Any], Awaitable[Any]]
RawHandler = Callable[[Ctx], Awaitable[web.StreamResponse]]

# method name -> handler; filled by the method-group modules at import.
JSON_METHODS: dict[str, JsonHandler] = {}
RAW_METHODS: dict[str, RawHandler] = {}


def json_method(name: str) -> Callable[[JsonHandler], JsonHandler]:
    """Register a method whose body is parsed JSON and whose result is sent as JSON."""

    def register(fn: JsonHandler) -> JsonHandler:
        JSON_METHODS[name] = fn
        return fn

    return register


def raw_method(name: str) -> Callable[[RawHandler], RawHandler]:
    """Register a method that reads the request and builds the response itself."""

    def register(fn: RawHandler) -> RawHandler:
        RAW_METHODS[name] = fn
        return fn

    return register
