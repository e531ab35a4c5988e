"""Replay: run logged rejections through validation again; rows that now pass are loaded and marked resolved."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from shared.db import REJECTIONS, bulk_insert
from shared.load import now
from shared.parse import Chunk
from shared.validate import validate


@dataclass
class ReplayResult:
    table: str
    replayed: int = 0
    resolved: int = 0
    still_refused: int = 0


def replay(rowgate, table: str | None = None, retryable_only: bool = False) -> list[ReplayResult]:
    """Open rejections of one table (or all, parents first) validated again against the current data."""
    tables = [rowgate.dictionary.table(table)] if table else rowgate.dictionary.dependency_order()
    return [_replay_table(rowgate, spec, retryable_only) for spec in tables]


def redrive_children(rowgate, parent: str) -> list[ReplayResult]:
    """After a parent loads: retry the child rows refused only because their parent key was missing."""
    return [_replay_table(rowgate, child, retryable_only=True) for child in rowgate.dictionary.children_of(parent)]


def _replay_table(rowgate, spec, retryable_only: bool) -> ReplayResult:
    rejections = rowgate.metadata.tables[REJECTIONS]
    result = ReplayResult(spec.name)
    after = 0
    while True:
        query = (
            sa.select(rejections.c.id, rejections.c.raw)
            .where(rejections.c.table_name == spec.name, rejections.c.resolved_at.is_(None), rejections.c.id > after)
            .order_by(rejections.c.id)
            .limit(rowgate.settings.chunk_rows)
        )
        if retryable_only:
            query = query.where(rejections.c.retryable == sa.true())  # T-SQL has IS only for NULL
        with rowgate.engine.begin() as conn:
            batch = [(row_id, json.loads(raw)) for row_id, raw in conn.execute(query)]
            if not batch:
                return result
            after = batch[-1][0]
            # Rows refused for their shape (a list of cells) cannot be mapped to fields; they stay open.
            batch = [(row_id, raw) for row_id, raw in batch if isinstance(raw, dict)]
            if batch:
                _replay_batch(conn, rowgate.metadata, spec, batch, result)


def _replay_batch(conn: sa.Connection, metadata: sa.MetaData, spec, batch: list, result: ReplayResult) -> None:
    ids = np.array([row_id for row_id, _ in batch], dtype=np.int64)
    columns = {
        name: pa.array([None if raw.get(name) is None else str(raw[name]) for _, raw in batch], pa.string()) for name in spec.field_names
    }
    checked = validate(conn, metadata, spec, Chunk(0, ids, columns))
    bulk_insert(conn, metadata.tables[spec.name], checked.rows)
    rejections = metadata.tables[REJECTIONS]
    refused = {refusal.row_number: refusal for refusal in checked.refused}
    resolved = [int(row_id) for row_id in ids if int(row_id) not in refused]
    by_id = rejections.update().where(rejections.c.id == sa.bindparam("row_id"))
    if resolved:
        conn.execute(by_id.values(resolved_at=now()), [{"row_id": row_id} for row_id in resolved])
    if refused:
        updates = [
            {"row_id": row_id, "reasons": json.dumps([e.as_dict() for e in r.errors], ensure_ascii=False), "retryable": r.retryable}
            for row_id, r in refused.items()
        ]
        conn.execute(by_id.values(reasons=sa.bindparam("reasons"), retryable=sa.bindparam("retryable")), updates)
    result.replayed += len(ids)
    result.resolved += len(resolved)
    result.still_refused += len(refused)
