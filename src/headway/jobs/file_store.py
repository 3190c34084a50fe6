"""Uploaded and produced files: metadata in ``files``, contents in ``file_blobs``.

Contents live in the store itself (a blob per file, SQLite or PostgreSQL ``bytea``) so
any replica or worker can read any file without a shared disk. Files are bounded by
``jobs.batch.max_file_bytes`` (200 MB by default, OpenAI's batch input limit).
"""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, insert, select

from headway.jobs.models import FileObject
from headway.jobs.pages import owned_page
from headway.jobs.tables import file_blobs, files
from headway.store import SqlRepository

f = files.c


class FileStore(SqlRepository):
    def put(self, file: FileObject, content: bytes) -> None:
        """Store a file; one with the same id (a batch's output, written again) is replaced."""
        with self.transaction("store a file") as connection:
            connection.execute(delete(file_blobs).where(file_blobs.c.file_id == file.id))
            connection.execute(delete(files).where(f.id == file.id))
            connection.execute(insert(files).values(**asdict(file)))
            connection.execute(insert(file_blobs).values(file_id=file.id, content=content))

    def get(self, file_id: str) -> FileObject | None:
        with self.transaction("read a file") as connection:
            row = connection.execute(select(files).where(f.id == file_id)).first()
        return FileObject.from_row(row._mapping) if row is not None else None

    def content(self, file_id: str) -> bytes | None:
        with self.transaction("read a file") as connection:
            row = connection.execute(select(file_blobs.c.content).where(file_blobs.c.file_id == file_id)).first()
        return bytes(row.content) if row is not None else None

    def list_owned(
        self, caller: str, team: str | None, *, purpose: str | None = None, after: str | None = None, limit: int = 20
    ) -> list[FileObject]:
        statement = select(files)
        if purpose is not None:
            statement = statement.where(f.purpose == purpose)
        with self.transaction("list files") as connection:
            page = owned_page(connection, files, statement, caller=caller, team=team, after=after, limit=limit)
            return [FileObject.from_row(row._mapping) for row in page]

    def delete(self, file_id: str) -> bool:
        with self.transaction("delete a file") as connection:
            connection.execute(delete(file_blobs).where(file_blobs.c.file_id == file_id))
            done = connection.execute(delete(files).where(f.id == file_id))
        return bool(done.rowcount)
