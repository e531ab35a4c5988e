"""Backup: tables to self-describing Avro files under backups/<table>/, streamed from one database snapshot."""

from __future__ import annotations

import bisect
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from shared.avro import ARROW, encode_records, write_block
from shared.context import Rowgate
from shared.db import LOADS, snapshot
from shared.dictionary import Table
from shared.errors import Conflict, Damaged, NotFound
from shared.fieldtypes import TYPES
from shared.load import DONE
from shared.prefetch import prefetch

BACKUPS = "backups"
CODEC = "deflate"
READ_BATCH = 10_000
META = {key: f"rowgate.{key}" for key in ("table", "rows", "dictionary", "created", "checksum", "loads")}


class BackupError(Damaged):
    """A backup rowgate will not use: damaged, truncated, of another table or schema, or holding a value
    ingestion would refuse."""

    code = "invalid-backup"


class BackupNotFound(NotFound):
    """No such backup, or no complete backup set."""


@dataclass
class BackupInfo:
    name: str  # the storage path
    table: str
    created: str  # also the set it belongs to: every backup taken from one snapshot has the same stamp
    rows: int  # -1: the header cannot be read
    size: int
    set_complete: bool | None = None  # filled in by the listing

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class BackupSet:
    """The backups taken from one snapshot. Complete when it holds a readable backup of every table."""

    at: str
    backups: dict[str, str]  # table -> path
    missing: list[str]  # tables of the dictionary with no backup in the set
    unreadable: list[str]  # tables whose backup's header cannot be read

    @property
    def complete(self) -> bool:
        return not self.missing and not self.unreadable

    def as_dict(self) -> dict:
        return {
            "at": self.at,
            "complete": self.complete,
            "tables": sorted(self.backups),
            "missing": self.missing,
            "unreadable": self.unreadable,
        }


def avro_schema(table: Table) -> dict:
    """The Avro record schema of a table, from the dictionary."""
    fields = []
    for field in table.fields:
        avro_type = TYPES[field.type].avro
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
    keep = complete_set_paths(rowgate)
    for spec in specs:
        prune(rowgate, spec.name, keep)
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
        META["loads"]: done_loads(conn, rowgate.metadata),
    }
    path = backup_path(spec.name, at)
    # Dates and times are read as the driver gives them (no SQLAlchemy parsing) and turned into the Avro
    # integers by Arrow, a column at a time: per-value datetime objects would cost more than the rest.
    columns = [sa.type_coerce(table.c[f.name], sa.String) if TYPES[f.type].temporal else table.c[f.name] for f in spec.fields]
    query = sa.select(*columns).order_by(*(table.c[k] for k in spec.primary_key))
    types = [f["type"] for f in plain_schema(avro_schema(spec))["fields"]]
    sync, digest, written = os.urandom(16), hashlib.sha256(), 0
    with tempfile.TemporaryFile() as scratch:
        # Reading the next batch overlaps encoding and compressing this one (zlib lets go of the GIL).
        for batch in prefetch(fetch_batches(conn, query)):
            data = encode_records(avro_columns(spec, types, batch), types)
            digest.update(data)
            write_block(scratch, data, len(batch), sync)
            written += len(batch)
            if progress:
                progress(len(batch))
        if written != rows:
            raise BackupError(f"{spec.name}: counted {rows} rows but read {written}; the snapshot did not hold")
        with rowgate.storage.open_write(path) as out:
            size = publish(scratch, out, avro_schema(spec), metadata | {META["checksum"]: digest.hexdigest()}, sync)
    return BackupInfo(path, spec.name, at, rows, size)


def done_loads(conn: sa.Connection, metadata: sa.MetaData) -> str:
    """The ids of the loads done in this snapshot, as ranges ("1-40,42"): a restore undoes the loads of
    its tables that are not among them, whose rows the backup does not hold."""
    loads = metadata.tables[LOADS]
    ranges: list[list[int]] = []
    for (load_id,) in conn.execute(sa.select(loads.c.id).where(loads.c.status == DONE).order_by(loads.c.id)):
        if ranges and ranges[-1][1] == load_id - 1:
            ranges[-1][1] = load_id
        else:
            ranges.append([load_id, load_id])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def load_ids(ranges: str) -> Callable[[int], bool]:
    """Whether a load id is in ranges written by `done_loads`."""
    spans = [tuple(int(n) for n in part.split("-")) if "-" in part else (int(part), int(part)) for part in ranges.split(",") if part]
    starts = [a for a, _ in spans]

    def contains(load_id: int) -> bool:
        index = bisect.bisect_right(starts, load_id) - 1
        return index >= 0 and spans[index][0] <= load_id <= spans[index][1]

    return contains


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


def avro_columns(spec: Table, types: list, rows: list[tuple]) -> list[pa.Array]:
    """Rows from the driver as the columns of a backup's records (of the plain Avro `types`): dates and times as
    the integers their logical types store."""
    arrays = []
    for field, avro_type, values in zip(spec.fields, types, zip(*rows) if rows else [()] * len(types)):
        kind = TYPES[field.type]
        if kind.temporal:
            arrays.append(temporal_integers(list(values), field.type))
        else:
            values = map(kind.avro_value, values) if kind.avro_value else values
            arrays.append(pa.array(values, ARROW[avro_type[1] if isinstance(avro_type, list) else avro_type]))
    return arrays


def temporal_integers(values: list, field_type: str) -> pa.Array:
    """Datetimes (or their text, as SQLite keeps them) as microseconds since the epoch; dates as days; times as
    microseconds since midnight."""
    arrow_type = TYPES[field_type].arrow
    storage = pa.int64() if arrow_type.bit_width == 64 else pa.int32()
    text = any(isinstance(v, str) for v in values)
    array = pa.array(values, pa.string() if text else None)
    if text and pa.types.is_time(arrow_type):  # Arrow casts no text to a time: read as a time of the epoch's day
        stamps = pc.binary_join_element_wise("1970-01-01T", array, "").cast(pa.timestamp("us")).cast(pa.int64())
        return stamps
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        array = array.cast(pa.timestamp("us", "UTC"))
    return array.cast(arrow_type).cast(storage)


def plain_schema(schema: dict) -> dict:
    """The schema with logical types left out: a reader then gets the stored integers, not Python objects."""

    def plain(avro_type):
        if isinstance(avro_type, list):
            return [plain(t) for t in avro_type]
        if isinstance(avro_type, dict) and "logicalType" in avro_type:
            return avro_type["type"]
        return avro_type

    return schema | {"fields": [f | {"type": plain(f["type"])} for f in schema["fields"]]}


def publish(blocks: BinaryIO, out: BinaryIO, schema: dict, metadata: dict, sync: bytes) -> int:
    """Write to `out` an Avro file's header (`schema`, `metadata`, the deflate codec and the sync marker `sync`),
    then the data blocks in `blocks`, as they are; return the bytes written."""
    import fastavro  # imported here, not at the top: the Function App imports this module at start

    header = io.BytesIO()
    fastavro.writer(header, fastavro.parse_schema(schema), [], codec=CODEC, metadata=metadata, sync_marker=sync)
    out.write(header.getvalue())
    blocks.seek(0)
    shutil.copyfileobj(blocks, out, 4 * 1024 * 1024)
    return header.tell() + blocks.tell()


def prune(rowgate: Rowgate, table: str, keep: set[str] | None = None) -> list[str]:
    """Keep the newest N backups of a table (ROWGATE_BACKUP_RETENTION), and its backup in the newest complete
    set, which `restore --all` needs however many single-table backups came after; return what was deleted."""
    if keep is None:
        keep = complete_set_paths(rowgate)
    names = sorted(rowgate.storage.list(f"{BACKUPS}/{table}/"))
    doomed = [name for name in names[: max(0, len(names) - rowgate.settings.max_retained_backups)] if name not in keep]
    for name in doomed:
        rowgate.storage.delete(name)
    return doomed


def list_backups(rowgate: Rowgate, table: str | None = None) -> list[BackupInfo]:
    """Backups, newest first, with what their headers say and whether their set is complete."""
    complete = {s.at: s.complete for s in backup_sets(rowgate)}
    tables = [rowgate.dictionary.table(table).name] if table else list(rowgate.dictionary.tables)
    infos = [_info(rowgate, name, path) for name in tables for path in rowgate.storage.list(f"{BACKUPS}/{name}/")]
    for info in infos:
        info.set_complete = complete.get(info.created, False)
    return sorted(infos, key=lambda info: (info.created, info.table), reverse=True)


def _info(rowgate: Rowgate, table: str, path: str) -> BackupInfo:
    import fastavro  # imported here, not at the top: the Function App imports this module at start

    with rowgate.storage.open_read(path) as stream:
        try:
            meta = fastavro.reader(stream).metadata
        except Exception:  # listed, marked unreadable: restore will say why
            meta = {}
    rows = meta.get(META["rows"], "")
    return BackupInfo(path, table, stamp_of(path), int(rows) if rows.isdigit() else -1, rowgate.storage.size(path))


def backup_sets(rowgate: Rowgate) -> list[BackupSet]:
    """The backups grouped by the snapshot they come from (the stamp in their names), newest first."""
    found: dict[str, dict[str, str]] = {}
    for name in rowgate.dictionary.tables:
        for path in rowgate.storage.list(f"{BACKUPS}/{name}/"):
            found.setdefault(stamp_of(path), {})[name] = path
    sets = []
    for at in sorted(found, reverse=True):
        backups = found[at]
        missing = [name for name in rowgate.dictionary.tables if name not in backups]
        unreadable = [name for name, path in backups.items() if not _readable(rowgate, path)]
        sets.append(BackupSet(at, backups, missing, unreadable))
    return sets


def _readable(rowgate: Rowgate, path: str) -> bool:
    import fastavro  # imported here, not at the top: the Function App imports this module at start

    with rowgate.storage.open_read(path) as stream:
        try:
            return META["checksum"] in fastavro.reader(stream).metadata
        except Exception:
            return False


def complete_set_paths(rowgate: Rowgate) -> set[str]:
    try:
        return set(newest_complete_set(rowgate).backups.values())
    except BackupNotFound:
        return set()


def newest_complete_set(rowgate: Rowgate, at: str | None = None) -> BackupSet:
    """The newest complete set (at or before the timestamp `at`): a state of every table that existed."""
    sets = [s for s in backup_sets(rowgate) if at is None or s.at <= at]
    for candidate in sets:
        if candidate.complete:
            return candidate
    where = f" at or before {at}" if at else ""
    if not sets:
        raise BackupNotFound(f"no backup set{where}")
    described = "; ".join(f"{s.at} lacks {', '.join(s.missing + s.unreadable)}" for s in sets[:3])
    raise BackupNotFound(f"no complete backup set{where} ({described})")


def exact_set(rowgate: Rowgate, at: str) -> BackupSet:
    """The set of the stamp `at` itself, as a person confirmed it: never an older one in its place."""
    found = next((s for s in backup_sets(rowgate) if s.at == at), None)
    if found is None:
        raise BackupNotFound(f"no backup set {at}")
    if not found.complete:
        lacks = ", ".join(found.missing + found.unreadable)
        raise Conflict(f"the backup set {at} is no longer complete (it lacks {lacks}): nothing was restored", code="set-incomplete")
    return found


def newest(rowgate: Rowgate, table: str, at: str | None = None) -> str:
    """The newest backup of a table, or the newest at or before the timestamp `at`."""
    names = sorted(rowgate.storage.list(f"{BACKUPS}/{table}/"))
    if at is not None:
        names = [n for n in names if stamp_of(n) <= at]
    if not names:
        raise BackupNotFound(f"no backup of {table}" + (f" at or before {at}" if at else ""))
    return names[-1]
