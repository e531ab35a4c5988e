"""The one list of settings the code reads, with their defaults. Nothing else reads the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from shared.errors import InputRefused, decimal_int

DATA_DIR = Path(".data")


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DATA_DIR / 'rowgate.db'}"
    storage: str = str(DATA_DIR / "storage")
    dictionary: str = ""
    chunk_rows: int = 50_000
    lease_seconds: int = 120
    max_retained_backups: int = 7
    function_key: str = ""
    backup_schedule: str = "0 0 2 * * *"
    sql_server: str = ""
    sql_database: str = ""
    client_id: str = ""


# Each setting: the app setting (environment variable) it comes from, and what it means.
ENVIRONMENT = {
    "database_url": "ROWGATE_DATABASE_URL",
    "storage": "ROWGATE_STORAGE",
    "dictionary": "ROWGATE_DICTIONARY",
    "chunk_rows": "ROWGATE_CHUNK_ROWS",
    "lease_seconds": "ROWGATE_LEASE_SECONDS",
    "max_retained_backups": "ROWGATE_BACKUP_RETENTION",
    "function_key": "ROWGATE_FUNCTION_KEY",
    "backup_schedule": "BACKUP_SCHEDULE",
    "sql_server": "ROWGATE_SQL_SERVER",
    "sql_database": "ROWGATE_SQL_DATABASE",
    "client_id": "AZURE_CLIENT_ID",
}
# Read only on a laptop or in tests; Azure gets ROWGATE_SQL_SERVER/DATABASE instead of a URL, manages
# function keys itself, uses the bundled dictionary and the default lease.
DEV_ONLY = {"ROWGATE_DATABASE_URL", "ROWGATE_FUNCTION_KEY", "ROWGATE_DICTIONARY", "ROWGATE_LEASE_SECONDS"}
DESCRIPTIONS = {
    "ROWGATE_DATABASE_URL": "SQLAlchemy URL of the database (SQLite file, postgresql+psycopg://..., mssql+pyodbc://...)",
    "ROWGATE_STORAGE": "a local folder, an Azure Storage connection string (UseDevelopmentStorage=true for Azurite), or a blob account URL (managed identity)",
    "ROWGATE_DICTIONARY": "path of a data dictionary (Data Package descriptor) to use instead of the bundled one",
    "ROWGATE_CHUNK_ROWS": "rows validated and committed together; bounds memory and the work a crash repeats",
    "ROWGATE_LEASE_SECONDS": "how long a load stays claimed by a run that has gone silent before another run may take it over (tests shorten it)",
    "ROWGATE_BACKUP_RETENTION": "backups kept per table",
    "ROWGATE_FUNCTION_KEY": "dev host only: the key non-anonymous routes require (Azure manages its own function keys)",
    "BACKUP_SCHEDULE": "NCRONTAB (6 fields, UTC) of the scheduled backup of all tables; the timer binding reads it",
    "ROWGATE_SQL_SERVER": "Azure SQL logical server (name.database.windows.net); with ROWGATE_SQL_DATABASE it replaces ROWGATE_DATABASE_URL",
    "ROWGATE_SQL_DATABASE": "Azure SQL database name",
    "AZURE_CLIENT_ID": "client id of the user-assigned managed identity (Azure SQL and Blob Storage sign-in)",
}


def from_environment(environ: dict[str, str] | None = None, **overrides) -> Settings:
    """Settings from app settings / environment variables; explicit overrides win when not None."""
    environ = os.environ if environ is None else environ
    values = {}
    for field in fields(Settings):
        raw = overrides.get(field.name)
        if raw is None:
            raw = environ.get(ENVIRONMENT[field.name]) or None
        if raw is None:
            continue
        if field.type == "int":
            number = raw if isinstance(raw, int) else decimal_int(raw)
            if number is None:
                raise InputRefused(f"{ENVIRONMENT[field.name]} must be an integer, got {raw!r}")
            raw = number
            if raw < 1:
                raise InputRefused(f"{ENVIRONMENT[field.name]} must be at least 1, got {raw}")
        values[field.name] = raw
    if "database_url" not in values and values.get("sql_server"):
        from shared.db import azure_sql_url  # the one place that knows the connection string's shape

        if not values.get("sql_database"):
            raise InputRefused("ROWGATE_SQL_SERVER is set but ROWGATE_SQL_DATABASE is not")
        values["database_url"] = azure_sql_url(values["sql_server"], values["sql_database"], values.get("client_id", ""))
    return Settings(**values)
