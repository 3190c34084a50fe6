"""Back up and restore the store with each backend's own consistent-copy tool.

SQLite: the online backup API (a consistent copy while gateways keep writing, WAL
included). PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore`` (the tools every
PostgreSQL operator already trusts; a dump taken while replicas write is one snapshot).

Every backup has a manifest beside it (``<file>.manifest.json``): format, Headway
version, schema revisions, time, size and SHA-256. A restore checks the checksum before
it touches the target, and refuses a target that already holds Headway tables unless
forced, so a typo can't overwrite a live database.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from headway.errors import HeadwayError

__all__ = ["BackupError", "BackupManifest", "backup", "restore"]

SQLITE_FORMAT = "sqlite"
PG_FORMAT = "pg_dump-custom"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_MAGIC = b"PGDMP"


class BackupError(HeadwayError):
    """A backup or restore that could not be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupManifest:
    format: str
    created_at: float
    source: str  # the store URL without any password
    sha256: str
    bytes: int
    headway_version: str
    revisions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def manifest_path(backup_file: Path) -> Path:
    return backup_file.with_name(backup_file.name + ".manifest.json")


def backup(store_url: str, out: str | os.PathLike[str]) -> BackupManifest:
    """Write a consistent copy of the store to ``out`` (refusing to overwrite) and its manifest."""
    target = Path(out)
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name (backups are never overwritten)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    kind = _kind(store_url)
    try:
        if kind == "sqlite":
            fmt = SQLITE_FORMAT
            _sqlite_backup(_sqlite_path(store_url), partial)
        else:
            fmt = PG_FORMAT
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(partial), _libpq_url(store_url)],
                 "pg_dump")
        manifest = BackupManifest(
            format=fmt,
            created_at=time.time(),
            source=_redacted(store_url),
            sha256=_sha256(partial),
            bytes=partial.stat().st_size,
            headway_version=_version(),
            revisions=_revisions(store_url),
        )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    manifest_path(target).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    return manifest


def restore(store_url: str, backup_file: str | os.PathLike[str], *, force: bool = False) -> BackupManifest:
    """Restore ``backup_file`` into the store at ``store_url`` (stop the gateways first)."""
    source = Path(backup_file)
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    manifest = _read_manifest(source)
    digest = _sha256(source)
    if digest != manifest.sha256:
        raise BackupError(f"{source} does not match its manifest (sha256 {digest[:12]}… ≠ {manifest.sha256[:12]}…): "
                          "the file is damaged or was changed; restore from another backup")
    kind = _kind(store_url)
    expected = SQLITE_FORMAT if kind == "sqlite" else PG_FORMAT
    if manifest.format != expected:
        raise BackupError(f"{source} is a {manifest.format} backup; the target store is {kind} "
                          "(move data between backends with a fresh deployment, not a restore)")
    if kind == "sqlite":
        _sqlite_restore(source, _sqlite_path(store_url), force=force)
    else:
        _pg_restore(source, store_url, force=force)
    return manifest


# -- SQLite -----------------------------------------------------------------------------
def _sqlite_path(store_url: str) -> Path:
    path = store_url.split("///", 1)[1] if "///" in store_url else ""
    if not path or path == ":memory:":
        raise BackupError(f"{store_url}: an in-memory SQLite store has nothing to back up")
    return Path(path.split("?", 1)[0]).expanduser()


def _sqlite_backup(path: Path, out: Path) -> None:
    if not path.is_file():
        raise BackupError(f"{path}: no database file there (is the store URL right?)")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(out)
    try:
        source.backup(copy)
        _sqlite_check(copy, out)
    finally:
        copy.close()
        source.close()


def _sqlite_restore(source: Path, target: Path, *, force: bool) -> None:
    if target.exists() and _sqlite_has_tables(target) and not force:
        raise BackupError(f"{target} already holds a Headway database; stop the gateways and pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".restoring")
    staged.unlink(missing_ok=True)
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copy = sqlite3.connect(staged)
    try:
        backup_db.backup(copy)
        _sqlite_check(copy, source)
    finally:
        copy.close()
        backup_db.close()
    for suffix in ("-wal", "-shm"):  # a stale WAL beside the new file would be replayed into it
        Path(str(target) + suffix).unlink(missing_ok=True)
    os.replace(staged, target)


def _sqlite_check(connection: sqlite3.Connection, label: Path) -> None:
    result = connection.execute("PRAGMA integrity_check").fetchone()
    if not result or result[0] != "ok":
        raise BackupError(f"{label}: SQLite integrity check failed: {result[0] if result else 'no answer'}")


def _sqlite_has_tables(path: Path) -> bool:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        return connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} exists but is not a SQLite database ({exc}); move it away first") from None
    finally:
        connection.close()


# -- PostgreSQL -------------------------------------------------------------------------
def _pg_restore(source: Path, store_url: str, *, force: bool) -> None:
    with source.open("rb") as handle:
        if handle.read(len(_PG_MAGIC)) != _PG_MAGIC:
            raise BackupError(f"{source} is not a pg_dump custom-format archive")
    tables = _pg_table_count(store_url)
    if tables and not force:
        raise BackupError(f"the target database already has {tables} table(s); restore into a fresh database, "
                          "or stop the gateways and pass --force to replace its contents")
    command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if tables:
        command += ["--clean", "--if-exists"]
    _run([*command, "--dbname", _libpq_url(store_url), str(source)], "pg_restore")


def _pg_table_count(store_url: str) -> int:
    import psycopg  # ~9 MB resident: loaded by backups of PostgreSQL stores, not by every process

    try:
        with psycopg.connect(_libpq_url(store_url), connect_timeout=10) as connection:
            row = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
    except psycopg.Error as exc:
        raise BackupError(f"cannot reach the target database: {_first_line(exc)}") from None
    return int(row[0]) if row else 0


def _libpq_url(store_url: str) -> str:
    return store_url.replace("postgresql+psycopg://", "postgresql://", 1).replace("postgres://", "postgresql://", 1)


# -- shared -----------------------------------------------------------------------------
def _kind(store_url: str) -> str:
    if store_url.startswith("sqlite"):
        return "sqlite"
    if store_url.startswith(("postgresql", "postgres://")):
        return "postgresql"
    raise BackupError(f"{_redacted(store_url)}: unsupported store URL (sqlite:/// or postgresql://)")


def _run(command: list[str], tool: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600)
    if completed.returncode != 0:
        raise BackupError(f"{tool} failed: {_first_line(completed.stderr) or f'exit {completed.returncode}'}")


def _read_manifest(source: Path) -> BackupManifest:
    path = manifest_path(source)
    try:
        data = json.loads(path.read_text())
        return BackupManifest(**data)
    except FileNotFoundError:
        raise BackupError(f"{path} is missing: a backup is restored only with its manifest (it holds the checksum)") from None
    except (ValueError, TypeError) as exc:
        raise BackupError(f"{path} is not a Headway backup manifest ({exc})") from None


def _revisions(store_url: str) -> list[str]:
    """The schema revisions the backup holds (alembic_version), for the manifest."""
    if _kind(store_url) == "sqlite":
        try:
            connection = sqlite3.connect(f"file:{_sqlite_path(store_url)}?mode=ro", uri=True)
            try:
                return sorted(row[0] for row in connection.execute("SELECT version_num FROM alembic_version"))
            finally:
                connection.close()
        except sqlite3.Error:
            return []
    import psycopg

    try:
        with psycopg.connect(_libpq_url(store_url), connect_timeout=10) as pg:
            return sorted(row[0] for row in pg.execute("SELECT version_num FROM alembic_version"))
    except psycopg.Error:
        return []


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0][:300] if text else ""


def _version() -> str:
    try:
        return version("headway")
    except PackageNotFoundError:
        return "unknown"
