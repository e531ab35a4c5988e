"""The metric reports. Each is one query, written once for every backend and kept as a SQL view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from shared.db import create_view

HIRES_BY_QUARTER = "report_hires_by_quarter"
DEPARTMENTS_ABOVE_MEAN = "report_departments_above_mean"
RECENT_COURSES = "report_recent_courses"
MAX_LIMIT = 1000
NEEDS = {
    HIRES_BY_QUARTER: ("hired_employees", "departments", "jobs"),
    DEPARTMENTS_ABOVE_MEAN: ("hired_employees", "departments"),
    RECENT_COURSES: ("courses", "categories", "levels"),
}


@dataclass
class Report:
    columns: list[str]
    rows: list[tuple]


def _hires_by_quarter(t: dict[str, sa.Table]) -> sa.Select:
    h, d, j = t["hired_employees"], t["departments"], t["jobs"]
    year = sa.cast(sa.extract("year", h.c.datetime), sa.Integer)
    quarter = (sa.cast(sa.extract("month", h.c.datetime), sa.Integer) + 2) // 3
    counts = [sa.func.sum(sa.case((quarter == q, 1), else_=0)).label(f"q{q}") for q in (1, 2, 3, 4)]
    return (
        sa.select(year.label("year"), d.c.department, j.c.job, *counts)
        .select_from(h.join(d, h.c.department_id == d.c.id).join(j, h.c.job_id == j.c.id))
        .group_by(year, d.c.department, j.c.job)
    )


def _departments_above_mean(t: dict[str, sa.Table]) -> sa.Select:
    h, d = t["hired_employees"], t["departments"]
    year = sa.cast(sa.extract("year", h.c.datetime), sa.Integer)
    hires = sa.select(year.label("year"), h.c.department_id, sa.func.count().label("hired")).group_by(year, h.c.department_id).subquery()
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


def create_views(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """One view per report whose tables the dictionary has."""
    for name, define in DEFINITIONS.items():
        if all(table in metadata.tables for table in NEEDS[name]):
            create_view(conn, name, define(metadata.tables))


def _view(conn: sa.Connection, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def _run(conn: sa.Connection, query: sa.Select) -> Report:
    result = conn.execute(query)
    return Report(list(result.keys()), [tuple(row) for row in result])


def hires_by_quarter(conn: sa.Connection, year: int) -> Report:
    """Hires per quarter for each department and job in a year, alphabetical (case-insensitive)."""
    v = _view(conn, HIRES_BY_QUARTER)
    query = (
        sa.select(v.c.department, v.c.job, v.c.q1, v.c.q2, v.c.q3, v.c.q4)
        .where(v.c.year == year)
        .order_by(sa.func.lower(v.c.department), sa.func.lower(v.c.job), v.c.department, v.c.job)
    )
    return _run(conn, query)


def departments_above_mean(conn: sa.Connection, year: int) -> Report:
    """Departments that hired more than the mean of all departments that year, most hires first."""
    v = _view(conn, DEPARTMENTS_ABOVE_MEAN)
    return _run(conn, sa.select(v.c.id, v.c.department, v.c.hired).where(v.c.year == year).order_by(v.c.hired.desc(), v.c.id))


def recent_courses(
    conn: sa.Connection, since: datetime | None = None, limit: int = 10, category: str | None = None, level: str | None = None
) -> Report:
    """Courses by newest start date, optionally since a date and of one category or level."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be from 1 to {MAX_LIMIT}, got {limit}")
    v = _view(conn, RECENT_COURSES)
    query = sa.select(v.c.course_id, v.c.course_name, v.c.category, v.c.level, v.c.start_date)
    if since is not None:
        query = query.where(v.c.start_date >= since)
    if category is not None:
        query = query.where(v.c.category == category)
    if level is not None:
        query = query.where(v.c.level == level)
    return _run(conn, query.order_by(v.c.start_date.desc(), v.c.course_id.desc()).limit(limit))
