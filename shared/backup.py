"""Backup: tables to self-describing Avro files under backups/<table>/, streamed from one database snapshot."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import BinaryIO

import fastavro
import pyarrow as pa
import sqlalchemy as sa

from shared.context import Rowgate
from shared.db import snapshot
from shared.dictionary import Table
from shared.prefetch import prefetch

BACKUPS = "backups"
CODEC = "deflate"
READ_BATCH = 10_000
CHECKSUM_PLACEHOLDER = "0" * 64  # written first, replaced in place once the data's checksum is known
AVRO_TYPES = {
    "integer": "long",
    "string": "string",
    "datetime": {"type": "long", "logicalType": "timestamp-micros"},
    "date": {"type": "int", "logicalType": "date"},
}
TEMPORAL = ("datetime", "date")
META = {key: f"rowgate.{key}" for key in ("table", "rows", "dictionary", "created", "checksum")}


class BackupError(Exception):
    """A backup that cannot be found or used; `status` is what the API answers."""

    status = 422


class BackupNotFound(BackupError):
    status = 404


@dataclass
class BackupInfo:
    name: str  # the storage path
    table: str
    created: str
    rows: int
    size: int

    def as_dict(self) -> dict:
        return asdict(self)


def avro_schema(table: Table) -> dict:
    """The Avro record schema of a table, from the dictionary."""
    fields = []
    for field in table.fields:
        avro_type = AVRO_TYPES[field.type]
        fields.append({"name": field.name, "type": avro_type if field.required else ["null", avro_type]})
    return {"type": "record", "name": table.name, "namespace": "rowgate", "fields": fields}


def stamp(moment: datetime | None = None) -> str:
    """The UTC timestamp a backup's name carries; names sort in time order."""
    return (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def backup_path(table: str, at: str) -> str:
    return f"{BACKUPS}/{table}/{table}-{at}.avro"


def stamp_of(path: str) -> str:
    """The timestamp in a backup's name."""
    return path.rsplit("-", 1)[-1].removesuffix(".avro")


def backup(rowgate: Rowgate, tables: list[str] | None = None, progress: Callable[[int], None] | None = None) -> list[BackupInfo]:
    """Back up tables (all by default) from one snapshot, so a set restores consistently; then apply retention."""
    specs = [rowgate.dictionary.table(name) for name in tables] if tables else rowgate.dictionary.dependency_order()
    at = stamp()
    with snapshot(rowgate.engine) as conn:
        infos = [write_backup(rowgate, conn, spec, at, progress) for spec in specs]
    for spec in specs:
        prune(rowgate, spec.name)
    return infos


def write_backup(rowgate: Rowgate, conn: sa.Connection, spec: Table, at: str, progress: Callable[[int], None] | None = None) -> BackupInfo:
    """One table's rows from `conn` into backups/<table>/<table>-<at>.avro; memory stays bounded."""
    table = rowgate.metadata.tables[spec.name]
    rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    metadata = {
        META["table"]: spec.name,
        META["rows"]: str(rows),
        META["dictionary"]: rowgate.dictionary.digest,
        META["created"]: at,
        META["checksum"]: CHECKSUM_PLACEHOLDER,
    }
    path = backup_path(spec.name, at)
    # Dates and times are read as the driver gives them (no SQLAlchemy parsing) and turned into the Avro
    # integers by Arrow, a column at a time: per-value datetime objects would cost more than the rest.
    columns = [sa.type_coerce(table.c[f.name], sa.String) if f.type in TEMPORAL else table.c[f.name] for f in spec.fields]
    query = sa.select(*columns).order_by(*(table.c[k] for k in spec.primary_key))
    with tempfile.TemporaryFile() as scratch:
        names = list(spec.field_names)
        batches = fetch_batches(conn, query)
        counted = [0]

        def records():
            # Plain dicts keep fastavro on its compiled path; reading the next batch overlaps writing this one.
            for batch in prefetch(_avro_records(spec, names, batch) for batch in batches):
                counted[0] += len(batch)
                if progress:
                    progress(len(batch))
                yield from batch

        fastavro.writer(scratch, fastavro.parse_schema(avro_schema(spec)), records(), codec=CODEC, metadata=metadata)
        written = counted[0]
        if written != rows:
            raise BackupError(f"{spec.name}: counted {rows} rows but read {written}; the snapshot did not hold")
        scratch.seek(0)
        _seal(scratch, data_checksum(fastavro.block_reader(scratch)))
        scratch.seek(0)
        with rowgate.storage.open_write(path) as out:
            shutil.copyfileobj(scratch, out, 4 * 1024 * 1024)
        size = scratch.tell()
    return BackupInfo(path, spec.name, at, rows, size)


def fetch_batches(conn: sa.Connection, query: sa.Select):
    """Plain tuples straight from the driver, READ_BATCH at a time, inside the caller's transaction: the
    Row objects SQLAlchemy would build cost as much as writing the Avro."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})))
        while batch := cursor.fetchmany(READ_BATCH):
            yield batch
    finally:
        cursor.close()


def _avro_records(spec: Table, names: list[str], rows: list) -> list[dict]:
    """Rows as Avro records, with temporal columns as the integers their logical types store."""
    records = [dict(zip(names, row)) for row in rows]
    for index, field in enumerate(spec.fields):
        if field.type in TEMPORAL:
            for record, value in zip(records, temporal_integers([row[index] for row in rows], field.type)):
                record[field.name] = value
    return records


def temporal_integers(values: list, field_type: str) -> list:
    """Datetimes (or their text, as SQLite keeps them) as microseconds since the epoch; dates as days."""
    arrow_type, storage = (pa.timestamp("us"), pa.int64()) if field_type == "datetime" else (pa.date32(), pa.int32())
    text = any(isinstance(v, str) for v in values)
    array = pa.array(values, pa.string() if text else None)
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        array = array.cast(pa.timestamp("us", "UTC"))
    return array.cast(arrow_type).cast(storage).to_pylist()


def plain_schema(schema: dict) -> dict:
    """The schema with logical types left out: a reader then gets the stored integers, not Python objects."""

    def plain(avro_type):
        if isinstance(avro_type, list):
            return [plain(t) for t in avro_type]
        if isinstance(avro_type, dict) and "logicalType" in avro_type:
            return avro_type["type"]
        return avro_type

    return schema | {"fields": [f | {"type": plain(f["type"])} for f in schema["fields"]]}


def data_checksum(blocks) -> str:
    """SHA-256 of the serialized records, block by block: the same whatever the codec."""
    digest = hashlib.sha256()
    for block in blocks:
        digest.update(block.bytes_.getbuffer())
    return digest.hexdigest()


def _seal(scratch: BinaryIO, checksum: str) -> None:
    """Write the checksum over its placeholder in the header: same length, so the header stays valid."""
    scratch.seek(0)
    head = scratch.read(64 * 1024)
    position = head.find(CHECKSUM_PLACEHOLDER.encode())
    scratch.seek(position)
    scratch.write(checksum.encode())


def prune(rowgate: Rowgate, table: str) -> list[str]:
    """Keep the newest N backups of a table (ROWGATE_BACKUP_RETENTION); return what was deleted."""
    names = sorted(rowgate.storage.list(f"{BACKUPS}/{table}/"))
    doomed = names[: max(0, len(names) - rowgate.settings.max_retained_backups)]
    for name in doomed:
        rowgate.storage.delete(name)
    return doomed


def list_backups(rowgate: Rowgate, table: str | None = None) -> list[BackupInfo]:
    """Backups, newest first, with what their headers say."""
    tables = [rowgate.dictionary.table(table).name] if table else list(rowgate.dictionary.tables)
    infos = []
    for name in tables:
        for path in rowgate.storage.list(f"{BACKUPS}/{name}/"):
            with rowgate.storage.open_read(path) as stream:
                try:
                    meta = fastavro.reader(stream).metadata
                except Exception:  # listed, marked unreadable: restore will say why
                    meta = {}
            rows = meta.get(META["rows"], "")
            created = meta.get(META["created"], stamp_of(path))
            infos.append(BackupInfo(path, name, created, int(rows) if rows.isdigit() else -1, rowgate.storage.size(path)))
    return sorted(infos, key=lambda info: (info.created, info.table), reverse=True)


def newest(rowgate: Rowgate, table: str, at: str | None = None) -> str:
    """The newest backup of a table, or the newest at or before the timestamp `at`."""
    names = sorted(rowgate.storage.list(f"{BACKUPS}/{table}/"))
    if at is not None:
        names = [n for n in names if stamp_of(n) <= at]
    if not names:
        raise BackupNotFound(f"no backup of {table}" + (f" at or before {at}" if at else ""))
    return names[-1]
