"""Synthetic data: deterministic, in the brief's formats, and every dirty kind is refused."""

from __future__ import annotations

import hashlib
import json

import pyarrow.parquet as pq
import sqlalchemy as sa

from shared.errors import CODES, SOURCE_ERROR, UNIQUE_ERROR
from shared.generate import HR_DIRT, generate
from shared.ingest import ingest_local


def digest(paths) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_same_seed_gives_the_same_bytes(tmp_path):
    assert digest(generate("hr", 5000, 4, tmp_path / "a", 0.1)) == digest(generate("hr", 5000, 4, tmp_path / "b", 0.1))
    assert digest(generate("hr", 5000, 4, tmp_path / "a", 0.1)) != digest(generate("hr", 5000, 5, tmp_path / "c", 0.1))


def test_formats_match_the_brief(tmp_path):
    departments, jobs, hires = generate("hr", 10, 1, tmp_path / "hr")
    assert hires.read_text().splitlines()[0].count(",") == 4 and not hires.read_text().startswith("id,")
    categories, levels, courses = generate("courses", 10, 1, tmp_path / "courses")
    assert categories.read_text().startswith("category_id,category_name\n")
    assert pq.read_schema(courses).names == ["course_id", "course_name", "category_id", "level_id", "start_date"]


def test_every_dirty_row_is_refused_with_its_code_and_every_clean_row_loads(make_rowgate, tmp_path):
    """The README promises dirty rows of every kind the validator refuses: blank-row, missing-cell and
    encoding-error rows were never made. A clean file of the same seed holds the same clean rows."""
    rowgate = make_rowgate()
    files = generate("hr", 20_000, 11, tmp_path / "hr", dirty_rate=0.05)
    clean = generate("hr", 20_000, 11, tmp_path / "clean", dirty_rate=0)[2].read_bytes().splitlines()
    lines = files[2].read_bytes().splitlines()
    results = [ingest_local(rowgate, f) for f in files]
    hires = results[2]
    dirty = sum(1 for line, same in zip(lines, clean, strict=True) if line != same)
    assert (hires.inserted, hires.rejected) == (len(lines) - dirty, dirty) and dirty > 0.04 * len(lines)
    with rowgate.engine.connect() as conn:
        reasons = conn.execute(sa.select(rowgate.metadata.tables["rowgate_rejections"].c.reasons)).scalars()
        codes = {error["code"] for reason in reasons for error in json.loads(reason)}
    assert (
        codes == {code for code, _ in HR_DIRT.values()} == set(CODES) - {SOURCE_ERROR, UNIQUE_ERROR}
    )  # the HR tables have no unique field


def test_courses_dirty_rows_are_refused(make_rowgate, tmp_path):
    rowgate = make_rowgate()
    results = [ingest_local(rowgate, f) for f in generate("courses", 20_000, 2, tmp_path / "c", dirty_rate=0.05)]
    assert results[2].rejected > 0.04 * 20_000 and results[2].inserted + results[2].rejected == 20_000
