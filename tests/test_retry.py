"""retry_transient: transient errors of each backend are retried with backoff; anything else is raised at once.

SQL Server cannot run here: its errors are built as pyodbc builds them (SQLSTATE, then the driver's message
ending in the native error number), and the classifier is checked on those, bare and wrapped by SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import psycopg
import pyodbc
import pytest
import sqlalchemy as sa

from shared.retry import SQL_SERVER_TRANSIENT, is_transient, retry_transient


def sql_server_error(kind, number: int, text: str, state: str = "42000"):
    return kind(state, f"[{state}] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]{text} ({number}) (SQLExecDirectW)")


def wrapped(error: Exception) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance("SELECT 1", {}, error, pyodbc.Error)


@pytest.mark.parametrize("number", sorted(SQL_SERVER_TRANSIENT))
@pytest.mark.parametrize("kind", [pyodbc.OperationalError, pyodbc.ProgrammingError, pyodbc.Error])
def test_sql_server_transient_error_numbers_are_retried(kind, number):
    error = sql_server_error(kind, number, "Database 'rowgate' on server 'x' is not currently available.")
    assert is_transient(error)
    assert is_transient(wrapped(error))


def test_azure_sql_serverless_resuming_and_deadlock_are_transient_in_the_drivers_own_words():
    resuming = sql_server_error(
        pyodbc.OperationalError,
        40613,
        "Database 'rowgate' on server 'rowgate-sql' is not currently available.  Please retry the connection later.",
        "HY000",
    )
    deadlock = sql_server_error(
        pyodbc.Error,
        1205,
        "Transaction (Process ID 61) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.",
        "40001",
    )
    link = pyodbc.OperationalError(
        "08S01", "[08S01] [Microsoft][ODBC Driver 18 for SQL Server]Communication link failure (0) (SQLExecDirectW)"
    )
    assert is_transient(resuming) and is_transient(deadlock) and is_transient(link)


def test_sql_server_errors_that_will_fail_again_are_not_retried():
    duplicate = sql_server_error(
        pyodbc.IntegrityError,
        2627,
        "Violation of PRIMARY KEY constraint 'pk_jobs'. Cannot insert duplicate key in object 'dbo.jobs'. The duplicate key value is (20).",
        "23000",
    )
    syntax = sql_server_error(pyodbc.ProgrammingError, 102, "Incorrect syntax near 'FROM'.")
    assert not is_transient(duplicate)  # "(20)" is a key value here, not error number 20
    assert not is_transient(syntax)
    assert not is_transient(wrapped(duplicate))


@pytest.mark.parametrize("state", ["40001", "40P01", "55P03", "57P01", "08006", "08003", "53300"])
def test_postgres_transient_sqlstates_are_retried(state):
    error = psycopg.errors.lookup(state)("transient")
    assert is_transient(error)
    assert is_transient(sa.exc.OperationalError("SELECT 1", {}, error))


def test_postgres_lost_connection_without_sqlstate_is_retried_and_constraint_errors_are_not():
    assert is_transient(psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"))
    assert not is_transient(psycopg.errors.UniqueViolation("duplicate key value violates unique constraint"))
    assert not is_transient(psycopg.errors.StringDataRightTruncation("value too long"))
    assert not is_transient(ValueError("database is locked"))


def test_sqlite_locked_database_is_retried_until_the_other_writer_lets_go(tmp_path):
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.5, holder.execute, ["COMMIT"]).start()
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    attempts = []

    def work() -> int:
        attempts.append(time.monotonic())
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            return conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one()

    assert retry_transient(work) == 1
    assert len(attempts) > 1  # the first attempts met the lock
    holder.close()
    engine.dispose()


def test_a_non_transient_error_is_raised_at_once():
    attempts = []

    def work():
        attempts.append(1)
        raise sa.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key"))

    with pytest.raises(sa.exc.IntegrityError):
        retry_transient(work)
    assert len(attempts) == 1
