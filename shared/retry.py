"""Retry: a unit of database work run again, with backoff, while it fails for a reason that passes by itself.

Transient, per backend:
- PostgreSQL (psycopg): serialization failure 40001, deadlock 40P01, lock timeout 55P03, too many
  connections 53300, the server shutting down or restarting 57P01/57P02/57P03, a statement cancelled by
  statement_timeout 57014 and a session ended by idle_in_transaction_session_timeout 25P03 (a stalled run's
  transaction: run again, its fence decides), any connection error (class 08), and a connection lost with
  no SQLSTATE at all ("server closed the connection").
- SQLite: "database is locked" / "database table is locked" (another writer held the lock past busy_timeout).
- SQL Server / Azure SQL (pyodbc): the error numbers Microsoft's own client retries by default
  (Microsoft.Data.SqlClient's SqlConfigurableRetryFactory transient list: 1204, 1205 deadlock, 1222 lock
  timeout, 4060, 4221, 40143, 40197, 40501 busy, 40540, 40613 database unavailable (serverless resuming),
  10928, 10929, 49918, 49919, 49920, 233, 997, 10053, 10054, 10060, 64, 20), and the ODBC connection-failure
  SQLSTATEs 08S01 / 08001 / 08003 / 08004 / 08007 and HYT00 / HYT01 (timeouts).
- Any error SQLAlchemy recognised as a dropped connection (`connection_invalidated`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

T = TypeVar("T")

ATTEMPTS = 8  # with the waits below about 40 s in all: Azure SQL serverless resumes from pause within a minute
FIRST_WAIT, MAX_WAIT = 0.2, 15.0  # seconds: a random pause up to FIRST_WAIT * 2^attempt (racing processes spread out)

POSTGRES_TRANSIENT = {"40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03", "57014", "25P03"}
SQL_SERVER_TRANSIENT = {1204, 1205, 1222, 4060, 4221, 40143, 40197, 40501, 40540, 40613, 10928, 10929, 49918, 49919, 49920}
SQL_SERVER_TRANSIENT |= {233, 997, 10053, 10054, 10060, 64, 20}  # connection-level failures
ODBC_TRANSIENT_STATES = {"08S01", "08001", "08003", "08004", "08007", "HYT00", "HYT01", "40001"}
SQLITE_TRANSIENT = ("database is locked", "database table is locked")
# Each diagnostic record ends "... <text> (<native error number>) (SQLExecDirectW)"; numbers inside the text
# (a duplicate key value "(20)") are not error numbers.
_SQL_SERVER_NUMBER = re.compile(r"\((\d+)\) \(SQL\w+\)")


def retry_transient(work: Callable[[], T]) -> T:
    """Run `work` (a callable that opens and commits its own transaction) and return its result; while it
    fails with a transient database error, run it again after a growing pause, up to ATTEMPTS times, then
    raise the last error. Anything else is raised at once. `work` must be safe to run again: its failed
    attempts were rolled back."""
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_random_exponential(multiplier=FIRST_WAIT, max=MAX_WAIT),
        reraise=True,
    )
    return retrying(work)


def is_transient(error: BaseException) -> bool:
    """Whether `error` (a SQLAlchemy error or the driver's own) is worth trying again."""
    if isinstance(error, sa.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if error is None:
        return False
    module = type(error).__module__
    if module.startswith("psycopg"):
        return _postgres_transient(error)
    if module == "sqlite3":
        return any(text in str(error) for text in SQLITE_TRANSIENT)
    if module == "pyodbc":
        return _sql_server_transient(error)
    return False


def _postgres_transient(error: BaseException) -> bool:
    import psycopg

    state = getattr(error, "sqlstate", None)
    if state is None:  # no answer from the server at all: the connection broke
        return isinstance(error, psycopg.OperationalError)
    return state in POSTGRES_TRANSIENT or state.startswith("08")


def _sql_server_transient(error: BaseException) -> bool:
    """pyodbc errors carry (SQLSTATE, message); SQL Server's error number is in the message, in parentheses."""
    args = [str(arg) for arg in error.args]
    state = args[0] if args else ""
    if state in ODBC_TRANSIENT_STATES:
        return True
    message = " ".join(args[1:])
    return any(int(number) in SQL_SERVER_TRANSIENT for number in _SQL_SERVER_NUMBER.findall(message))
