"""Restore: verify Avro backups and replace tables' rows with them in one transaction.

Each file is streamed into a staging table while its checksum and row count are checked; then keys
that would be orphaned are looked for; only then are the live rows replaced (deletes children
first, inserts and updates parents first). Any failure rolls everything back: nothing changes.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass

import fastavro
import pyarrow as pa
import sqlalchemy as sa

from shared.backup import BACKUPS, META, BackupError, BackupNotFound, avro_schema, newest, plain_schema
from shared.context import Rowgate
from shared.db import bulk_insert
from shared.dictionary import Table
from shared.validate import ARROW_TYPES

BATCH = 50_000


class RestoreConflict(BackupError):
    """The restore would leave child rows without their parent."""

    status = 409


@dataclass
class RestoreResult:
    table: str
    backup: str
    rows: int
    deleted: int
    inserted: int
    updated: int

    def as_dict(self) -> dict:
        return asdict(self)


def restore(rowgate: Rowgate, table: str, backup: str | None = None) -> RestoreResult:
    """Restore one table from a named backup, or from its newest."""
    spec = _table(rowgate, table)
    path = _named(rowgate, spec, backup) if backup else newest(rowgate, spec.name)
    return restore_set(rowgate, {spec.name: path})[0]


def restore_all(rowgate: Rowgate, at: str | None = None) -> list[RestoreResult]:
    """Every table from its newest backup (at or before `at`), as one operation, parents first."""
    return restore_set(rowgate, {spec.name: newest(rowgate, spec.name, at) for spec in rowgate.dictionary.dependency_order()})


def restore_set(rowgate: Rowgate, paths: dict[str, str]) -> list[RestoreResult]:
    """Restore these tables from these backups in one transaction."""
    order = [spec for spec in rowgate.dictionary.dependency_order() if spec.name in paths]
    run = uuid.uuid4().hex[:8]
    staged: dict[str, sa.Table] = {}
    with rowgate.engine.begin() as conn:
        try:
            counts = {}
            for spec in order:
                staged[spec.name] = stage_table(rowgate.metadata.tables[spec.name], run)
                staged[spec.name].create(conn)
                counts[spec.name] = _load_file(rowgate, conn, spec, paths[spec.name], staged[spec.name])
            for spec in order:
                _check_references(rowgate, conn, spec, staged)
            deleted = {
                spec.name: _delete_missing(conn, rowgate.metadata.tables[spec.name], spec, staged[spec.name]) for spec in reversed(order)
            }
            results = []
            for spec in order:
                live, stage = rowgate.metadata.tables[spec.name], staged[spec.name]
                updated = _update_existing(conn, live, spec, stage)
                inserted = _insert_new(conn, live, spec, stage)
                results.append(RestoreResult(spec.name, paths[spec.name], counts[spec.name], deleted[spec.name], inserted, updated))
        finally:
            for stage in staged.values():
                stage.drop(conn, checkfirst=True)
    return results


def _table(rowgate: Rowgate, name: str) -> Table:
    try:
        return rowgate.dictionary.table(name)
    except Exception as exc:
        raise BackupNotFound(str(exc)) from None


def _named(rowgate: Rowgate, spec: Table, backup: str) -> str:
    path = backup if "/" in backup else f"{BACKUPS}/{spec.name}/{backup}"
    if not path.startswith(f"{BACKUPS}/{spec.name}/") or not rowgate.storage.exists(path):
        raise BackupNotFound(f"no backup named {backup!r} for {spec.name}")
    return path


def stage_table(live: sa.Table, run: str) -> sa.Table:
    columns = [sa.Column(c.name, c.type, nullable=True) for c in live.columns]
    return sa.Table(f"rowgate_stage_{live.name}_{run}", sa.MetaData(), *columns)


def _load_file(rowgate: Rowgate, conn: sa.Connection, spec: Table, path: str, stage: sa.Table) -> int:
    """Stream the backup into the staging table, checking what its header claims; return its row count."""
    arrow_schema = pa.schema([(f.name, ARROW_TYPES[f.type]) for f in spec.fields])
    with rowgate.storage.open_read(path) as stream:
        try:
            blocks = fastavro.block_reader(stream)
            meta = blocks.metadata
            _check_header(spec, path, meta, blocks.writer_schema)
            # The file's schema is ours (checked above), so its blocks can be decoded with the logical types
            # left out: the stored integers, which Arrow turns into dates and times a column at a time.
            plain = fastavro.parse_schema(plain_schema(avro_schema(spec)))
            digest, total, batch = hashlib.sha256(), 0, []
            for block in blocks:
                digest.update(block.bytes_.getbuffer())
                block.writer_schema, block.reader_schema = plain, None
                batch.extend(block)
                if len(batch) >= BATCH:
                    total += _flush(conn, stage, batch, arrow_schema)
                    batch = []
            total += _flush(conn, stage, batch, arrow_schema)
        except BackupError:
            raise
        except Exception as exc:  # zlib, EOF, schema and decoding errors all mean: this file is damaged
            raise BackupError(f"{path} is damaged or truncated: {type(exc).__name__}: {exc}") from None
    if digest.hexdigest() != meta.get(META["checksum"]):
        raise BackupError(f"{path}: the data does not match its checksum; the file is damaged")
    if str(total) != meta.get(META["rows"]):
        raise BackupError(f"{path}: holds {total} rows but its header says {meta.get(META['rows'])}")
    return total


def _check_header(spec: Table, path: str, meta: dict, writer_schema: dict) -> None:
    if meta.get(META["table"]) != spec.name:
        raise BackupError(f"{path} is a backup of {meta.get(META['table'])!r}, not of {spec.name}")
    expected = {f["name"]: f["type"] for f in avro_schema(spec)["fields"]}
    found = {f["name"]: f["type"] for f in writer_schema.get("fields", [])}
    missing = [name for name in expected if name not in found]
    if missing:
        raise BackupError(f"{path} lacks fields {missing} that {spec.name} has")
    differ = [name for name in expected if found[name] != expected[name]]
    extra = [name for name in found if name not in expected]
    if differ or extra or list(found) != list(expected):
        raise BackupError(f"{path}: its schema does not fit {spec.name} (different: {differ}, unknown: {extra}, order: {list(found)})")


def _flush(conn: sa.Connection, stage: sa.Table, batch: list[dict], arrow_schema: pa.Schema) -> int:
    if not batch:
        return 0
    columns = {}
    for field in arrow_schema:
        values = [record[field.name] for record in batch]
        if pa.types.is_timestamp(field.type):
            columns[field.name] = pa.array(values, pa.int64()).cast(field.type)
        elif pa.types.is_date(field.type):
            columns[field.name] = pa.array(values, pa.int32()).cast(field.type)
        else:
            columns[field.name] = pa.array(values, field.type)
    bulk_insert(conn, stage, pa.table(columns))
    return len(batch)


def _key_match(live: sa.Table, stage: sa.Table, spec: Table) -> sa.ColumnElement:
    return sa.and_(*(live.c[k] == stage.c[k] for k in spec.primary_key))


def _check_references(rowgate: Rowgate, conn: sa.Connection, spec: Table, staged: dict[str, sa.Table]) -> None:
    """Refuse when restored rows would point at missing parents, or leave children without theirs."""
    tables = rowgate.metadata.tables
    for fk in spec.foreign_keys:
        parent = staged.get(fk.parent, tables[fk.parent])
        child = staged[spec.name]
        dangling = _dangling(conn, child, fk.fields, parent, fk.parent_fields)
        if dangling:
            raise RestoreConflict(f"{spec.name} rows would reference {fk.parent} keys that do not exist: {dangling}")
    for child_spec in rowgate.dictionary.children_of(spec.name):
        if child_spec.name in staged:
            continue  # restored in the same operation: checked as that table's own references
        for fk in (fk for fk in child_spec.foreign_keys if fk.parent == spec.name):
            dangling = _dangling(conn, tables[child_spec.name], fk.fields, staged[spec.name], fk.parent_fields)
            if dangling:
                raise RestoreConflict(
                    f"restoring {spec.name} would orphan {child_spec.name} rows (keys {dangling}); restore {child_spec.name} with it"
                )


def _dangling(conn: sa.Connection, child: sa.Table, fields: tuple, parent: sa.Table, parent_fields: tuple) -> list:
    return [row[0] if len(fields) == 1 else tuple(row) for row in conn.execute(dangling_keys(child, fields, parent, parent_fields))]


def dangling_keys(child: sa.Table, fields: tuple, parent: sa.Table, parent_fields: tuple) -> sa.Select:
    """Up to 5 child key values with no parent row."""
    joined = sa.and_(*(parent.c[p] == child.c[c] for c, p in zip(fields, parent_fields)))
    return (
        sa.select(*(child.c[c] for c in fields))
        .where(*(child.c[c].is_not(None) for c in fields))
        .where(~sa.exists().where(joined))
        .distinct()
        .limit(5)
    )


def _delete_missing(conn: sa.Connection, live: sa.Table, spec: Table, stage: sa.Table) -> int:
    return conn.execute(delete_missing(live, spec, stage)).rowcount


def _update_existing(conn: sa.Connection, live: sa.Table, spec: Table, stage: sa.Table) -> int:
    statement = update_existing(live, spec, stage)
    return 0 if statement is None else conn.execute(statement).rowcount


def _insert_new(conn: sa.Connection, live: sa.Table, spec: Table, stage: sa.Table) -> int:
    return conn.execute(insert_new(live, spec, stage)).rowcount


def delete_missing(live: sa.Table, spec: Table, stage: sa.Table) -> sa.Delete:
    """Live rows whose key is not in the backup."""
    return live.delete().where(~sa.exists().where(_key_match(live, stage, spec)))


def update_existing(live: sa.Table, spec: Table, stage: sa.Table) -> sa.Update | None:
    """Live rows whose key is in the backup with other values (UPDATE ... FROM on every backend rowgate runs on)."""
    values = [name for name in spec.field_names if name not in spec.primary_key]
    if not values:
        return None
    differs = sa.or_(*(live.c[n].is_distinct_from(stage.c[n]) for n in values))
    return live.update().where(_key_match(live, stage, spec)).where(differs).values({n: stage.c[n] for n in values})


def insert_new(live: sa.Table, spec: Table, stage: sa.Table) -> sa.Insert:
    """Backup rows whose key is not live yet."""
    names = list(spec.field_names)
    query = sa.select(*(stage.c[n] for n in names)).where(~sa.exists().where(_key_match(live, stage, spec)))
    return live.insert().from_select(names, query)
