"""Restore: verify Avro backups and replace tables' rows with them in one transaction.

Two steps on one connection. First each file is streamed into a temporary staging table keyed like the live
table, while its checksum, row count and every value (the ingest validator: required, types, lengths, keys)
are checked; this writes no live table, so on SQLite other writers go on meanwhile. Then, in one write
transaction that locks the tables involved against writers: keys that would be orphaned are looked for, the
live rows are replaced (deletes children first, inserts and updates parents first), and the load ledger is
set back to what the backup holds. Any failure rolls everything back: nothing changes.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from operator import itemgetter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from shared import aggregates
from shared.backup import (
    BACKUPS,
    META,
    BackupError,
    BackupNotFound,
    avro_schema,
    exact_set,
    load_ids,
    newest,
    newest_complete_set,
    plain_schema,
)
from shared.context import Rowgate
from shared.db import LOADS, REJECTIONS, bulk_insert, select_by_keys
from shared.dictionary import Table
from shared.errors import Busy, Conflict, RowgateError
from shared.fieldtypes import TYPES
from shared.load import DONE, _dead_here, now
from shared.parse import Chunk
from shared.prefetch import prefetch
from shared.retry import is_transient, retry_transient
from shared.validate import check_values, existing_keys, key_text

BATCH = 25_000
# Distinct values of a foreign key kept while staging, to check them against the parent at the end; past
# this many the check reads the staged rows again instead, so memory stays bounded.
REFERENCED = 100_000
# What Python's datetime and every backend's column hold: years 1 to 9999, as Avro's stored integers.
MICROS = (-62135596800 * 10**6, 253402300800 * 10**6 - 1)
DAYS = (-719162, 2932896)


class RestoreConflict(Conflict):
    """The restore would leave child rows without their parent, or restored rows pointing at missing parents."""

    code = "would-orphan"


class RestoreBusy(Busy):
    """A load into a restored table is running, or the tables changed under the restore: try again later."""


@dataclass
class RestoreResult:
    table: str
    backup: str
    rows: int
    deleted: int
    inserted: int
    updated: int
    loads_undone: int = 0  # ledger entries of loads whose rows the backup does not hold

    def as_dict(self) -> dict:
        return asdict(self)


def restore(rowgate: Rowgate, table: str, backup: str | None = None) -> RestoreResult:
    """Restore one table from a named backup, or from its newest."""
    spec = rowgate.dictionary.table(table)
    path = _named(rowgate, spec, backup) if backup else newest(rowgate, spec.name)
    return restore_set(rowgate, {spec.name: path})[0]


def restore_all(rowgate: Rowgate, at: str | None = None, exact: bool = False) -> list[RestoreResult]:
    """Every table from the newest complete backup set (at or before `at`), or with `exact` from the set of `at`
    itself, as one operation, parents first."""
    chosen = exact_set(rowgate, at) if exact and at else newest_complete_set(rowgate, at)
    return restore_set(rowgate, chosen.backups)


def restore_set(rowgate: Rowgate, paths: dict[str, str]) -> list[RestoreResult]:
    """Restore these tables from these backups in one transaction; retried whole on transient database errors."""
    return retry_transient(lambda: _restore_once(rowgate, paths))


def _restore_once(rowgate: Rowgate, paths: dict[str, str]) -> list[RestoreResult]:
    order = [spec for spec in rowgate.dictionary.dependency_order() if spec.name in paths]
    tables = rowgate.metadata.tables
    run = uuid.uuid4().hex[:8]
    with rowgate.engine.connect() as conn:
        staged = {spec.name: stage_table(tables[spec.name], run, conn.dialect.name) for spec in order}
        try:
            counts, headers, groups, references = {}, {}, {}, {}
            # SQLite: a deferred transaction writing only temporary tables leaves the database to other writers.
            with conn.execution_options(sqlite_begin="DEFERRED").begin():
                for spec in order:
                    staged[spec.name].create(conn)
                    counts[spec.name], headers[spec.name], groups[spec.name], references[spec.name] = _stage_file(
                        rowgate, conn, spec, paths[spec.name], staged[spec.name]
                    )
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql(f"ANALYZE {_quoted(conn, staged[spec.name])}")  # temporary tables get no autovacuum
            with conn.execution_options(sqlite_begin="IMMEDIATE").begin():
                try:
                    return _replace(rowgate, conn, order, paths, staged, counts, headers, groups, references)
                except sa.exc.IntegrityError as exc:
                    if is_transient(exc):
                        raise
                    raise RestoreBusy(f"the tables changed while restoring ({_first_line(exc)}); nothing changed, try again") from None
        finally:
            _drop(conn, staged.values())


def _replace(
    rowgate: Rowgate, conn: sa.Connection, order: list[Table], paths, staged, counts, headers, groups, references
) -> list[RestoreResult]:
    tables = rowgate.metadata.tables
    lock_tables(conn, rowgate, [spec.name for spec in order])
    _refuse_running_loads(conn, rowgate, [spec.name for spec in order])
    for spec in order:
        _check_references(rowgate, conn, spec, staged, references[spec.name])
    deleted = {spec.name: _delete_missing(conn, tables[spec.name], spec, staged[spec.name]) for spec in reversed(order)}
    results = []
    for spec in order:
        live, stage = tables[spec.name], staged[spec.name]
        updated, inserted = _write_staged(conn, live, spec, stage, counts[spec.name])
        undone = undo_loads(conn, rowgate.metadata, spec.name, headers[spec.name])
        results.append(RestoreResult(spec.name, paths[spec.name], counts[spec.name], deleted[spec.name], inserted, updated, undone))
    if aggregates.SOURCE in paths:
        aggregates.replace(conn, rowgate.metadata, groups[aggregates.SOURCE])  # the table was replaced wholesale: its counts are too
    return results


def _named(rowgate: Rowgate, spec: Table, backup: str) -> str:
    """`backups/<table>/<file>` or just `<file>`; nothing outside the table's folder."""
    path = backup if "/" in backup else f"{BACKUPS}/{spec.name}/{backup}"
    folder, _, file = path.rpartition("/")
    shown = backup if len(backup) <= 80 else backup[:77] + "..."
    if folder != f"{BACKUPS}/{spec.name}" or file in ("", ".", "..") or "\x00" in file or not rowgate.storage.exists(path):
        raise BackupNotFound(f"no backup named {shown!r} for {spec.name}")
    return path


def stage_table(live: sa.Table, run: str, dialect: str = "") -> sa.Table:
    """A temporary table shaped and keyed like `live`: its primary key makes every key lookup of the
    restore an index search, so the restore stays linear in the rows."""
    columns = [sa.Column(c.name, c.type, nullable=not c.primary_key) for c in live.columns]
    key = sa.PrimaryKeyConstraint(*(c.name for c in live.primary_key.columns))
    name = f"rowgate_stage_{live.name}_{run}"
    if dialect == "mssql":  # SQL Server's temporary tables are named #...
        return sa.Table(f"#{name}", sa.MetaData(), *columns, key)
    return sa.Table(name, sa.MetaData(), *columns, key, prefixes=["TEMPORARY"])


def _drop(conn: sa.Connection, stages) -> None:
    # Temporary tables end with the session anyway; dropping them keeps a pooled connection clean.
    with suppress(sa.exc.DBAPIError):
        if conn.in_transaction():
            conn.rollback()
        with conn.execution_options(sqlite_begin="DEFERRED").begin():  # temporary tables only: no write lock
            for stage in stages:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_quoted(conn, stage)}")


def _quoted(conn: sa.Connection, table: sa.Table) -> str:
    return conn.dialect.identifier_preparer.format_table(table)


def _stage_file(rowgate: Rowgate, conn: sa.Connection, spec: Table, path: str, stage: sa.Table) -> tuple[int, dict, np.ndarray, list]:
    """Stream the backup into the staging table, checking what its header claims and every value; return
    its row count, its header, for hired_employees the groups its rows count in the reports' aggregate, and
    per foreign key the distinct values its rows reference (None past REFERENCED of them)."""
    counting = spec.name == aggregates.SOURCE and aggregates.counts_of(rowgate.metadata) is not None
    read = _Read(spec, path, counting)
    with rowgate.storage.open_read(path) as stream:
        try:
            # Decoding and checking run a batch ahead, in a thread, while this one stages the batch before:
            # the database's own work (the GIL let go) overlaps the decoding, most of a restore's time.
            for rows, numbers in prefetch(read.batches(stream)):
                _stage(conn, stage, spec, path, rows, numbers)
        except RowgateError:
            raise
        except (sa.exc.DBAPIError, conn.dialect.loaded_dbapi.Error) as exc:
            if is_transient(exc):
                raise
            raise BackupError(f"{path}: the database refused its rows: {_first_line(exc)}") from None
        except Exception as exc:  # zlib, EOF, schema and decoding errors all mean: this file is damaged
            raise BackupError(f"{path} is damaged or truncated: {type(exc).__name__}: {exc}") from None
    if read.digest.hexdigest() != read.meta.get(META["checksum"]):
        raise BackupError(f"{path}: the data does not match its checksum; the file is damaged")
    if str(read.total) != read.meta.get(META["rows"]):
        raise BackupError(f"{path}: holds {read.total} rows but its header says {read.meta.get(META['rows'])}")
    return read.total, read.meta, aggregates.merge_groups(*read.groups), read.references


class _Read:
    """One backup file decoded and checked a batch at a time, and what its batches add up to once read."""

    def __init__(self, spec: Table, path: str, counting: bool) -> None:
        self.spec, self.path, self.counting = spec, path, counting  # counting: its rows' groups, for the reports
        self.meta: dict = {}
        self.digest = hashlib.sha256()
        self.total = 0
        self.references: list[set | None] = [set() for _ in spec.foreign_keys]
        self.groups: list[np.ndarray] = []  # the staged batches' groups, merged now and then, not once per batch

    def batches(self, stream) -> Iterator[tuple[pa.Table, np.ndarray]]:
        """The file's records as typed rows of up to BATCH, and their record numbers (from 1)."""
        import fastavro  # imported here, not at the top: the Function App imports this module at start

        spec = self.spec
        blocks = fastavro.block_reader(stream)
        self.meta = blocks.metadata
        _check_header(spec, self.path, self.meta, blocks.writer_schema)
        # The file's schema is ours (checked above), so its blocks can be decoded with the logical types
        # left out: the stored integers, which Arrow turns into dates and times a column at a time.
        plain = fastavro.parse_schema(plain_schema(avro_schema(spec)))
        arrow_schema = pa.schema([(f.name, TYPES[f.type].arrow) for f in spec.fields])
        batch: list[dict] = []
        for block in itertools.chain(blocks, [None]):
            if block is not None:
                self.digest.update(block.bytes_.getbuffer())
                block.writer_schema, block.reader_schema = plain, None
                batch.extend(block)
                if len(batch) < BATCH:
                    continue
            if batch:
                rows, numbers = _checked(spec, self.path, batch, arrow_schema, self.total)
                self.total += len(batch)
                self.count(rows)
                batch = []
                yield rows, numbers

    def count(self, rows: pa.Table) -> None:
        """Add a batch's groups and the keys it references."""
        if self.counting:  # counted as staged: the restore then need not read the table again to count it
            self.groups.append(aggregates.hire_groups(rows))
            if sum(map(len, self.groups)) > REFERENCED:
                self.groups = [aggregates.merge_groups(*self.groups)]
        for index, fk in enumerate(self.spec.foreign_keys):
            if self.references[index] is not None:
                self.references[index] |= _referenced(rows, fk.fields)
                if len(self.references[index]) > REFERENCED:
                    self.references[index] = None


def _referenced(rows: pa.Table, fields: tuple[str, ...]) -> set:
    """The distinct values (tuples for several fields) of `fields` in `rows`; a key with a NULL in it references
    nothing (SQL's MATCH SIMPLE)."""
    distinct = rows.select(list(fields)).drop_null().group_by(list(fields)).aggregate([])
    columns = [distinct.column(name).to_pylist() for name in fields]
    return set(columns[0]) if len(fields) == 1 else set(zip(*columns))


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


def _checked(spec: Table, path: str, batch: list[dict], arrow_schema: pa.Schema, before: int) -> tuple[pa.Table, np.ndarray]:
    """One batch of records (numbered from before + 1) checked as ingestion would: its typed rows and record numbers."""
    numbers = np.arange(before + 1, before + len(batch) + 1)
    columns = {}
    for field in arrow_schema:
        values = list(map(itemgetter(field.name), batch))
        if pa.types.is_timestamp(field.type) or pa.types.is_date(field.type):
            low, high = MICROS if pa.types.is_timestamp(field.type) else DAYS
            stored = pa.array(values, pa.int64())
            outside = pc.fill_null(pc.or_(pc.less(stored, low), pc.greater(stored, high)), False).to_numpy(zero_copy_only=False)
            if outside.any():
                _refuse(path, int(numbers[np.argmax(outside)]), field.name, "type-error", f"{field.name} is outside the years 1 to 9999")
            columns[field.name] = stored.cast(pa.int32() if pa.types.is_date(field.type) else pa.int64()).cast(field.type)
        elif pa.types.is_decimal(field.type):  # exact decimals are kept as their text, never with a field's decimalChar
            columns[field.name] = pc.cast(pa.array(values, pa.string()), field.type)
        else:
            columns[field.name] = pa.array(values, field.type)
            if pa.types.is_string(field.type):
                nul = pc.fill_null(pc.match_substring(columns[field.name], "\x00"), False).to_numpy(zero_copy_only=False)
                if nul.any():
                    _refuse(path, int(numbers[np.argmax(nul)]), field.name, "type-error", f"{field.name} contains a NUL character")
    typed = check_values(spec, Chunk(before + len(batch), numbers, columns))
    if typed.refused:
        first = typed.refused[0]
        error = first.errors[0]
        _refuse(path, first.row_number, error.field, error.code, error.message)
    _refuse_repeated_keys(path, spec, typed.rows, numbers)
    return typed.rows, numbers


def _stage(conn: sa.Connection, stage: sa.Table, spec: Table, path: str, rows: pa.Table, numbers: np.ndarray) -> None:
    try:
        with conn.begin_nested():
            bulk_insert(conn, stage, rows)
    except (sa.exc.IntegrityError, conn.dialect.loaded_dbapi.IntegrityError):
        _refuse_staged_keys(conn, path, spec, stage, _keys(rows, spec), numbers)
        raise


def _refuse(path: str, record: int | None, field: str | None, code: str, message: str):
    raise BackupError(f"{path}: record {record}: {field or 'key'}: {code}: {message}; nothing was restored")


def _keys(rows: pa.Table, spec: Table) -> list:
    columns = [rows.column(name).to_pylist() for name in spec.primary_key]
    return columns[0] if len(columns) == 1 else list(zip(*columns))


def _refuse_repeated_keys(path: str, spec: Table, rows: pa.Table, numbers: np.ndarray) -> None:
    names = list(spec.primary_key)
    if rows.select(names).group_by(names, use_threads=False).aggregate([]).num_rows == rows.num_rows:
        return  # every key once, told by Arrow; only a batch with a repeated key is looked at row by row
    first: dict = {}
    for index, key in enumerate(_keys(rows, spec)):
        seen = first.setdefault(key, index)
        if seen != index:
            _refuse(
                path, int(numbers[index]), None, "primary-key", f"{key_text(spec, key)} appears again (first in record {numbers[seen]})"
            )


def _refuse_staged_keys(conn: sa.Connection, path: str, spec: Table, stage: sa.Table, keys: list, numbers: np.ndarray) -> None:
    """After the staging table refused a batch: the key an earlier batch of the file already had."""
    columns = [stage.c[name] for name in spec.primary_key]
    rows = select_by_keys(conn, sa.select(*columns), columns, keys)
    staged = {row[0] if len(columns) == 1 else tuple(row) for row in rows}
    for index, key in enumerate(keys):
        if key in staged:
            _refuse(path, int(numbers[index]), None, "primary-key", f"{key_text(spec, key)} appears again (in an earlier record)")


def _first_line(exc: BaseException) -> str:
    error = getattr(exc, "orig", None) or exc
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def lock_tables(conn: sa.Connection, rowgate: Rowgate, restored: list[str]) -> None:
    """Hold off writers of the restored tables and of their parents and children until the restore commits;
    readers go on. Children first, the order writers take them in (an insert locks its table, then its
    parents' rows), so a restore and a batch cannot deadlock. SQLite's write transaction already excludes
    every other writer."""
    related = set(restored)
    for name in restored:
        related |= {fk.parent for fk in rowgate.dictionary.table(name).foreign_keys}
        related |= {child.name for child in rowgate.dictionary.children_of(name)}
    for spec in reversed(rowgate.dictionary.dependency_order()):
        if spec.name in related:
            statement = lock_statement(conn.dialect, rowgate.metadata.tables[spec.name], spec.name in restored)
            if statement:
                conn.exec_driver_sql(statement)


def lock_statement(dialect: sa.Dialect, table: sa.Table, exclusive: bool) -> str | None:
    quoted = dialect.identifier_preparer.format_table(table)
    if dialect.name == "postgresql":
        return f"LOCK TABLE {quoted} IN {'EXCLUSIVE' if exclusive else 'SHARE'} MODE"
    if dialect.name == "mssql":
        return f"SELECT TOP 0 1 FROM {quoted} WITH ({'TABLOCKX' if exclusive else 'TABLOCK'}, HOLDLOCK)"
    return None


def _refuse_running_loads(conn: sa.Connection, rowgate: Rowgate, names: list[str]) -> None:
    """A file load running into a restored table would go on writing after the restore: refuse (409)."""
    loads = rowgate.metadata.tables[LOADS]
    query = sa.select(loads.c.table_name, loads.c.source, loads.c.claimed_by).where(
        loads.c.table_name.in_(names), loads.c.status != DONE, loads.c.claimed_until > now()
    )
    for running in conn.execute(query):
        if not _dead_here(running.claimed_by or ""):
            raise RestoreBusy(
                f"{running.table_name} is being loaded from {running.source} by {running.claimed_by}; restore once that load ends"
            )


def undo_loads(conn: sa.Connection, metadata: sa.MetaData, table: str, meta: dict) -> int:
    """Make the ledger describe the restored table: the loads the backup does not hold (not done in its
    snapshot) are forgotten with their rejections, so loading their files again loads their rows again;
    rejections resolved after the snapshot (their rows replayed in, now gone) are open again."""
    loads, rejections = metadata.tables[LOADS], metadata.tables[REJECTIONS]
    taken = datetime.strptime(meta[META["created"]], "%Y%m%dT%H%M%S%fZ")
    query = sa.select(loads.c.id, loads.c.source, loads.c.started_at, loads.c.finished_at).where(loads.c.table_name == table)
    rows = conn.execute(query).all()
    if META["loads"] in meta:
        held = load_ids(meta[META["loads"]])
        undone = [row for row in rows if not held(row.id)]
    else:  # a backup written before its header named its loads: go by the time it was taken
        undone = [row for row in rows if row.finished_at is None or row.finished_at >= taken]
    for row in undone:
        # Rejections name their source, not their load: the load's are those of its source logged while it ran.
        logged = rejections.delete().where(
            rejections.c.table_name == table, rejections.c.source == row.source, rejections.c.created_at >= row.started_at
        )
        if row.finished_at is not None:
            logged = logged.where(rejections.c.created_at <= row.finished_at)
        conn.execute(logged)
        conn.execute(loads.delete().where(loads.c.id == row.id))
    reopened = rejections.update().where(rejections.c.table_name == table, rejections.c.resolved_at >= taken)
    conn.execute(reopened.values(resolved_at=None, resolution=None))  # a fix stays: a re-drive checks the row as fixed
    return len(undone)


def _check_references(rowgate: Rowgate, conn: sa.Connection, spec: Table, staged: dict[str, sa.Table], references: list) -> None:
    """Refuse when restored rows would point at missing parents, or leave children without theirs. `references`:
    per foreign key the distinct values the restored rows hold, or None to read them from the staged rows."""
    tables = rowgate.metadata.tables
    for fk, referenced in zip(spec.foreign_keys, references):
        parent = staged.get(fk.parent, tables[fk.parent])
        if referenced is None:
            dangling = _dangling(conn, staged[spec.name], fk.fields, parent, fk.parent_fields)
        else:
            dangling = sorted(referenced - existing_keys(conn, parent, fk.parent_fields, referenced))[:5]
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


def _write_staged(conn: sa.Connection, live: sa.Table, spec: Table, stage: sa.Table, staged_rows: int) -> tuple[int, int]:
    """Write the staged rows over the live ones their keys name (those with other values) and insert the rest,
    once the live rows missing from the backup are deleted; return (updated, inserted)."""
    if conn.dialect.name != "sqlite" or spec.unique_keys:
        # An update before the inserts, as here, frees a unique value a new row may take; one upsert could refuse it.
        return _update_existing(conn, live, spec, stage), _insert_new(conn, live, spec, stage)
    # SQLite: one pass over the staged rows instead of two (PostgreSQL's upsert would lock every unchanged row).
    matched = conn.execute(sa.select(sa.func.count()).select_from(live)).scalar_one()  # every live key is staged now
    written = conn.execute(upsert_staged(live, spec, stage).execution_options(preserve_rowcount=True)).rowcount
    return written - (staged_rows - matched), staged_rows - matched


def _update_existing(conn: sa.Connection, live: sa.Table, spec: Table, stage: sa.Table) -> int:
    statement = update_existing(live, spec, stage)
    return 0 if statement is None else conn.execute(statement).rowcount


def _insert_new(conn: sa.Connection, live: sa.Table, spec: Table, stage: sa.Table) -> int:
    # SQLAlchemy keeps rowcount reliably only for UPDATE and DELETE; without this psycopg's INSERT ... SELECT says -1.
    return conn.execute(insert_new(live, spec, stage).execution_options(preserve_rowcount=True)).rowcount


def _key_match(live: sa.Table, stage: sa.Table, spec: Table) -> sa.ColumnElement:
    return sa.and_(*(live.c[k] == stage.c[k] for k in spec.primary_key))


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


def upsert_staged(live: sa.Table, spec: Table, stage: sa.Table) -> sa.Insert:
    """SQLite: backup rows inserted, or written over the live row of their key where its values differ."""
    from sqlalchemy.dialects.sqlite import insert

    names = list(spec.field_names)
    # The WHERE is SQLite's: without one, its parser would read ON CONFLICT as part of the SELECT.
    statement = insert(live).from_select(names, sa.select(*(stage.c[n] for n in names)).where(sa.true()))
    values = [name for name in names if name not in spec.primary_key]
    if not values:
        return statement.on_conflict_do_nothing(index_elements=list(spec.primary_key))
    differs = sa.or_(*(live.c[n].is_distinct_from(statement.excluded[n]) for n in values))
    return statement.on_conflict_do_update(
        index_elements=list(spec.primary_key), set_={n: statement.excluded[n] for n in values}, where=differs
    )
