"""The metric reports. Each is written once for every backend: the hire reports read the counts kept by
shared/aggregates.py; each report's plain query over the tables is a SQL view (report_*), for anyone querying
the database directly, and the counts always equal it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from shared.aggregates import DatePart, counts_of
from shared.db import create_view
from shared.errors import InputRefused
from shared.limits import MAX_RECENT

HIRES_BY_QUARTER = "report_hires_by_quarter"
DEPARTMENTS_ABOVE_MEAN = "report_departments_above_mean"
RECENT_COURSES = "report_recent_courses"
NEEDS = {
    HIRES_BY_QUARTER: ("hired_employees", "departments", "jobs"),
    DEPARTMENTS_ABOVE_MEAN: ("hired_employees", "departments"),
    RECENT_COURSES: ("courses", "categories", "levels"),
}


@dataclass
class Report:
    columns: list[str]
    rows: list[tuple]


def _year(column: sa.ColumnElement) -> sa.ColumnElement:
    return DatePart("year", column)


def _hires_by_quarter(t: dict[str, sa.Table]) -> sa.Select:
    h, d, j = t["hired_employees"], t["departments"], t["jobs"]
    hire_year = _year(h.c.datetime)
    quarter = (DatePart("month", h.c.datetime) + 2) // 3
    counts = [sa.func.sum(sa.case((quarter == q, 1), else_=0)).label(f"q{q}") for q in (1, 2, 3, 4)]
    # Count on the integer keys first, then name them: grouping by text would cost far more.
    hires = (
        sa.select(hire_year.label("year"), h.c.department_id, h.c.job_id, *counts)
        .group_by(hire_year, h.c.department_id, h.c.job_id)
        .subquery("hires")
    )
    quarters = [hires.c[f"q{q}"] for q in (1, 2, 3, 4)]
    return sa.select(hires.c.year, d.c.department, j.c.job, *quarters).select_from(
        hires.join(d, hires.c.department_id == d.c.id).join(j, hires.c.job_id == j.c.id)
    )


def _departments_above_mean(t: dict[str, sa.Table]) -> sa.Select:
    h, d = t["hired_employees"], t["departments"]
    hire_year = _year(h.c.datetime)
    hires = (
        sa.select(hire_year.label("year"), h.c.department_id, sa.func.count().label("hired"))
        .group_by(hire_year, h.c.department_id)
        .cte("hires")
    )
    totals = sa.select(hires.c.year, sa.func.sum(hires.c.hired).label("total")).group_by(hires.c.year).subquery()
    departments = sa.select(sa.func.count()).select_from(d).scalar_subquery()
    # hired > total / departments, kept in integers so every backend agrees exactly.
    return (
        sa.select(totals.c.year, d.c.id, d.c.department, hires.c.hired)
        .select_from(totals.join(hires, hires.c.year == totals.c.year).join(d, d.c.id == hires.c.department_id))
        .where(hires.c.hired * departments > totals.c.total)
    )


def _recent_courses(t: dict[str, sa.Table]) -> sa.Select:
    c, cat, lvl = t["courses"], t["categories"], t["levels"]
    return sa.select(
        c.c.course_id, c.c.course_name, cat.c.category_name.label("category"), lvl.c.level_name.label("level"), c.c.start_date
    ).select_from(c.join(cat, c.c.category_id == cat.c.category_id).join(lvl, c.c.level_id == lvl.c.level_id))


DEFINITIONS = {HIRES_BY_QUARTER: _hires_by_quarter, DEPARTMENTS_ABOVE_MEAN: _departments_above_mean, RECENT_COURSES: _recent_courses}


def create_views(conn: sa.Connection, metadata: sa.MetaData, replace: bool = False) -> None:
    """One view per report whose tables the dictionary has: the missing ones, or all of them with `replace`."""
    existing = set() if replace else set(sa.inspect(conn).get_view_names())
    for name, define in DEFINITIONS.items():
        if name not in existing and all(table in metadata.tables for table in NEEDS[name]):
            create_view(conn, name, define(metadata.tables))


def _run(conn: sa.Connection, query: sa.Select) -> Report:
    result = conn.execute(query)
    return Report(list(result.keys()), [tuple(row) for row in result])


def _counts(tables: dict[str, sa.Table], year: int) -> sa.Select:
    """The kept counts of one year (shared/aggregates.py): equal to what the plain queries count."""
    counts = counts_of(tables["hired_employees"].metadata)
    return sa.select(counts).where(counts.c.year == int(year)).subquery("counts")


def _total(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.cast(sa.func.sum(column), sa.BigInteger)  # PostgreSQL sums BIGINT as NUMERIC: back to an integer


def hires_by_quarter(conn: sa.Connection, tables: dict[str, sa.Table], year: int) -> Report:
    """Hires per quarter for each department and job in a year, alphabetical (case-insensitive)."""
    c, d, j = _counts(tables, year), tables["departments"], tables["jobs"]
    quarters = [_total(sa.case((c.c.quarter == q, c.c.hires), else_=0)).label(f"q{q}") for q in (1, 2, 3, 4)]
    hires = sa.select(c.c.department_id, c.c.job_id, *quarters).group_by(c.c.department_id, c.c.job_id).subquery("hires")
    query = (
        sa.select(d.c.department, j.c.job, *(hires.c[f"q{q}"] for q in (1, 2, 3, 4)))
        .select_from(hires.join(d, hires.c.department_id == d.c.id).join(j, hires.c.job_id == j.c.id))
        .order_by(sa.func.lower(d.c.department), sa.func.lower(j.c.job), d.c.department, j.c.job)
    )
    return _run(conn, query)


def departments_above_mean(conn: sa.Connection, tables: dict[str, sa.Table], year: int) -> Report:
    """Departments that hired more than the mean of all departments that year, most hires first."""
    c, d = _counts(tables, year), tables["departments"]
    hires = sa.select(c.c.department_id, _total(c.c.hires).label("hired")).group_by(c.c.department_id).subquery("hires")
    total = sa.select(_total(c.c.hires)).scalar_subquery()
    departments = sa.select(sa.func.count()).select_from(d).scalar_subquery()
    query = (
        sa.select(d.c.id, d.c.department, hires.c.hired)
        .select_from(hires.join(d, d.c.id == hires.c.department_id))
        .where(hires.c.hired * departments > total)  # hired > total / departments, in integers so every backend agrees
        .order_by(hires.c.hired.desc(), d.c.id)
    )
    return _run(conn, query)


def recent_courses(
    conn: sa.Connection,
    tables: dict[str, sa.Table],
    since: datetime | None = None,
    limit: int = 10,
    category: str | None = None,
    level: str | None = None,
) -> Report:
    """Courses by newest start date, optionally since a date and of one category or level."""
    if not 1 <= limit <= MAX_RECENT:
        raise InputRefused(f"limit must be from 1 to {MAX_RECENT}, got {limit}")
    v = _recent_courses(tables).subquery()
    query = sa.select(v.c.course_id, v.c.course_name, v.c.category, v.c.level, v.c.start_date)
    if since is not None:
        query = query.where(v.c.start_date >= since)
    if category is not None:
        query = query.where(v.c.category == category)
    if level is not None:
        query = query.where(v.c.level == level)
    return _run(conn, query.order_by(v.c.start_date.desc(), v.c.course_id.desc()).limit(limit))
