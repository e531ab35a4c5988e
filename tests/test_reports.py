"""The reports: the same answers on every backend, from views created with the schema."""

from __future__ import annotations

import csv
from datetime import datetime

import pytest
import sqlalchemy as sa

from shared import reports
from shared.errors import InputRefused
from shared.ingest import ingest_local


def load(rowgate, tmp_path, **files: str) -> None:
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
        ingest_local(rowgate, tmp_path / f"{name}.csv")


def test_hires_by_quarter_counts_each_quarter_in_case_insensitive_order(rowgate, tmp_path):
    load(
        rowgate,
        tmp_path,
        departments="1,sales\n2,Accounting\n3,Zeta\n",
        jobs="1,analyst\n2,Manager\n",
        hired_employees="1,A,2021-01-01T00:00:00Z,1,2\n2,B,2021-03-31T23:59:59Z,1,2\n3,C,2021-04-01T00:00:00Z,1,2\n"
        "4,D,2021-12-31T23:59:59Z,2,1\n5,E,2020-12-31T23:59:59Z,3,1\n6,F,2021-07-15T12:00:00Z,1,1\n",
    )
    with rowgate.engine.connect() as conn:
        report = reports.hires_by_quarter(conn, rowgate.metadata.tables, 2021)
    assert report.columns == ["department", "job", "q1", "q2", "q3", "q4"]
    assert report.rows == [("Accounting", "analyst", 0, 0, 0, 1), ("sales", "analyst", 0, 0, 1, 0), ("sales", "Manager", 2, 1, 0, 0)]


def test_departments_above_mean_counts_departments_without_hires(rowgate, tmp_path):
    # 4 departments, 6 hires in 2021: the mean is 1.5, so 2 or more hires is above it.
    load(
        rowgate,
        tmp_path,
        departments="1,A\n2,B\n3,C\n4,D\n",
        jobs="1,J\n",
        hired_employees="1,x,2021-01-01T00:00:00Z,1,1\n2,x,2021-02-01T00:00:00Z,1,1\n3,x,2021-03-01T00:00:00Z,1,1\n"
        "4,x,2021-04-01T00:00:00Z,2,1\n5,x,2021-05-01T00:00:00Z,2,1\n6,x,2021-06-01T00:00:00Z,3,1\n7,x,2022-01-01T00:00:00Z,4,1\n",
    )
    with rowgate.engine.connect() as conn:
        assert reports.departments_above_mean(conn, rowgate.metadata.tables, 2021).rows == [(1, "A", 3), (2, "B", 2)]
        assert reports.departments_above_mean(conn, rowgate.metadata.tables, 2022).rows == [(4, "D", 1)]
        assert reports.departments_above_mean(conn, rowgate.metadata.tables, 1999).rows == []


def test_challenge_answers(rowgate, challenge):
    for name in ("departments", "jobs", "hired_employees"):
        ingest_local(rowgate, challenge / f"{name}.csv")
    with rowgate.engine.connect() as conn:
        above = reports.departments_above_mean(conn, rowgate.metadata.tables, 2021).rows
        quarters = reports.hires_by_quarter(conn, rowgate.metadata.tables, 2021).rows
    assert above == [
        (8, "Support", 216),
        (5, "Engineering", 205),
        (6, "Human Resources", 201),
        (7, "Services", 200),
        (4, "Business Development", 185),
        (3, "Research and Development", 148),
        (9, "Marketing", 142),
    ]
    with (challenge / "hired_employees.csv").open(newline="") as stream:
        complete_2021 = sum(1 for row in csv.reader(stream) if all(row) and row[2].startswith("2021"))
    assert sum(sum(r[2:]) for r in quarters) == complete_2021 == 1643
    assert quarters[:2] == [("Accounting", "Account Representative IV", 1, 0, 0, 0), ("Accounting", "Actuary", 0, 1, 0, 0)]


def test_recent_courses_newest_first_with_filters(rowgate, tmp_path):
    load(
        rowgate,
        tmp_path,
        categories="category_id,category_name\n1,Data\n2,Cloud\n",
        levels="level_id,level_name\n1,Beginner\n2,Advanced\n",
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "course_id": [1, 2, 3, 4],
                "course_name": ["a", "b", "c", "d"],
                "category_id": [1, 2, 1, 1],
                "level_id": [1, 1, 2, 1],
                "start_date": ["2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z", "2024-02-01T00:00:00Z", "2023-01-01T00:00:00Z"],
            }
        ),
        tmp_path / "courses.parquet",
    )
    ingest_local(rowgate, tmp_path / "courses.parquet")
    with rowgate.engine.connect() as conn:
        assert [r[0] for r in reports.recent_courses(conn, rowgate.metadata.tables).rows] == [2, 3, 1, 4]
        assert [r[0] for r in reports.recent_courses(conn, rowgate.metadata.tables, limit=2).rows] == [2, 3]
        assert [r[0] for r in reports.recent_courses(conn, rowgate.metadata.tables, since=datetime(2024, 1, 15)).rows] == [2, 3]
        assert [r[0] for r in reports.recent_courses(conn, rowgate.metadata.tables, category="Data", level="Beginner").rows] == [1, 4]
        assert reports.recent_courses(conn, rowgate.metadata.tables).rows[0] == (2, "b", "Cloud", "Beginner", datetime(2024, 3, 1))
        with pytest.raises(InputRefused, match="limit must be from 1 to 1000"):
            reports.recent_courses(conn, rowgate.metadata.tables, limit=0)


def test_reports_are_views_in_the_database(rowgate):
    names = set(sa.inspect(rowgate.engine).get_view_names())
    assert {reports.HIRES_BY_QUARTER, reports.DEPARTMENTS_ABOVE_MEAN, reports.RECENT_COURSES} <= names
