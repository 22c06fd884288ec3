"""The metadata seam (:class:`Database`) and its embedded default, SQLite in one thread.

Handlers hand a database a plain function ``fn(conn, *args)`` that runs statements on a
connection with the ``sqlite3`` interface (``execute``/``executemany``/``fetchone``/
``fetchall``/``lastrowid``, rows by name and by position): :meth:`Database.read` runs it
as is, :meth:`Database.write` inside one transaction that is rolled back on error. The SQL is
SQLite's; the PostgreSQL backend (``_pg``) rewrites the few SQLite-only forms it uses.

:class:`SqliteDatabase`: every statement runs on a single-thread executor that owns the
connection, so the event loop never blocks on SQLite and writes are naturally serialised (ids
can be assigned up front for bulk inserts). The database runs in WAL mode with foreign keys;
writers use one ``BEGIN IMMEDIATE`` transaction per request. Its schema version is
``PRAGMA user_version`` (:data:`MIGRATIONS`).
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "Database", "SqliteDatabase", "Tenant", "now_iso", "connect", "bootstrap", "add_tenant",
    "stored_paths", "in_transaction", "migrate",
]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users(
    id INTEGER PRIMARY KEY, login TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(
    token TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS teams(
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS team_members(
    team_id INTEGER NOT NULL REFERENCES teams(id), user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY(user_id, team_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workspaces(
    id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES teams(id), name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects(
    id INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    team_id INTEGER NOT NULL REFERENCES teams(id), name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', type TEXT NOT NULL, readme TEXT,
    custom_data TEXT NOT NULL DEFAULT '{}', settings TEXT NOT NULL DEFAULT '{}',
    meta TEXT NOT NULL DEFAULT '{"classes": [], "tags": []}', created_by INTEGER,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE(workspace_id, name));
CREATE TABLE IF NOT EXISTS meta_ids(
    id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL, kind TEXT NOT NULL,
    name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets(
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES datasets(id) ON DELETE CASCADE, name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', custom_data TEXT NOT NULL DEFAULT '{}',
    created_by INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS datasets_project ON datasets(project_id, parent_id);
CREATE INDEX IF NOT EXISTS datasets_parent ON datasets(parent_id);
CREATE TABLE IF NOT EXISTS objects(
    id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES teams(id),
    relpath TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, hash TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS team_files(
    id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES teams(id), user_id INTEGER,
    path TEXT NOT NULL, object_id INTEGER NOT NULL REFERENCES objects(id),
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE(team_id, path));
CREATE INDEX IF NOT EXISTS team_files_object ON team_files(object_id);
CREATE TABLE IF NOT EXISTS hash_blobs(
    hash TEXT PRIMARY KEY, size INTEGER NOT NULL, relpath TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hash_owners(
    user_id INTEGER NOT NULL, hash TEXT NOT NULL REFERENCES hash_blobs(hash),
    PRIMARY KEY(user_id, hash)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS images(
    id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL, hash TEXT REFERENCES hash_blobs(hash), size INTEGER NOT NULL, mime TEXT,
    object_id INTEGER REFERENCES objects(id), offset_start INTEGER, offset_end INTEGER,
    meta TEXT, created_by INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    width INTEGER, height INTEGER, UNIQUE(dataset_id, name));
CREATE INDEX IF NOT EXISTS images_object ON images(object_id);
CREATE INDEX IF NOT EXISTS images_dataset ON images(dataset_id);
CREATE TABLE IF NOT EXISTS annotations(
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE, data TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, objects INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS figures(
    id INTEGER PRIMARY KEY, image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    class_id INTEGER NOT NULL, geometry_type TEXT NOT NULL, geometry TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS figures_image ON figures(image_id);
CREATE TABLE IF NOT EXISTS figure_tags(
    id INTEGER PRIMARY KEY, figure_id INTEGER NOT NULL REFERENCES figures(id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS figure_tags_figure ON figure_tags(figure_id);
CREATE TABLE IF NOT EXISTS image_tags(
    id INTEGER PRIMARY KEY, image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS image_tags_image ON image_tags(image_id);
"""


def now_iso() -> str:
    """The API's timestamp format: ISO 8601 UTC with milliseconds and ``Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def connect(path: Path) -> sqlite3.Connection:
    """Open the database (autocommit; transactions are explicit) and migrate its schema."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk inserts of 10,000 rows
    migrate(conn)
    return conn


def _add_annotation_objects(conn: sqlite3.Connection) -> None:
    """labelsCount used to be computed from the JSON per read."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(annotations)")}
    if "objects" not in columns:
        conn.execute("ALTER TABLE annotations ADD COLUMN objects INTEGER NOT NULL DEFAULT 0")
        conn.execute(
            "UPDATE annotations SET objects = coalesce(json_array_length(data, '$.objects'), 0)"
        )


def _add_image_size(conn: sqlite3.Connection) -> None:
    """Images got their width and height (read from the header at registration)."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(images)")}
    for column in ("width", "height"):
        if column not in columns:
            conn.execute(f"ALTER TABLE images ADD COLUMN {column} INTEGER")


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


# Version n is MIGRATIONS[n - 1]; PRAGMA user_version is the version a database is at. Each
# step is idempotent, because a data dir from before the versioning is at 0 with some tables.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_schema,
    _add_annotation_objects,
    _add_image_size,
)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database up to the last version, one transaction per step."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class Tenant:
    """A user with one team and one workspace, reachable with ``token``."""

    def __init__(self, token: str, user_id: int, team_id: int, workspace_id: int) -> None:
        self.token = token
        self.user_id = user_id
        self.team_id = team_id
        self.workspace_id = workspace_id


def _create_tenant(conn: sqlite3.Connection, token: str, login: str) -> Tenant:
    now = now_iso()
    user_id = conn.execute(
        "INSERT INTO users(login, created_at) VALUES(?, ?)", (login, now)
    ).lastrowid
    team_id = conn.execute(
        "INSERT INTO teams(name, created_at) VALUES(?, ?)", (f"{login}'s team", now)
    ).lastrowid
    assert user_id is not None and team_id is not None
    conn.execute("INSERT INTO team_members(team_id, user_id) VALUES(?, ?)", (team_id, user_id))
    ws_id = conn.execute(
        "INSERT INTO workspaces(team_id, name, created_at) VALUES(?, 'First Workspace', ?)",
        (team_id, now),
    ).lastrowid
    assert ws_id is not None
    conn.execute("INSERT INTO tokens(token, user_id) VALUES(?, ?)", (token, user_id))
    return Tenant(token, user_id, team_id, ws_id)


def _tenant_of_user(conn: sqlite3.Connection, token: str, user_id: int) -> Tenant:
    row = conn.execute(
        "SELECT t.team_id, min(w.id) FROM team_members t JOIN workspaces w ON w.team_id = t.team_id"
        " WHERE t.user_id = ? GROUP BY t.team_id ORDER BY t.team_id LIMIT 1",
        (user_id,),
    ).fetchone()
    return Tenant(token, user_id, row[0], row[1])


def bootstrap(conn: sqlite3.Connection, token: str | None) -> Tenant:
    """First start: create the admin user, its team and workspace. Later starts: register
    ``token`` (if new) for the admin user. Returns the admin tenant and its token.
    Run it through :meth:`Database.write` (one transaction)."""
    first = conn.execute("SELECT min(id) FROM users").fetchone()[0]
    if first is None:
        return _create_tenant(conn, token or secrets.token_urlsafe(32), "admin")
    if token is None:
        token = conn.execute(
            "SELECT token FROM tokens WHERE user_id = ? LIMIT 1", (first,)
        ).fetchone()[0]
    owner = conn.execute("SELECT user_id FROM tokens WHERE token = ?", (token,)).fetchone()
    if owner is None:
        conn.execute("INSERT INTO tokens(token, user_id) VALUES(?, ?)", (token, first))
        owner = (first,)
    return _tenant_of_user(conn, str(token), owner[0])


def add_tenant(conn: sqlite3.Connection, token: str) -> Tenant:
    """A new user with its own team and workspace (for isolation tests and multi-user setups).
    Run it through :meth:`Database.write` (one transaction)."""
    owner = conn.execute("SELECT user_id FROM tokens WHERE token = ?", (token,)).fetchone()
    if owner is not None:
        return _tenant_of_user(conn, token, owner[0])
    n = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    return _create_tenant(conn, token, f"user{n + 1}")


def stored_paths(conn: sqlite3.Connection) -> set[str]:
    """Every relative path the store should hold (what :meth:`BlobStore.sweep` keeps)."""
    return {r[0] for r in conn.execute("SELECT relpath FROM objects UNION ALL"
                                       " SELECT relpath FROM hash_blobs")}


class Database(ABC):
    """Where the metadata lives; ``fn(conn, *args)`` functions run against it."""

    @abstractmethod
    async def open(self) -> None:
        """Connect and migrate the schema to the current version."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise :class:`~blobflow.server._errors.Unavailable` when the database cannot be
        used."""

    @abstractmethod
    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)``."""

    @abstractmethod
    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one transaction (rolled back on error); writes from
        every node are serialised, as SQLite's ``BEGIN IMMEDIATE`` serialises them."""


class SqliteDatabase(Database):
    """The connection and the one thread allowed to use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="blobflow-db")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._conn = await self._submit(connect, self.path)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._submit(conn.close)
        self._executor.shutdown(wait=False)  # idle by now; joining would block the loop

    async def ping(self) -> None:
        return None  # a file next to the process: there while the process is

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._submit(fn, self.conn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._submit(in_transaction, fn, self.conn, *args)


def in_transaction(fn: Callable[..., T], conn: sqlite3.Connection, *args: Any) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
