"""The reports' kept counts always equal the plain queries (the report_* views), whatever wrote the hires:
file loads, batches, re-drives, restores, a chunk rolled back, a database made before the counts existed."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import aggregates, backup, load, reports, restore
from shared.batch import insert_rows
from shared.ingest import ingest_local
from shared.replay import replay

YEARS = (2019, 2020, 2021, 2022)
hire = st.tuples(
    st.integers(1, 60),  # ids collide often: unchanged rows and refused repeats
    st.sampled_from(YEARS),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(1, 4),  # department 4 is missing until a step adds it: its rows wait and are re-driven
    st.integers(1, 2),
)
step = st.one_of(
    st.tuples(st.just("file"), st.lists(hire, min_size=1, max_size=12)),
    st.tuples(st.just("batch"), st.lists(hire, min_size=1, max_size=12)),
    st.tuples(st.just("killed"), st.lists(hire, min_size=1, max_size=12)),
    st.tuples(st.just("add-department"), st.just([])),
    st.tuples(st.just("backup"), st.just([])),
    st.tuples(st.just("restore"), st.just([])),
)


def plain(conn, name: str, year: int, order: str) -> list[tuple]:
    columns = {"report_hires_by_quarter": "department, job, q1, q2, q3, q4", "report_departments_above_mean": "id, department, hired"}
    return [tuple(row) for row in conn.exec_driver_sql(f"SELECT {columns[name]} FROM {name} WHERE year = {year} ORDER BY {order}")]


def assert_reports_equal_the_plain_queries(rowgate) -> None:
    tables = rowgate.metadata.tables
    with rowgate.engine.connect() as conn:
        for year in YEARS:
            quarters = reports.hires_by_quarter(conn, tables, year).rows
            assert quarters == plain(conn, reports.HIRES_BY_QUARTER, year, "lower(department), lower(job), department, job")
            above = reports.departments_above_mean(conn, tables, year).rows
            assert above == plain(conn, reports.DEPARTMENTS_ABOVE_MEAN, year, "hired DESC, id")
        counted = sorted(tuple(row) for row in conn.execute(aggregates.counted(tables["hired_employees"])))
        kept = conn.execute(sa.select(aggregates.counts_of(rowgate.metadata)).order_by(*aggregates.GROUP)).all()
    assert [tuple(row) for row in kept] == counted


def _cells(h: tuple) -> dict:
    key, year, month, day, department, job = h
    return {"id": key, "name": f"n{key}", "datetime": f"{year}-{month:02}-{day:02}T12:00:00Z", "department_id": department, "job_id": job}


@pytest.fixture
def hr(rowgate, tmp_path):
    for name, text in {"departments": "1,A\n2,B\n3,C\n", "jobs": "1,J\n2,K\n"}.items():
        (tmp_path / f"{name}.csv").write_text(text)
        ingest_local(rowgate, tmp_path / f"{name}.csv")
    return rowgate


def test_the_kept_counts_equal_the_plain_queries_after_any_sequence_of_writes(hr, tmp_path, monkeypatch):
    files = itertools.count()

    @settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(step, min_size=1, max_size=6))
    def run(steps):
        # The database carries over from one example to the next: the counts must hold from any state.
        for kind, hires in steps:
            if kind == "file":
                path = tmp_path / "hired_employees" / f"{next(files)}.csv"
                path.parent.mkdir(exist_ok=True)
                path.write_text("".join(",".join(str(v) for v in _cells(h).values()) + "\n" for h in hires))
                ingest_local(hr, path)
            elif kind == "batch":
                insert_rows(hr, "hired_employees", [_cells(h) for h in hires])
            elif kind == "killed":
                # A chunk that fails after its rows were inserted: its counts must roll back with them.
                with monkeypatch.context() as patch:
                    patch.setattr(load, "log_refusals", _fail)
                    with pytest.raises(RuntimeError, match="killed"):
                        insert_rows(hr, "hired_employees", [_cells(h) for h in hires] + [{"id": "bad"}])
            elif kind == "add-department":
                insert_rows(hr, "departments", [{"id": 4, "department": "D"}])
                replay(hr)
            elif kind == "backup":
                backup.backup(hr, ["hired_employees"])
            elif kind == "restore" and any(hr.storage.list("backups/hired_employees/")):
                restore.restore(hr, "hired_employees")
            assert_reports_equal_the_plain_queries(hr)

    run()


def test_hires_at_the_edges_of_quarters_and_of_the_calendar_are_counted_where_sql_puts_them(hr):
    moments = [
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",  # before the epoch: months counted from 1970 go negative
        "1970-01-01T00:00:00Z",
        "2021-03-31T23:59:59.999999Z",
        "2021-04-01T00:00:00Z",
        "2021-12-31T23:59:59Z",
        "2021-06-30T22:30:00-02:00",  # the first of July in UTC
        "9999-12-31T23:59:59.999999Z",  # SQLite's strftime rounds it up to the year 10000: the SQL reads the text
    ]
    rows = [{"id": i, "name": f"n{i}", "datetime": moment, "department_id": 1, "job_id": 1} for i, moment in enumerate(moments, 1)]
    assert insert_rows(hr, "hired_employees", rows).inserted == len(moments)
    assert_reports_equal_the_plain_queries(hr)


def _fail(*args, **kwargs):
    raise RuntimeError("killed after the rows were inserted")


def test_start_up_counts_the_hires_of_a_database_made_before_the_counts(rowgate, challenge, make_rowgate, database_url):
    for name in ("departments", "jobs", "hired_employees"):
        ingest_local(rowgate, challenge / f"{name}.csv")
    counts = aggregates.counts_of(rowgate.metadata)
    with rowgate.engine.begin() as conn:
        conn.execute(counts.delete())  # what the previous release left: hires, no counts
    again = make_rowgate(database_url)  # a start: db.upgrade under the start-up lock
    assert_reports_equal_the_plain_queries(again)
    with again.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.sum(counts.c.hires))).scalar_one() == 1929
    make_rowgate(database_url)  # once only: a second start changes nothing
    assert_reports_equal_the_plain_queries(again)


def test_the_kept_counts_equal_the_plain_queries_after_batches_of_more_groups_than_one_statement_takes(make_rowgate, tmp_path):
    """SQLite adds a batch's counts 199 groups per statement, each size compiled once and kept: batches of
    hundreds of groups (full statements and a remainder of each size), a replay and a file, in two rowgates on
    two databases in one process, each counting only its own hires."""
    rowgates = [make_rowgate(f"sqlite:///{tmp_path / f'{n}.db'}", storage=str(tmp_path / f"storage{n}")) for n in (1, 2)]
    for n, rowgate in enumerate(rowgates, 1):
        insert_rows(rowgate, "departments", [{"id": d, "department": f"D{d}"} for d in range(1, 31)])
        insert_rows(rowgate, "jobs", [{"id": j, "job": f"J{j}"} for j in range(1, 11)])
        hires = [(key, YEARS[key % 2], 1 + key % 12, 1 + key % 28, 1 + key % 30, 1 + key // 30 % 10) for key in range(n * 997)]
        batch = 600 + 100 * n  # 1,000 rows at most
        first = insert_rows(rowgate, "hired_employees", [_cells(h) for h in hires[:batch]])
        assert (first.inserted, first.rejected) == (batch, 0)
        assert insert_rows(rowgate, "hired_employees", [_cells(h) for h in hires[:batch]]) == first
        path = tmp_path / f"hired_employees{n}.csv"
        path.write_text("".join(",".join(str(v) for v in _cells(h).values()) + "\n" for h in hires[batch:]))
        assert ingest_local(rowgate, path, "hired_employees").inserted == 997 * n - batch
    for n, rowgate in enumerate(rowgates, 1):
        assert_reports_equal_the_plain_queries(rowgate)
        with rowgate.engine.connect() as conn:
            kept = sa.select(sa.func.sum(aggregates.counts_of(rowgate.metadata).c.hires))
            assert conn.execute(kept).scalar_one() == 997 * n


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 9999),
            st.integers(1, 4),
            st.integers(-(2**63), 2**63 - 1) | st.integers(0, 5),
            st.integers(-(2**63), 2**63 - 1) | st.integers(0, 5),
            st.integers(1, 10**6),
        ),
        max_size=60,
    )
)
def test_groups_are_summed_per_key_in_key_order_for_any_int64_keys(rows):
    """merge_groups sums hires per key, in key order, exactly for keys spanning the whole int64 range."""
    import numpy as np

    expected: dict = {}
    for *key, hires in rows:
        expected[tuple(key)] = expected.get(tuple(key), 0) + hires
    groups = aggregates.merge_groups(aggregates.NO_GROUPS, np.array(rows, np.int64).reshape(-1, 5))
    assert [(*map(int, g[:4]), int(g[4])) for g in groups] == [(*key, hires) for key, hires in sorted(expected.items())]


def test_groups_are_summed_exactly_for_70000_distinct_values_per_key_column():
    """70,000 distinct values in each key column (70,000**4 is past int64): no way of sorting them may overflow."""
    import numpy as np

    rng = np.random.default_rng(12)
    keys = rng.integers(-(2**63), 2**63 - 1, (70_000, 4), dtype=np.int64, endpoint=True)
    keys = np.concatenate([keys, keys[:5_000]])  # groups of two rows
    hires = rng.integers(1, 1000, len(keys))
    expected: dict = {}
    for key, count in zip(map(tuple, keys.tolist()), hires.tolist()):
        expected[key] = expected.get(key, 0) + count
    groups = aggregates.merge_groups(aggregates.NO_GROUPS, np.column_stack([keys, hires]))
    assert groups.tolist() == [[*key, count] for key, count in sorted(expected.items())]
