"""The example dictionary (examples/school): decimals with a decimal comma, booleans in Spanish, an enum, a
pattern, bounds, a `;`-separated Windows-1252 export; its data made by `rowgate generate dictionary`, checked
by frictionless-py (the reference) and loaded by rowgate, every row once."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import frictionless
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from shared.cli import main
from shared.dictionary import DictionaryError
from shared.ingest import ingest_local, migrate

SCHOOL = Path(__file__).parents[1] / "examples" / "school" / "datapackage.json"


def generate(tmp_path: Path, rows: int, dirty_rate: float, seed: int = 1) -> Path:
    out = tmp_path / "school"
    env = {"ROWGATE_DICTIONARY": str(SCHOOL), "ROWGATE_STORAGE": str(tmp_path / "unused")}
    args = ["generate", "dictionary", "--rows", str(rows), "--out", str(out), "--dirty-rate", str(dirty_rate), "--seed", str(seed)]
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(out / "schools.csv"), str(out / "students.csv")]
    return out


def records(path: Path) -> list[list[str]]:
    with path.open(encoding="windows-1252", newline="") as stream:
        return list(csv.reader(stream, delimiter=";"))[1:]


def test_the_generated_files_are_valid_for_frictionless_and_written_as_the_resources_say(tmp_path):
    out = generate(tmp_path, 500, 0)
    raw = (out / "students.csv").read_bytes()
    assert b";" in raw.splitlines()[0] and "sí".encode("cp1252") in raw and "sí".encode() not in raw
    descriptor = json.loads(SCHOOL.read_text())
    for resource in descriptor["resources"]:
        resource["path"] = f"{resource['name']}.csv"
    (out / "datapackage.json").write_text(json.dumps(descriptor))
    report = frictionless.Package(str(out / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "type", "note"])[:5]
    assert [task.stats["rows"] for task in report.tasks] == [50, 500]


def test_the_example_loads_every_row_with_its_exact_decimals(make_rowgate, database_url, tmp_path):
    out = generate(tmp_path, 2000, 0)
    core = make_rowgate(database_url, dictionary=str(SCHOOL))
    results = migrate(core, str(out))
    assert [(r.table, r.inserted, r.rejected) for r in results] == [("schools", 200, 0), ("students", 2000, 0)]
    fees = [Decimal(row[5].replace(".", "").replace(",", ".")) for row in records(out / "students.csv")]
    with core.engine.connect() as conn:
        loaded = conn.execute(sa.text("SELECT fee, scholarship, stage FROM students ORDER BY student_id")).all()
    assert [Decimal(str(fee)) for fee, _, _ in loaded] == fees, "every fee exact, read with its decimal comma"
    assert {bool(s) for _, s, _ in loaded if s is not None} == {True, False}
    assert {stage for _, _, stage in loaded} <= {"primaria", "secundaria", "bachillerato"}
    core.engine.dispose()


@pytest.mark.parametrize("seed", [1, 2])
def test_with_dirty_rows_every_row_is_loaded_or_refused_once(make_rowgate, tmp_path, seed):
    out = generate(tmp_path, 3000, 0.05, seed)
    core = make_rowgate(dictionary=str(SCHOOL))
    results = {r.table: r for r in migrate(core, str(out))}
    for table, rows in (("schools", 300), ("students", 3000)):
        assert results[table].inserted + results[table].rejected == rows, table
        assert results[table].rejected > 0, "the dirty rate spoils some rows of every table"
    with core.engine.connect() as conn:
        codes = {
            reason["code"]
            for (reasons,) in conn.execute(sa.text("SELECT reasons FROM rowgate_rejections"))
            for reason in json.loads(reasons)
        }
    assert codes == {"blank-row", "missing-cell", "extra-cell", "type-error", "constraint-error", "foreign-key"}
    core.engine.dispose()


def test_a_field_the_generator_cannot_fill_is_named_in_one_line_with_exit_2(tmp_path):
    descriptor = json.loads(SCHOOL.read_text())
    del descriptor["resources"][0]["schema"]["fields"][2]["example"]
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps(descriptor))
    env = {"ROWGATE_DICTIONARY": str(path), "ROWGATE_STORAGE": str(tmp_path / "unused")}
    result = CliRunner().invoke(main, ["generate", "dictionary", "--out", str(tmp_path / "out")], env=env)
    assert result.exit_code == 2 and "schools.code: a field with a pattern needs an example" in result.output
    assert "Traceback" not in result.output and not list((tmp_path / "out").glob("*"))


def test_a_field_made_unique_after_rows_were_loaded_gets_its_index_or_names_the_repeats(make_rowgate, database_url, tmp_path):
    """create_all adds no index to a table that exists: the start-up adds a new unique field's, or says why it cannot."""
    descriptor = json.loads(SCHOOL.read_text())
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps(descriptor))
    (tmp_path / "schools.csv").write_bytes("school_id;name;code;public\n1;Sol;MAD-0001;sí\n2;Luna;MAD-0001;no\n".encode("cp1252"))
    core = make_rowgate(database_url, dictionary=str(path))
    assert ingest_local(core, tmp_path / "schools.csv").inserted == 2
    core.engine.dispose()
    descriptor["resources"][0]["schema"]["fields"][1]["constraints"]["unique"] = True
    path.write_text(json.dumps(descriptor))
    core = make_rowgate(database_url, dictionary=str(path))
    with core.engine.connect() as conn:
        assert "uq_schools_name" in {index["name"] for index in sa.inspect(conn).get_indexes("schools")}
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text("INSERT INTO schools (school_id, name, code, public) VALUES (3, 'Sol', 'MAD-0003', true)"))
    core.engine.dispose()
    descriptor["resources"][0]["schema"]["fields"][2]["constraints"]["unique"] = True  # both schools have MAD-0001
    path.write_text(json.dumps(descriptor))
    with pytest.raises(DictionaryError, match="schools.code is unique in the dictionary, but rows already loaded repeat"):
        make_rowgate(database_url, dictionary=str(path))


EVERY_TYPE = [
    {"name": "id", "type": "integer"},
    *(
        {"name": f"f{number}", "type": kind.partition("/")[0], **({"format": kind.partition("/")[2]} if "/" in kind else {})}
        for number, kind in enumerate((
            "integer", "number", "boolean", "date", "datetime", "time", "year", "yearmonth", "duration", "string",
            "string/email", "string/uri", "string/uuid", "string/binary", "object", "array", "geopoint",
            "geopoint/array", "geopoint/object", "any", "date/%d/%m/%Y", "datetime/%d.%m.%Y %H:%M:%S%z", "time/%I:%M %p",
            "date/any", "datetime/any", "time/any",
        ))
    ),
]  # fmt: skip


def test_the_generator_makes_valid_values_of_every_type_and_format(make_rowgate, tmp_path):
    descriptor = {
        "name": "every",
        "resources": [{"name": "every", "path": "every.csv", "schema": {"fields": EVERY_TYPE, "primaryKey": ["id"]}}],
    }
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps(descriptor))
    env = {"ROWGATE_DICTIONARY": str(path), "ROWGATE_STORAGE": str(tmp_path / "unused")}
    result = CliRunner().invoke(
        main, ["generate", "dictionary", "--rows", "300", "--dirty-rate", "0", "--out", str(tmp_path / "out")], env=env
    )
    assert result.exit_code == 0, result.output
    descriptor["resources"][0]["path"] = "every.csv"
    (tmp_path / "out" / "datapackage.json").write_text(json.dumps(descriptor))
    report = frictionless.Package(str(tmp_path / "out" / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    loaded = ingest_local(make_rowgate(dictionary=str(path)), tmp_path / "out" / "every.csv")
    assert (loaded.inserted, loaded.rejected) == (300, 0)


def test_the_generator_fills_a_self_referencing_key_with_earlier_rows_that_all_load(make_rowgate, tmp_path):
    """A reference to its own table got random numbers, most of them no row's key, and the table a tenth of the rows."""
    schema = {
        "fields": [{"name": "id", "type": "integer"}, {"name": "boss", "type": "integer"}],
        "primaryKey": ["id"],
        "foreignKeys": [{"fields": ["boss"], "reference": {"resource": "", "fields": ["id"]}}],
    }
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps({"name": "selfref", "resources": [{"name": "staff", "path": "staff.csv", "schema": schema}]}))
    env = {"ROWGATE_DICTIONARY": str(path), "ROWGATE_STORAGE": str(tmp_path / "unused")}
    result = CliRunner().invoke(
        main, ["generate", "dictionary", "--rows", "3000", "--dirty-rate", "0", "--out", str(tmp_path / "out")], env=env
    )
    assert result.exit_code == 0, result.output
    loaded = ingest_local(make_rowgate(dictionary=str(path)), tmp_path / "out" / "staff.csv")
    assert (loaded.inserted, loaded.rejected) == (3000, 0)
