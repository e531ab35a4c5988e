"""Exactly once under faults: real processes killed (SIGKILL) and stopped (SIGSTOP) at chosen points, several
at once on PostgreSQL, their database connections terminated mid-load; then every row and the ledger are
counted. Blob fingerprints are checked against Azurite with a forged Content-MD5."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.ingest import ingest_local, ingest_stored
from tests.conftest import ROOT

ROWS = 20_000
RUNNER = """
import os, signal, sys
from pathlib import Path
import shared.ingest as ingest
from shared.context import open_rowgate
from shared.load import LoadBusy
from shared.settings import from_environment

mode, stop_at, path = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
rowgate = open_rowgate(from_environment())
chunks = [0]

def stop_here():
    chunks[0] += 1
    if chunks[0] == stop_at:
        os.kill(os.getpid(), signal.SIGSTOP)

if mode == "in-transaction":  # stop after the chunk's rows are written, before its commit
    write = ingest.write_chunk
    def write_then_stop(*args):
        write(*args)
        stop_here()
    ingest.write_chunk = write_then_stop
try:
    result = ingest.ingest_local(rowgate, path, progress=(lambda n: stop_here()) if mode == "between-chunks" else None)
except LoadBusy as busy:
    print("busy:", busy)
    sys.exit(3)
print("loaded", result.inserted, result.unchanged, result.rejected)
"""


def departments_file(path: Path, rows: int = ROWS, seed: int = 0) -> Path:
    """Departments with every kind of row: good ones, empty names (refused), a key repeated with the same
    values (unchanged) and with other values (refused)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for number in range(1, rows + 1):
        key = seed * 1_000_000 + number
        if number % 97 == 0:
            lines.append(f"{key},")  # refused: department is required
        elif number % 89 == 0:
            lines.append(f"{key - 1},dept {key - 1}")  # the previous key again, same values: unchanged
        elif number % 83 == 0:
            lines.append(f"{key - 1},other {key - 1}")  # the previous key again, other values: refused
        else:
            lines.append(f"{key},dept {key}")
    path.write_text("\n".join(lines) + "\n")
    return path


def environment(database_url: str, tmp_path: Path, **extra: str) -> dict:
    return {
        **os.environ,
        "ROWGATE_DATABASE_URL": database_url,
        "ROWGATE_STORAGE": str(tmp_path / "storage"),
        "ROWGATE_CHUNK_ROWS": "500",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "shared.cli", "ingest", *args]


def ledger(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT source, status, rows_read, inserted, unchanged, rejected, claimed_by FROM rowgate_loads ORDER BY id")
        ).all()


def wait_for(condition, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def rows_read(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(max(rows_read), 0) FROM rowgate_loads")).scalar_one()


def claimed_by_pid(engine: sa.Engine, pid: int) -> bool:
    with engine.connect() as conn:
        holders = conn.execute(sa.text("SELECT claimed_by FROM rowgate_loads")).scalars().all()
    return any(h and h.split(":")[1] == str(pid) for h in holders)


def assert_exactly_once(engine: sa.Engine, files: list[Path], rows: int = ROWS) -> None:
    """Every row of every file once in the table or the rejections; the ledger's counts are the truth."""
    with engine.connect() as conn:
        loads = conn.execute(sa.text("SELECT source, status, inserted, unchanged, rejected FROM rowgate_loads")).all()
        in_table = conn.execute(sa.text("SELECT count(*) FROM departments")).scalar_one()
        logged = conn.execute(sa.text("SELECT source, row_number FROM rowgate_rejections")).all()
    assert sorted(load.source for load in loads) == sorted(str(f.resolve()) for f in files)
    for load in loads:
        assert load.status == "done", load
        assert load.inserted + load.unchanged + load.rejected == rows, load
    duplicates = [key for key, times in Counter(logged).items() if times > 1]
    assert duplicates == [], f"{len(duplicates)} rows logged more than once"
    assert len(logged) == sum(load.rejected for load in loads)
    assert in_table == sum(load.inserted for load in loads)


def table_content(engine: sa.Engine) -> set[tuple]:
    with engine.connect() as conn:
        return {tuple(row) for row in conn.execute(sa.text("SELECT id, department FROM departments"))}


def clean_content(tmp_path: Path, files: list[Path]) -> set[tuple]:
    from shared.context import open_rowgate
    from shared.settings import Settings

    clean = open_rowgate(Settings(database_url=f"sqlite:///{tmp_path / 'clean.db'}", storage=str(tmp_path / "clean")))
    for file in files:
        ingest_local(clean, file)
    content = table_content(clean.engine)
    clean.engine.dispose()
    return content


def as_parquet(csv_file: Path, row_group_rows: int) -> Path:
    """The same rows as a Parquet file of several row groups, the second of them damaged."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    options = pacsv.ConvertOptions(column_types={"id": pa.int64(), "department": pa.string()}, strings_can_be_null=True)
    table = pacsv.read_csv(csv_file, pacsv.ReadOptions(column_names=["id", "department"]), convert_options=options)
    path = csv_file.with_suffix(".parquet")
    pq.write_table(table, path, row_group_size=row_group_rows)
    column = pq.ParquetFile(path).metadata.row_group(1).column(1)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_resumed_load_skips_committed_chunks_without_writing_a_lower_rows_read(make_rowgate, database_url, tmp_path, kind):
    rowgate = make_rowgate(database_url, chunk_rows=500)
    path = departments_file(tmp_path / "departments.csv")
    if kind == "parquet":
        path = as_parquet(path, row_group_rows=1500)  # rows 1501-3000 damaged: refused, each with its reason
    seen: list[int] = []

    def crash_after_ten_chunks(_rows: int) -> None:
        seen.append(rows_read(rowgate.engine))
        if len(seen) == 10:
            raise KeyboardInterrupt  # a run stopped between two chunks

    with pytest.raises(KeyboardInterrupt):
        ingest_local(rowgate, path, progress=crash_after_ten_chunks)
    resume_point = rows_read(rowgate.engine)
    assert resume_point == 5000
    seen.clear()
    ingest_local(rowgate, path, progress=lambda _rows: seen.append(rows_read(rowgate.engine)))
    assert seen == sorted(seen) and seen[0] > resume_point, "a resumed run wrote a lower rows_read"
    assert_exactly_once(rowgate.engine, [path])
    if kind == "csv":
        assert len(seen) == (ROWS - resume_point) // 500
    assert table_content(rowgate.engine) == clean_content(tmp_path, [path])
    rowgate.engine.dispose()


def test_sigkilled_twice_in_a_row_at_several_points_every_row_lands_once(make_rowgate, database_url, tmp_path):
    env = environment(database_url, tmp_path)
    make_rowgate(database_url).engine.dispose()  # the schema
    engine = sa.create_engine(database_url)
    path = departments_file(tmp_path / "departments.csv")
    kills = 0
    for point in (2_000, 9_000, 15_000):
        first = subprocess.Popen(cli(str(path)), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda point=point, first=first: rows_read(engine) >= point or first.poll() is not None, what=f"rows_read {point}")
        first.kill()
        first.wait()
        before = rows_read(engine)
        # The next run is killed as soon as it holds the load: inside the window where it passes over the
        # chunks committed already. Nothing it does there may lower the ledger or repeat a row later.
        second = subprocess.Popen(cli(str(path)), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda second=second: claimed_by_pid(engine, second.pid) or second.poll() is not None, what="the second run's claim")
        time.sleep(0.05)
        second.kill()
        second.wait()
        kills += 2
        assert rows_read(engine) >= before, "a killed resume lowered rows_read"
    finished = subprocess.run(cli(str(path), "--json"), env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert kills == 6
    assert_exactly_once(engine, [path])
    assert table_content(engine) == clean_content(tmp_path, [path])
    engine.dispose()


def stop_and_take_over(database_url: str, tmp_path: Path, mode: str) -> tuple[subprocess.CompletedProcess, float, tuple[str, str], Path]:
    """A run stopped (SIGSTOP) past its 3-second lease at its 8th chunk; a second run takes the load over and
    finishes; the first is resumed (SIGCONT) and must stop without writing. Returns the second run, its time,
    and the first run's output."""
    env = environment(database_url, tmp_path, ROWGATE_LEASE_SECONDS="3")
    path = departments_file(tmp_path / "departments.csv")
    stalled = subprocess.Popen(
        [sys.executable, "-c", RUNNER, mode, "8", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: _state(stalled.pid) == "T" or stalled.poll() is not None, what="the first run to stop")
    assert stalled.poll() is None, stalled.communicate()
    time.sleep(3.5)  # past the lease
    started = time.monotonic()
    successor = subprocess.run(cli(str(path), "--json"), env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    stalled.send_signal(signal.SIGCONT)
    output = stalled.communicate(timeout=60)
    return successor, took, output, path


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["between-chunks", "in-transaction"])
def test_a_run_stopped_past_its_lease_stops_without_writing_once_resumed(postgres_url, tmp_path, mode):
    successor, took, (out, err), path = stop_and_take_over(postgres_url, tmp_path, mode)
    assert successor.returncode == 0, successor.stderr
    # In a transaction the stopped run holds the ledger row's lock: the server ends its session after half
    # the lease (idle_in_transaction_session_timeout), so the successor waits seconds, not for ever.
    assert took < 30, f"the successor waited {took:.0f} s"
    assert "busy: this run lost load" in out and "Traceback" not in err, (out, err)
    engine = sa.create_engine(postgres_url)
    assert_exactly_once(engine, [path])
    assert table_content(engine) == clean_content(tmp_path, [path])
    engine.dispose()


def test_sqlite_a_run_stopped_between_chunks_past_its_lease_stops_without_writing(tmp_path):
    url = f"sqlite:///{tmp_path / 'rowgate.db'}"
    successor, _took, (out, err), path = stop_and_take_over(url, tmp_path, "between-chunks")
    assert successor.returncode == 0, successor.stderr
    assert "busy: this run lost load" in out and "Traceback" not in err, (out, err)
    engine = sa.create_engine(url)
    assert_exactly_once(engine, [path])
    engine.dispose()


@pytest.mark.postgres
def test_eight_processes_loading_overlapping_keys_never_crash_and_every_row_lands_once(make_rowgate, postgres_url, tmp_path):
    env = environment(postgres_url, tmp_path, ROWGATE_CHUNK_ROWS="200")
    make_rowgate(postgres_url).engine.dispose()  # the schema, as a deployment's first start makes it
    files = []
    for index in range(8):
        # Keys overlap between files: 600 shared with the next file with the same values, and every key
        # divisible by 50 with values of this file's own (only the first to land is loaded; others refused).
        keys = range(index * 1000, index * 1000 + 1600)
        lines = [f"{key},dept {key}" if key % 50 else f"{key},file {index}" for key in keys]
        files.append(tmp_path / f"part{index}" / "departments.csv")
        files[-1].parent.mkdir()
        files[-1].write_text("\n".join(lines) + "\n")
    same = tmp_path / "same" / "departments.csv"
    same.parent.mkdir()
    same.write_text("".join(f"{key},dept {key}\n" for key in range(100_000, 100_300)))
    processes = [subprocess.Popen(cli(str(f)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
    processes += [subprocess.Popen(cli(str(same)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outcomes = [(p.wait(timeout=300), *p.communicate()) for p in processes]
    assert [code for code, _, _ in outcomes[:8]] == [0] * 8, [err[-3000:] for _, _, err in outcomes if "Traceback" in err]
    assert all(code in (0, 2) and "Traceback" not in err for code, _, err in outcomes[8:]), outcomes[8:]
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM rowgate_loads WHERE source = :s"), {"s": str(same.resolve())}).scalar_one() == 1
        loads = conn.execute(sa.text("SELECT source, status, inserted, unchanged, rejected FROM rowgate_loads")).all()
        table = dict(conn.execute(sa.text("SELECT id, department FROM departments")).all())
        logged = conn.execute(sa.text("SELECT source, row_number, reasons FROM rowgate_rejections")).all()
    assert all(load.status == "done" for load in loads)
    assert {load.source: load.inserted + load.unchanged + load.rejected for load in loads} == {
        **{str(f.resolve()): 1600 for f in files},
        str(same.resolve()): 300,
    }
    assert len(table) == sum(load.inserted for load in loads) == 7 * 1000 + 1600 + 300
    assert len(logged) == len({(s, n) for s, n, _ in logged}) == sum(load.rejected for load in loads)
    assert all("already loaded with other values" in reasons for _, _, reasons in logged)
    for key, value in table.items():  # a shared key holds the values of one of the files that carry it
        assert value == f"dept {key}" or (key % 50 == 0 and value.startswith("file "))
    engine.dispose()


@pytest.mark.postgres
def test_instances_starting_at_once_on_a_new_database_all_create_the_schema_and_load(postgres_url, tmp_path):
    env = environment(postgres_url, tmp_path)
    files = [departments_file(tmp_path / f"p{index}" / "departments.csv", rows=50, seed=index + 1) for index in range(6)]
    processes = [subprocess.Popen(cli(str(f)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
    outcomes = [(p.wait(timeout=120), p.communicate()[1]) for p in processes]
    assert [code for code, _ in outcomes] == [0] * 6, [err[-2000:] for _, err in outcomes if err]
    engine = sa.create_engine(postgres_url)
    assert_exactly_once(engine, files, rows=50)
    engine.dispose()


@pytest.mark.postgres
def test_a_load_whose_database_connection_is_terminated_completes_with_exact_counts(make_rowgate, postgres_url, tmp_path):
    env = environment(postgres_url, tmp_path, PGAPPNAME="rowgate-victim", ROWGATE_CHUNK_ROWS="200")
    make_rowgate(postgres_url).engine.dispose()
    path = departments_file(tmp_path / "departments.csv", rows=30_000)
    engine = sa.create_engine(postgres_url)
    process = subprocess.Popen(cli(str(path)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    terminated = 0
    for point in (3_000, 10_000, 18_000, 25_000):
        wait_for(lambda point=point: rows_read(engine) >= point or process.poll() is not None, what=f"rows_read {point}")
        with engine.connect() as conn:
            terminated += conn.execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rowgate-victim') t"
                )
            ).scalar_one()
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert terminated >= 4
    assert_exactly_once(engine, [path], rows=30_000)
    engine.dispose()


@pytest.mark.azurite
def test_a_blob_with_a_forged_content_md5_is_fingerprinted_by_its_bytes(make_rowgate, azurite_storage):
    from azure.storage.blob import BlobServiceClient, ContentSettings

    rowgate = make_rowgate(storage=azurite_storage)
    service = BlobServiceClient.from_connection_string(azurite_storage)
    service.create_container("landing")
    first, second = b"1,Sales\n2,Legal\n3,Ops\n", b"4,Data\n5,Art\n6,Law\n"
    # Uploaded in one request each, as clients do: Blob Storage computes and keeps their Content-MD5.
    service.get_blob_client("landing", "departments.csv").upload_blob(first)
    assert ingest_stored(rowgate, "landing/departments.csv").inserted == 3
    blob = service.get_blob_client("landing", "departments/next.csv")
    blob.upload_blob(second)
    blob.set_http_headers(ContentSettings(content_md5=bytearray(hashlib.md5(first).digest())))  # any client can
    assert bytes(blob.get_blob_properties().content_settings.content_md5) == hashlib.md5(first).digest()
    result = ingest_stored(rowgate, "landing/departments/next.csv")
    assert (result.status, result.inserted) == ("loaded", 3)
    assert len(table_content(rowgate.engine)) == 6
    rowgate.engine.dispose()


def test_the_cli_reports_the_ingest_as_json_with_no_traceback(tmp_path):
    env = environment(f"sqlite:///{tmp_path / 'rowgate.db'}", tmp_path)
    path = departments_file(tmp_path / "departments.csv", rows=1000)
    run = subprocess.run(cli(str(path), "--json"), env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and json.loads(run.stdout)[0]["status"] == "loaded"


@pytest.mark.postgres
def test_a_chunk_losing_a_key_race_with_the_drivers_own_error_is_checked_again(make_rowgate, postgres_url, tmp_path, monkeypatch):
    """COPY runs on the driver's cursor: another run's commit of our key can surface as psycopg's
    UniqueViolation, not SQLAlchemy's. The chunk is checked again (races.retry_key_races), the row is unchanged.
    (SQLite has one writer at a time: no run can commit between our check and our write.)"""
    import psycopg

    import shared.ingest

    rowgate = make_rowgate(postgres_url)

    real_write = shared.ingest.write_chunk
    calls = []

    def racing_write(conn, *args):
        calls.append(1)
        if len(calls) == 1:
            with rowgate.engine.begin() as other:  # the other run commits department 2 between our check and write
                other.execute(sa.text("INSERT INTO departments (id, department) VALUES (2, 'Legal')"))
            raise psycopg.errors.UniqueViolation("duplicate key value violates unique constraint pk_departments")
        return real_write(conn, *args)

    monkeypatch.setattr(shared.ingest, "write_chunk", racing_write)
    (tmp_path / "departments.csv").write_text("1,Sales\n2,Legal\n")
    result = ingest_local(rowgate, tmp_path / "departments.csv")
    assert (result.inserted, result.unchanged, result.rejected, len(calls)) == (1, 1, 0, 2)
    with rowgate.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, department FROM departments ORDER BY id")).all() == [(1, "Sales"), (2, "Legal")]


@pytest.mark.postgres
@pytest.mark.parametrize("retried", [True, False])
def test_a_start_whose_session_is_ended_while_it_waits_for_the_schema_lock_starts_again(postgres_url, tmp_path, monkeypatch, retried):
    """An instance waiting for the start-up lock loses its session (the holder stalled, a failover): it starts
    again instead of crashing. Without the retry (retried=False) the same fault is the crash the torture run saw."""
    import threading

    import shared.context as context
    from shared.settings import Settings

    if not retried:
        monkeypatch.setattr(context, "retry_transient", lambda work: work())
    admin = sa.create_engine(postgres_url)
    holder = admin.connect()
    holder.exec_driver_sql("SELECT pg_advisory_xact_lock(7499639)")  # held until this transaction ends
    outcome: dict = {}

    def start() -> None:
        try:
            instance = context.open_rowgate(Settings(database_url=postgres_url, storage=str(tmp_path / "storage")))
            outcome["tables"] = sorted(sa.inspect(instance.engine).get_table_names())
            instance.engine.dispose()
        except Exception as exc:  # the crash this test is about, reported below
            outcome["error"] = exc

    starter = threading.Thread(target=start)
    starter.start()
    # Its query column may still read BEGIN while it waits: the wait itself names the advisory lock.
    waiting = sa.text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'")
    try:
        deadline, pids = time.monotonic() + 30, []
        with admin.connect() as watcher:
            while not pids and time.monotonic() < deadline:
                pids = watcher.execute(waiting).scalars().all()
                watcher.commit()  # pg_stat_activity is a snapshot per transaction: look again in a new one
                time.sleep(0.1)
            assert pids, f"the starting instance never waited for the lock: {outcome}"
            watcher.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
            time.sleep(0.5)
    finally:
        holder.rollback()  # the stalled holder lets go
        holder.close()
    starter.join(timeout=60)
    admin.dispose()
    if retried:
        assert "error" not in outcome, outcome.get("error")
        assert {"departments", "hired_employees", "rowgate_loads", "rowgate_rejections"} <= set(outcome["tables"])
    else:
        assert isinstance(outcome.get("error"), sa.exc.OperationalError)


def end_each_session_once(engine: sa.Engine, admin: sa.Engine, marker: str) -> list[str]:
    """Before the first run of each distinct statement holding `marker`, the server ends that session (as
    idle_in_transaction_session_timeout ends a run stalled past its lease, or a failover does). Returns the
    statements it ended, as they were sent."""
    ended: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def end_session(conn, cursor, statement, parameters, context, executemany):
        if marker in statement and statement not in ended:
            ended.append(statement)
            with admin.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({conn.connection.dbapi_connection.info.backend_pid})")

    return ended


def test_reads_after_a_load_survive_their_session_being_ended(postgres_url, make_rowgate, tmp_path):
    """The torture run on PostgreSQL: `migrate` exited 1 with "server closed the connection unexpectedly" where a
    file already loaded was answered (its rejected file written again, what stands of it counted) and where
    children were re-driven: those reads ran outside the retry every other unit of work has."""
    rowgate = make_rowgate(postgres_url)
    parents = tmp_path / "departments.csv"
    parents.write_text("1,Sales\n")
    children = tmp_path / "hired_employees.csv"
    children.write_text("1,Ann,2021-01-01T00:00:00Z,1,1\n2,Bob,2021-01-01T00:00:00Z,1,1\nbad,Cy,x,1,1\n")
    first = ingest_local(rowgate, children)
    assert (first.inserted, first.rejected) == (0, 3), "no job 1 yet: both wait for their parent"
    [rejected] = [path for path in (tmp_path / "storage").rglob("*.rejected.csv")]
    rejected.unlink()  # as if the run that closed the load was killed before it wrote the file
    admin = sa.create_engine(postgres_url)
    ended = end_each_session_once(rowgate.engine, admin, "rowgate_rejections")
    again = ingest_local(rowgate, children)
    assert (again.status, again.unchanged, again.rejected) == ("already-loaded", 0, 3)
    assert rejected.exists() and rejected.read_text().count("\n") == 4, "the rejected file: a header and 3 rows"
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("1,Engineer\n")
    ingest_local(rowgate, parents)
    assert ingest_local(rowgate, jobs).inserted == 1  # its children are re-driven: 2 load, the bad one stays
    with rowgate.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM hired_employees ORDER BY id").scalars().all() == [1, 2]
    assert len(ended) >= 3, ended
    admin.dispose()
