"""Replay: run logged rejections through validation again; rows that now pass are loaded and marked resolved.

A row refused only for missing parent keys is logged with one of them (missing_key, indexed). A parent load
re-drives only the rows naming its new keys: a batch at most REDRIVE_INLINE of them before it answers; a
file load, the replay route and the re-drive timer (functions/api.py) every open row whose key exists now.
A row checked again while another parent is still missing is logged with that one instead.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from shared.db import LOOKUP_PARAMETERS, REJECTIONS, bulk_insert, select_by_keys
from shared.errors import SHAPE_CODES, cells_by_field, parent_key
from shared.fieldtypes import key_values
from shared.jsonrows import as_chunk
from shared.load import now
from shared.races import retry_key_races
from shared.retry import retry_transient
from shared.validate import Checked, validate

REDRIVEN = "redriven"  # a resolution: the row was validated again as it was (or as last fixed) and passed
REDRIVE_INLINE = 1000  # child rows a batch re-drives before it answers; the timer takes the rest
KEY_PAGE = 10_000  # distinct waited-for keys read at a time by a sweep

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    table: str
    replayed: int = 0
    resolved: int = 0
    still_refused: int = 0
    need_a_fix: int = 0  # open rows refused for their shape: not checked again as they are (see fixed_row)

    def add(self, other: ReplayResult) -> None:
        self.replayed += other.replayed
        self.resolved += other.resolved
        self.still_refused += other.still_refused
        self.need_a_fix += other.need_a_fix


def validated_as(field_names: tuple[str, ...], raw: dict | list, errors: list[dict], fix: dict | None) -> dict | None:
    """The row a rejection is validated as: its raw cells of the table's fields, its fix laid over them.
    None for a row refused for its shape and never fixed: as it stands it could load wrong."""
    if fix is None and any(error["code"] in SHAPE_CODES for error in errors):
        return None
    cells = cells_by_field(field_names, raw)
    return {name: cells[name] for name in field_names if name in cells} | (fix or {})


def replay(rowgate, table: str | None = None, retryable_only: bool = False) -> list[ReplayResult]:
    """Open rejections of one table (or all, parents first) validated again against the current data."""
    tables = [rowgate.dictionary.table(table)] if table else rowgate.dictionary.dependency_order()
    rejections = rowgate.metadata.tables[REJECTIONS]
    which = rejections.c.retryable == sa.true() if retryable_only else sa.true()
    return [logged(_replay(rowgate, spec, which), "by replay") for spec in tables]


def redrive_children(rowgate, parent: str, loaded: pa.Table | None = None, limit: int | None = None) -> list[ReplayResult]:
    """After parent rows load, re-drive the child rows refused for their keys: for `loaded` (the rows just
    inserted) the rows naming them, at most `limit`; without, every open row whose parent key exists now."""
    results = []
    for child in rowgate.dictionary.children_of(parent):
        if loaded is None:
            results.append(_redrive_waiting(rowgate, child, {parent}))
            continue
        keys = {
            _loaded_key(parent, fk.parent_fields, loaded, i)
            for fk in child.foreign_keys
            if fk.parent == parent
            for i in range(loaded.num_rows)
        }
        results.append(redrive_keys(rowgate, child, keys, limit))
    for result in results:
        logged(result, f"after {parent} rows loaded")
    return results


def logged(result: ReplayResult, why: str) -> ReplayResult:
    """Every re-drive that checked rows says so, with what came of them (the demo, the dev host, the CLI show it)."""
    if result.replayed:
        log.info(
            "re-drive of %s %s: %d rows checked again, %d loaded, %d still refused",
            result.table,
            why,
            result.replayed,
            result.resolved,
            result.still_refused,
        )
    return result


def redrive_after(rowgate, table: str, checked: Checked) -> None:
    """After a batch or a fix committed `checked`: its new rows re-drive the children waiting for them (at most
    REDRIVE_INLINE), its rows refused for a missing parent are checked against parents committed meanwhile.
    What was committed stands whatever happens here: a re-drive that fails is logged, and its rows stay open
    for the re-drive timer, never turning the request into a failure."""
    try:
        if checked.rows.num_rows:
            redrive_children(rowgate, table, checked.rows, limit=REDRIVE_INLINE)
        waiting = {refusal.missing_key for refusal in checked.refused if refusal.missing_key}
        if waiting:
            redrive_present(rowgate, table, waiting)
    except Exception:
        log.exception("re-drive after rows of %s were committed failed; the re-drive timer will retry its rows", table)


def redrive_present(rowgate, table: str, keys: Iterable[str]) -> ReplayResult:
    """Re-drive the rows of `table` waiting for those of `keys` that exist now. A batch calls it after logging
    rows refused for a missing parent: a parent committed between our check and our commit found nothing to
    re-drive, so this side does it (one of the two always sees the other's commit)."""
    spec = rowgate.dictionary.table(table)
    return logged(redrive_keys(rowgate, spec, _present(rowgate, set(keys))), "for parents committed meanwhile")


def redrive_pending(rowgate) -> list[ReplayResult]:
    """Every open row waiting for a parent key that exists now, parents first: what the re-drive timer runs.
    Also rows logged before missing_key existed (retryable, no key): checked once, they get their key."""
    rejections = rowgate.metadata.tables[REJECTIONS]
    results = []
    for spec in rowgate.dictionary.dependency_order():
        if not spec.foreign_keys:
            continue
        result = _redrive_waiting(rowgate, spec, {fk.parent for fk in spec.foreign_keys})
        result.add(_replay(rowgate, spec, sa.and_(rejections.c.retryable == sa.true(), rejections.c.missing_key.is_(None))))
        results.append(logged(result, "by the re-drive timer"))
    return results


def redrive_keys(rowgate, spec, keys: set[str], limit: int | None = None) -> ReplayResult:
    """The open rows of `spec` waiting for one of `keys`, validated again; at most `limit` of them."""
    rejections = rowgate.metadata.tables[REJECTIONS]
    result = ReplayResult(spec.name)
    ordered = sorted(keys)
    for start in range(0, len(ordered), LOOKUP_PARAMETERS):
        left = None if limit is None else limit - result.replayed
        if left is not None and left <= 0:
            break
        result.add(_replay(rowgate, spec, rejections.c.missing_key.in_(ordered[start : start + LOOKUP_PARAMETERS]), left))
    if limit is not None and result.replayed >= limit:
        log.info("%s: re-drove %d rows, the most one request does; the re-drive timer takes the rest", spec.name, result.replayed)
    return result


def _loaded_key(parent: str, fields: tuple[str, ...], loaded: pa.Table, index: int) -> str:
    return parent_key(parent, fields, tuple(loaded.column(name)[index].as_py() for name in fields))


def _redrive_waiting(rowgate, child, parents: set[str]) -> ReplayResult:
    """The open rows of `child` waiting for a key of one of `parents` that exists now. The keys they wait for
    are read a page at a time, so memory stays bounded however many rows wait."""
    rejections = rowgate.metadata.tables[REJECTIONS]
    result = ReplayResult(child.name)
    after = ""
    while True:
        query = (
            sa.select(rejections.c.missing_key)
            .distinct()
            .where(_open(rejections, child.name), rejections.c.missing_key > after)
            .order_by(rejections.c.missing_key)
            .limit(KEY_PAGE)
        )
        page = retry_transient(lambda query=query: _read(rowgate, query))
        if not page:
            return result
        after = page[-1]
        waiting = {key for key in page if key.startswith("#") or json.loads(key)[0] in parents}
        result.add(redrive_keys(rowgate, child, _present(rowgate, waiting)))


def _present(rowgate, keys: set[str]) -> set[str]:
    """Those of `keys` whose parent row exists. A hashed (over-long) key cannot be looked up: it counts as
    present, so its rows are validated again, which is the real check."""
    present = {key for key in keys if key.startswith("#")}
    wanted: dict[tuple[str, tuple[str, ...]], list[list[str]]] = defaultdict(list)
    for key in keys - present:
        parent, fields, values = json.loads(key)
        wanted[(parent, tuple(fields))].append(values)

    def existing() -> set[str]:
        found = set()
        with rowgate.engine.connect() as conn:
            for (parent, fields), values in wanted.items():
                found |= _existing(conn, rowgate.metadata.tables[parent], rowgate.dictionary.table(parent), fields, values)
        return found

    return present | retry_transient(existing)


def _read(rowgate, query: sa.Select) -> list:
    with rowgate.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def _existing(conn: sa.Connection, table: sa.Table, spec, fields: tuple[str, ...], values: list[list[str]]) -> set[str]:
    """parent_key of each row of `table` among `values` (the text parent_key writes, typed here as keys are)."""
    typed = []
    for position, name in enumerate(fields):
        column, bad = key_values(spec.field(name), [v[position] for v in values])[:2]
        typed.append([None if bad[i] else value for i, value in enumerate(column.to_pylist())])
    candidates = {key for key in zip(*typed) if None not in key}
    columns = [table.c[name] for name in fields]
    lookup = [key[0] for key in candidates] if len(columns) == 1 else list(candidates)
    return {parent_key(spec.name, fields, tuple(row)) for row in select_by_keys(conn, sa.select(*columns), columns, lookup)}


def _open(rejections: sa.Table, table: str) -> sa.ColumnElement:
    return sa.and_(rejections.c.table_name == table, rejections.c.resolved_at.is_(None))


def _replay(rowgate, spec, which: sa.ColumnElement, limit: int | None = None) -> ReplayResult:
    """The open rejections of `spec` matching `which`, a page per transaction, each page locked while it is
    checked: two re-drives of the same rows wait for each other, and the second sees the first's outcome."""
    rejections = rowgate.metadata.tables[REJECTIONS]
    result = ReplayResult(spec.name)
    after, seen = 0, 0
    while limit is None or seen < limit:
        size = rowgate.settings.chunk_rows if limit is None else min(rowgate.settings.chunk_rows, limit - seen)
        query = (
            sa.select(rejections.c.id, rejections.c.raw, rejections.c.reasons, rejections.c.fix)
            .where(_open(rejections, spec.name), which, rejections.c.id > after)
            .order_by(rejections.c.id)
            .limit(size)
            .with_for_update()  # PostgreSQL: FOR UPDATE; SQLite takes the write lock at BEGIN anyway
            .with_hint(rejections, "WITH (UPDLOCK, ROWLOCK)", "mssql")  # SQL Server's spelling: SQLAlchemy emits none
        )

        def page(query=query) -> tuple[int, int, ReplayResult]:
            with rowgate.engine.begin() as conn:
                rows = [(row.id, _validated_as(spec, row)) for row in conn.execute(query)]
                done = ReplayResult(spec.name)
                mapped = [(row_id, row) for row_id, row in rows if row is not None]
                done.need_a_fix = len(rows) - len(mapped)
                if mapped:
                    _replay_batch(conn, rowgate.metadata, spec, mapped, done)
                return (rows[-1][0] if rows else None), len(rows), done

        last, count, done = retry_key_races(page)
        if last is None:
            break
        after, seen = last, seen + count
        result.add(done)
    return result


def _validated_as(spec, row: sa.Row) -> dict | None:
    return validated_as(spec.field_names, json.loads(row.raw), json.loads(row.reasons), json.loads(row.fix) if row.fix else None)


def _replay_batch(conn: sa.Connection, metadata: sa.MetaData, spec, batch: list, result: ReplayResult) -> None:
    ids = np.array([row_id for row_id, _ in batch], dtype=np.int64)
    checked = validate(conn, metadata, spec, as_chunk(spec, [row for _, row in batch], ids))  # numbered by rejection id
    bulk_insert(conn, metadata.tables[spec.name], checked.rows)
    rejections = metadata.tables[REJECTIONS]
    refused = {refusal.row_number: refusal for refusal in checked.refused}
    resolved = [int(row_id) for row_id in ids if int(row_id) not in refused]
    by_id = rejections.update().where(rejections.c.id == sa.bindparam("row_id"))
    if resolved:
        conn.execute(by_id.values(resolved_at=now(), resolution=REDRIVEN, missing_key=None), [{"row_id": row_id} for row_id in resolved])
    if refused:
        updates = [
            {
                "row_id": row_id,
                "reasons": json.dumps([e.as_dict() for e in r.errors], ensure_ascii=False),
                "retryable": r.retryable,
                "missing_key": r.missing_key if r.retryable else None,
            }
            for row_id, r in refused.items()
        ]
        values = {name: sa.bindparam(name) for name in ("reasons", "retryable", "missing_key")}
        conn.execute(by_id.values(**values), updates)
    result.replayed += len(ids)
    result.resolved += len(resolved)
    result.still_refused += len(refused)
