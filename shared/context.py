"""The handles every operation needs, built once from settings: dictionary, database, storage."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from shared import db, dictionary, reports, storage
from shared.settings import Settings


@dataclass
class Rowgate:
    settings: Settings
    dictionary: dictionary.Dictionary
    engine: sa.Engine
    metadata: sa.MetaData
    storage: storage.Storage


def open_rowgate(settings: Settings) -> Rowgate:
    """Handles for these settings; creates the schema if it is missing (idempotent)."""
    data = dictionary.load(settings.dictionary or None)
    rowgate = Rowgate(
        settings=settings,
        dictionary=data,
        engine=db.create_engine(settings.database_url),
        metadata=db.build_metadata(data),
        storage=storage.open_storage(settings.storage),
    )
    initialize(rowgate)
    return rowgate


def initialize(rowgate: Rowgate) -> None:
    """Tables, ledger, rejections and report views; safe to run again."""
    with rowgate.engine.begin() as conn:
        rowgate.metadata.create_all(conn)
        reports.create_views(conn, rowgate.metadata)
