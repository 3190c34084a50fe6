"""Read a source into records: a folder of documents, CSV, JSONL, or a SQL query.

Every reader returns plain JSON-safe field values (datetimes as ISO strings) so records
hash, store and compare the same way whatever they came from. A SQL source with a
``cursor`` reads only rows past the last cursor value, plus the full list of keys (a
cheap query) so deletions still propagate.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from headway.config import CsvSource, FolderSource, JsonlSource, KeySpec, SourceConfig, SqlSource
from headway.errors import HeadwayError
from headway.pipelines.documents import DocumentError, read_document
from headway.store import normalise_url


class SourceError(HeadwayError):
    """The source could not be read at all (missing file, unreachable database, bad query)."""


@dataclass(slots=True)
class SourceRecord:
    key: str
    fields: dict[str, Any]
    row_number: int | None = None
    error: str | None = None  # set when this one record could not be parsed


@dataclass(slots=True)
class SourceRead:
    records: list[SourceRecord]
    present_keys: set[str] | None = None  # incremental reads: every key the source holds now
    cursor: Any = None
    # How records are keyed: by these field(s); by path (folders); or, with neither, by a
    # hash of the row, which changes whenever the row does and so never justifies a deletion.
    key_field: KeySpec | None = None
    keyed_by_path: bool = False

    @property
    def keyless(self) -> bool:
        return self.key_field is None and not self.keyed_by_path


def json_safe(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


def row_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def key_of(fields: dict[str, Any], key: KeySpec) -> str | None:
    """The record's key under ``key`` (one field or several); None when any part is missing."""
    names = [key] if isinstance(key, str) else key
    values = [fields.get(name) for name in names]
    if any(value in (None, "") for value in values):
        return None
    return "|".join(str(value) for value in values)


def hash_key(fields: dict[str, Any]) -> str:
    return "row:" + row_hash(fields)[:32]


def _record_key(fields: dict[str, Any], key: KeySpec | None) -> str:
    # A missing key stays empty here; evaluation re-keys (after renames) and quarantines it.
    if key is None:
        return hash_key(fields)
    return key_of(fields, key) or ""


def read_folder(config: FolderSource) -> SourceRead:
    root = Path(config.path).expanduser()
    if not root.is_dir():
        raise SourceError(f"source folder {root} does not exist")
    paths = sorted({p for pattern in config.include for p in root.glob(pattern) if p.is_file()})
    records = []
    for number, path in enumerate(paths, start=1):
        relative = path.relative_to(root).as_posix()
        try:
            title, body = read_document(path)
        except DocumentError as exc:
            records.append(SourceRecord(relative, {"path": relative}, number, error=str(exc)))
            continue
        stat = path.stat()
        modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(tzinfo=None).isoformat()
        fields = {
            "path": relative,
            "title": title,
            "text": body,
            "type": path.suffix.lower().lstrip("."),
            "modified_at": modified,
        }
        records.append(SourceRecord(relative, fields, number))
    return SourceRead(records, keyed_by_path=True)


def read_csv(config: CsvSource) -> SourceRead:
    path = Path(config.path).expanduser()
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise SourceError(f"cannot open {path}: {exc.strerror or exc}") from None
    records = []
    missing = frozenset(marker.strip() for marker in config.missing_values)
    with handle:
        reader = csv.reader(handle, delimiter=config.delimiter)
        header = next(reader, None)
        if header is None:
            return SourceRead([], key_field=config.key)
        header = [h.strip() for h in header]
        for number, row in enumerate(reader, start=1):
            if not any(cell.strip() for cell in row):
                continue
            fields = {
                name: (value if value.strip() not in missing and value.strip() != "" else None)
                for name, value in zip(header, row, strict=False)
            }
            for name in header[len(row) :]:
                fields[name] = None
            error = f"row has {len(row)} cells, the header {len(header)}" if len(row) > len(header) else None
            records.append(SourceRecord(_record_key(fields, config.key), fields, number, error))
    return SourceRead(records, key_field=config.key)


def read_jsonl(config: JsonlSource) -> SourceRead:
    path = Path(config.path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SourceError(f"cannot open {path}: {exc.strerror or exc}") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            records.append(
                SourceRecord(f"line:{number}", {"_raw": line[:2000]}, number, f"not JSON: {exc.msg}")
            )
            continue
        if not isinstance(value, dict):
            records.append(SourceRecord(f"line:{number}", {"_raw": line[:2000]}, number, "not a JSON object"))
            continue
        fields = {k: json_safe(v) for k, v in value.items()}
        records.append(SourceRecord(_record_key(fields, config.key), fields, number))
    return SourceRead(records, key_field=config.key)


def _cursor_param(cursor: Any) -> Any:
    if isinstance(cursor, dict) and cursor.get("type") == "datetime":
        return dt.datetime.fromisoformat(cursor["value"])
    return cursor


def _cursor_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"type": "datetime", "value": json_safe(value)}
    return json_safe(value)


def read_sql(config: SqlSource, cursor: Any = None) -> SourceRead:
    engine = create_engine(normalise_url(config.url), poolclass=NullPool)
    quote = engine.dialect.identifier_preparer.quote
    inner = config.query.strip().rstrip(";")
    try:
        with engine.connect() as connection:
            if config.cursor is None:
                result = connection.execute(text(inner))
                present = None
            else:
                column = quote(config.cursor)
                if cursor is None:
                    result = connection.execute(text(f"SELECT * FROM ({inner}) AS src ORDER BY src.{column}"))
                else:
                    result = connection.execute(
                        text(
                            f"SELECT * FROM ({inner}) AS src WHERE src.{column} > :cursor ORDER BY src.{column}"
                        ),
                        {"cursor": _cursor_param(cursor)},
                    )
            rows = [dict(row._mapping) for row in result]
            if config.cursor is not None:
                present = {
                    str(r[0])
                    for r in connection.execute(text(f"SELECT src.{quote(config.key)} FROM ({inner}) AS src"))
                }
    except SQLAlchemyError as exc:
        raise SourceError(
            f"SQL source failed: {exc.__class__.__name__}: {str(exc).splitlines()[0][:300]}"
        ) from None
    finally:
        engine.dispose()
    new_cursor = cursor
    if config.cursor is not None and rows:
        values: list[Any] = [r[config.cursor] for r in rows if r.get(config.cursor) is not None]
        if values:
            new_cursor = _cursor_value(max(values))
    records = []
    for number, row in enumerate(rows, start=1):
        fields = {k: json_safe(v) for k, v in row.items()}
        records.append(SourceRecord(_record_key(fields, config.key), fields, number))
    return SourceRead(records, present, new_cursor, key_field=config.key)


def read_source(config: SourceConfig, *, cursor: Any = None) -> SourceRead:
    if isinstance(config, FolderSource):
        return read_folder(config)
    if isinstance(config, CsvSource):
        return read_csv(config)
    if isinstance(config, JsonlSource):
        return read_jsonl(config)
    return read_sql(config, cursor)


def describe(config: SourceConfig) -> str:
    if isinstance(config, SqlSource):
        return f"sql {config.url.split('@')[-1]}"
    return f"{config.type} {config.path}"
