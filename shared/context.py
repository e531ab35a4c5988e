"""The handles every operation needs, built once from settings: dictionary, database, storage."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa

from shared import db, dictionary, reports, storage
from shared.retry import retry_transient
from shared.settings import Settings


@dataclass
class Rowgate:
    settings: Settings
    dictionary: dictionary.Dictionary
    engine: sa.Engine
    metadata: sa.MetaData
    storage: storage.Storage


MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's starting threshold, kept


def _fixed_mmap_threshold() -> None:
    """glibc raises its mmap threshold each time a big block is freed, up to 32 MiB, so a chunk's buffers then
    come from the heap, which it seldom gives back: fixed, they are mapped and unmapped, about 30 MiB less peak
    RSS over a 1M-row file (bench/ingest.py). Elsewhere than glibc (macOS, musl) nothing to do."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, MMAP_THRESHOLD_BYTES)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError, TypeError):  # TypeError: Windows' ctypes takes no None for the process itself
        pass


def open_rowgate(settings: Settings) -> Rowgate:
    """Handles for these settings; creates the schema if it is missing (idempotent)."""
    # Arrow's default pool (jemalloc) keeps freed chunks' memory: the system allocator gives it back, about 30 MiB
    # less peak RSS over a file at the same speed (bench/ingest.py).
    pa.set_memory_pool(pa.system_memory_pool())
    _fixed_mmap_threshold()
    data = dictionary.load(settings.dictionary or None)
    rowgate = Rowgate(
        settings=settings,
        dictionary=data,
        engine=db.create_engine(settings.database_url, settings.lease_seconds),
        metadata=db.build_metadata(data),
        storage=storage.open_storage(settings.storage),
    )
    initialize(rowgate)
    return rowgate


def azure_sql_schema(data: dictionary.Dictionary) -> str:
    """The schema as a sqlcmd script for Azure SQL, safe to run again (postprovision runs it as the
    SQL administrator, so the app's identity needs no DDL rights at first start)."""
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect, metadata = db.sql_server_dialect(), db.build_metadata(data)
    batches = []
    for table in metadata.sorted_tables:
        batches.append(f"IF OBJECT_ID(N'{table.name}', N'U') IS NULL\n{str(CreateTable(table).compile(dialect=dialect)).strip()}")
        for index in sorted(table.indexes, key=lambda i: i.name):
            exists = f"SELECT 1 FROM sys.indexes WHERE name = N'{index.name}' AND object_id = OBJECT_ID(N'{table.name}')"
            batches.append(f"IF NOT EXISTS ({exists})\n{str(CreateIndex(index).compile(dialect=dialect)).strip()}")
    for name, define in reports.DEFINITIONS.items():
        if all(t in metadata.tables for t in reports.NEEDS[name]):
            batches.extend(db.view_ddl(dialect, name, define(metadata.tables)))
    return "".join(f"{batch}\nGO\n" for batch in batches)


def initialize(rowgate: Rowgate, replace_views: bool = False) -> None:
    """Tables, ledger, rejections and report views that are missing; safe to run again. Every start runs it,
    so it writes only what is missing; `rowgate init` also replaces the views (after a dictionary change)."""

    def create() -> None:
        with rowgate.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Instances starting at once on a new database would race to create the same tables (and crash on
                # pg_type's unique index): one at a time, and the others then find them. 0x726f77 spells "row".
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7499639)")
            rowgate.metadata.create_all(conn)
            db.upgrade(conn, rowgate.metadata)
            reports.create_views(conn, rowgate.metadata, replace=replace_views)

    # An instance stalled while it holds the start-up lock loses its session (idle_in_transaction_session_timeout),
    # and the ones waiting behind it may lose theirs: starting is run again like any unit of work.
    retry_transient(create)
