"""The results store's schema: its tables, their migrations, and opening a database.

SQLAlchemy Core tables (SQLite by default: WAL, a busy timeout, foreign keys; or PostgreSQL through
DATABASE_URL), stamped with SCHEMA_VERSION. A new database gets today's tables at once; an older one
is migrated in order, inside one locked transaction, by MIGRATIONS.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from core.errors import AppError
from core.settings import DATA_DIR, DATABASE_URL

SCHEMA_VERSION = 5
BUSY_TIMEOUT_MS = 10_000
MIGRATION_LOCK_ID = 4_613_715  # any constant: the PostgreSQL advisory lock taken while migrating

metadata = sa.MetaData()
schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("started_by", sa.String(200), index=True),
    sa.Column("shared", sa.Boolean, nullable=False, default=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("sample_sha256", sa.String(64), nullable=False, index=True),
    sa.Column("sample_json", sa.Text, nullable=False),
    sa.Column("label_sep", sa.String(20)),
    sa.Column("plan_json", sa.Text, nullable=False),
    sa.Column("options_json", sa.Text),
    sa.Column("environment_json", sa.Text),
    sa.Column("comparisons_json", sa.Text),
    sa.Column("warnings_json", sa.Text),
    sa.Column("command", sa.Text),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("worker_host", sa.String(200)),
    #: Where the trials ran: "local worker on HOST" or "Ray cluster at ADDRESS" (the last worker to claim it).
    sa.Column("backend", sa.String(300)),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("failure", sa.Text),  # why a job stopped outside any trial, in a sentence
    # how often the run was queued again by itself after its worker died (bounded by a setting)
    sa.Column("auto_resumes", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("slices_json", sa.Text),  # slice column -> each row's slice (core.slices)
)
trials = sa.Table(
    "trials", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("device", sa.String(20), nullable=False),
    sa.Column("dtype", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("result_json", sa.Text),
    sa.Column("accuracy", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.UniqueConstraint("run_id", "position"),
)
predictions = sa.Table(
    "predictions", metadata,
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True),
    sa.Column("labels_json", sa.Text, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("correct", sa.Boolean, nullable=False),
    sa.Column("probabilities_json", sa.Text),  # each sample label's probability, in label order
)
sample_rows = sa.Table(
    "sample_rows", metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("pair", sa.Text),
    sa.Column("labels_json", sa.Text, nullable=False),
)
progress = sa.Table(
    "progress", metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("trial_position", sa.Integer),
    sa.Column("trial_name", sa.Text),
    sa.Column("step", sa.String(40)),
    sa.Column("rows_done", sa.Float),
    sa.Column("rows_total", sa.Integer),
    sa.Column("trial_started_at", sa.Float),
    sa.Column("step_started_at", sa.Float),
    sa.Column("updated_at", sa.Float),
)
#: What a person had put together (shortlist, sample, label maps), restored on reload and in new
#: tabs: keyed by user when sign-in is on, else by a random browser cookie (core/working_set.py).
working_sets = sa.Table(
    "working_sets", metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("state_json", sa.Text, nullable=False),
    sa.Column("sample_raw", sa.LargeBinary),
    sa.Column("updated_at", sa.Float, nullable=False),
)

#: Migrations by the version they bring an existing database to, applied in order inside one
#: locked transaction. A new database gets the current tables at once and is stamped
#: SCHEMA_VERSION. To change the schema: change the tables above, bump SCHEMA_VERSION and add
#: `MIGRATIONS[n] = function(connection)` that alters a version n-1 database (ALTER TABLE ...).
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {
    2: lambda db: db.exec_driver_sql("ALTER TABLE runs ADD COLUMN auto_resumes INTEGER NOT NULL DEFAULT 0"),
    3: lambda db: working_sets.create(db),
    4: lambda db: (db.exec_driver_sql("ALTER TABLE runs ADD COLUMN slices_json TEXT"),
                   db.exec_driver_sql("ALTER TABLE predictions ADD COLUMN probabilities_json TEXT")),
    5: lambda db: db.exec_driver_sql("ALTER TABLE runs ADD COLUMN backend VARCHAR(300)"),
}


#: What a database says when it cannot be written: its file, folder or mount is read-only.
UNWRITABLE_SIGNS = ("readonly database", "unable to open database file", "read-only file system",
                    "read-only transaction")  # the last is PostgreSQL's (a standby, or default_transaction_read_only)


class StoreError(AppError):
    """The results database cannot be used as it is."""


def now() -> float:
    return time.time()


def create_engine(url: str) -> sa.Engine:
    """An engine for `url`; SQLite files get WAL mode, a busy timeout and foreign keys. A database
    that cannot be written raises StoreError with a sentence, whichever kind it is."""
    engine = _sqlite_engine(url) if url.startswith("sqlite") else sa.create_engine(url, pool_pre_ping=True)
    sa.event.listen(engine, "handle_error", _explain_unwritable)
    return engine


def _sqlite_engine(url: str) -> sa.Engine:
    path = sqlite_path(url)
    if path and not url.endswith("uri=true"):  # a file: URI (say ?mode=ro) names a file that exists
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
    sa.event.listen(engine, "connect", _configure_sqlite)
    return engine


def sqlite_path(url: str) -> str | None:
    """The file an SQLite URL names (plain or `file:` URI form); None for memory or another database."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    if path.startswith("file:"):
        path = path[len("file:"):].split("?", 1)[0]
    return path if path and path != ":memory:" else None


def _explain_unwritable(context) -> None:
    """A database that cannot be written (read-only file, folder or mount) becomes one sentence
    naming the file and the fix, instead of an OperationalError and its SQL."""
    reason = str(context.original_exception)
    if any(sign in reason.lower() for sign in UNWRITABLE_SIGNS):
        url = context.engine.url
        where = url.database.removeprefix("file:") if url.get_backend_name() == "sqlite" else url.render_as_string()
        raise StoreError(
            f"The results database {where} cannot be written ({reason}); nothing was saved.",
            hint=f"Make the file and its folder writable by the user running the dashboard and the worker, "
                 f"or point {DATA_DIR} (or {DATABASE_URL}) at a writable place.",
        ) from context.original_exception


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against process death, not power loss
    cursor.close()


def _switch_to_wal(cursor, tries: int = 50) -> None:
    """WAL mode (kept in the file). Switching needs the database to itself, and SQLite answers
    "database is locked" at once, without waiting, while another process opens a new file the
    same way: wait for it, or for that other process to have switched it already."""
    for _ in range(tries - 1):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
            time.sleep(0.1)
    cursor.execute("PRAGMA journal_mode=WAL")


def migrate(engine: sa.Engine) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found. Safe to race from many processes."""
    with engine.begin() as db:
        _lock_for_migration(db)
        schema_version.create(db, checkfirst=True)
        found = db.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"The results database has schema version {found}, newer than this program knows ({SCHEMA_VERSION}).",
                hint=f"Upgrade the dashboard, or point {DATABASE_URL} at another database.",
            )
        _upgrade(db, found)
    return found


def _upgrade(db: sa.Connection, found: int) -> None:
    if found == 0:  # a new database: today's tables at once
        metadata.create_all(db)
        db.execute(schema_version.insert().values(version=SCHEMA_VERSION, applied_at=now()))
        return
    for version in range(found + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](db)
        db.execute(schema_version.insert().values(version=version, applied_at=now()))


def _lock_for_migration(db: sa.Connection) -> None:
    """Hold the database's write lock for the whole migration, so two processes cannot both migrate."""
    if db.dialect.name == "sqlite":
        db.exec_driver_sql("BEGIN IMMEDIATE")
    elif db.dialect.name == "postgresql":
        db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_ID})
