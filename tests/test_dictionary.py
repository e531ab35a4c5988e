"""The data dictionary: standard, loaded into models, and open to new tables without code."""

from __future__ import annotations

import json

import frictionless
import pytest
import sqlalchemy as sa

from shared import dictionary
from shared.dictionary import DictionaryError
from shared.ingest import ingest_local


def test_descriptor_is_a_valid_frictionless_data_package():
    report = frictionless.Package.validate_descriptor(str(dictionary.DEFAULT_PATH))
    assert report.valid, report.flatten(["type", "note"])


def test_six_tables_load_with_keys_and_header_flags():
    data = dictionary.load()
    assert [t.name for t in data.dependency_order()] == ["departments", "jobs", "categories", "levels", "hired_employees", "courses"]
    hires = data.table("hired_employees")
    assert hires.primary_key == ("id",) and hires.dialect.header is False
    assert [(fk.fields, fk.parent) for fk in hires.foreign_keys] == [(("department_id",), "departments"), (("job_id",), "jobs")]
    assert data.table("categories").dialect.header is True and data.table("courses").format == "parquet"


def test_children_come_after_their_parents_even_when_listed_first(tmp_path):
    descriptor = json.loads(dictionary.DEFAULT_PATH.read_text())
    descriptor["resources"].reverse()
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps(descriptor))
    order = [t.name for t in dictionary.load(path).dependency_order()]
    assert order.index("departments") < order.index("hired_employees") and order.index("levels") < order.index("courses")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["resources"][2]["schema"]["foreignKeys"][0]["reference"].update(resource="nowhere"),
            "references unknown table 'nowhere'",
        ),
        (lambda d: d["resources"][0]["schema"].pop("primaryKey"), "needs a primaryKey"),
        (lambda d: d["resources"][0]["schema"]["fields"][0].update(type="geojson"), "type 'geojson' is not one of"),
    ],
    ids=["unknown-parent", "no-primary-key", "unsupported-type"],
)
def test_unusable_descriptor_is_refused_with_the_reason(tmp_path, change, message):
    descriptor = json.loads(dictionary.DEFAULT_PATH.read_text())
    change(descriptor)
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps(descriptor))
    with pytest.raises(DictionaryError, match=message):
        dictionary.load(path)


def test_a_seventh_table_needs_only_the_descriptor(tmp_path, make_rowgate):
    descriptor = json.loads(dictionary.DEFAULT_PATH.read_text())
    descriptor["resources"].append(
        {
            "name": "salaries",
            "path": "landing/salaries.csv",
            "format": "csv",
            "dialect": {"header": True},
            "schema": {
                "fields": [
                    {"name": "employee_id", "type": "integer", "constraints": {"required": True}},
                    {"name": "since", "type": "date", "constraints": {"required": True}},
                    {"name": "amount", "type": "integer", "constraints": {"required": True}},
                    {"name": "note", "type": "string"},
                ],
                "primaryKey": ["employee_id", "since"],
                "foreignKeys": [{"fields": ["employee_id"], "reference": {"resource": "hired_employees", "fields": ["id"]}}],
            },
        }
    )
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps(descriptor))
    assert frictionless.Package.validate_descriptor(str(path)).valid
    rowgate = make_rowgate(dictionary=str(path))
    (tmp_path / "departments.csv").write_text("1,Sales\n")
    (tmp_path / "jobs.csv").write_text("1,Clerk\n")
    (tmp_path / "hired_employees.csv").write_text("1,Ana,2021-01-05T10:00:00Z,1,1\n")
    (tmp_path / "salaries.csv").write_text(
        "employee_id,since,amount,note\n1,2021-01-05,100,\n1,2022-01-05,120,raise\n1,2022-01-05,130,\n2,2022-01-05,90,\n"
    )
    for name in ("departments", "jobs", "hired_employees"):
        ingest_local(rowgate, tmp_path / f"{name}.csv")
    result = ingest_local(rowgate, tmp_path / "salaries.csv")
    assert (result.inserted, result.rejected) == (2, 2)
    with rowgate.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT amount, note FROM salaries ORDER BY since")).all()
    assert [tuple(r) for r in rows] == [(100, None), (120, "raise")]
