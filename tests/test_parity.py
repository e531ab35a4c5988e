"""rowgate's verdicts equal frictionless-py's (the Table Schema reference implementation), row by row: for generated
descriptors and files (hypothesis, derandomized, so CI runs the same examples every time) and for fixtures recreated
from frictionless-py's own test data. Where rowgate differs on purpose, `comparable` drops that part of frictionless's
report and DIFFERENCES says why; the README lists them too.

ROWGATE_PARITY_EXAMPLES raises the number of generated examples (CI runs the default)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import UTC
from pathlib import Path

import frictionless
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.context import open_rowgate
from shared.ingest import ingest_local
from shared.settings import Settings

EXAMPLES = int(os.environ.get("ROWGATE_PARITY_EXAMPLES", "60"))

DIFFERENCES = {
    "shape-first": "a row with too many or too few cells is refused for its shape alone: rowgate cannot say which cell "
    "is which, so it does not judge their values (frictionless also reports the cells' type and constraint errors)",
    "same-row-again": "a row repeated with the same values is the same row arriving twice (unchanged), not a "
    "primary-key error: loads are idempotent; a repeat with other values is a primary-key error in both",
    "python-int": "an integer cell is ASCII digits with an optional sign: frictionless reads it with Python's int(), "
    "which also takes underscores and other scripts' digits (1_000, \u0663)",
    "int64": "an integer is at most 64 bits, what every backend, Avro and JSON clients hold: frictionless takes any size",
    "data-past-the-fields": "a row whose only data lies past the table's fields (,,1 for two fields) has extra "
    "cells: frictionless calls it blank, as if the data were not there",
    "values-first": "a row refused for its values is not checked against keys (its key may not be readable); "
    "frictionless also reports primary-key on it when its key was seen; a fixed row is checked for keys then",
    "numeric-38-9": "a number is what SQL NUMERIC(38, 9) holds exactly: no NaN or infinity, at most 29 digits before "
    "the point and 9 after; rowgate refuses rather than rounds (frictionless takes any Decimal)",
    "four-digit-year": "a year is four digits (frictionless takes whatever Python's int() reads, +123 or 1_23)",
    "no-24-00": "a time's hours go from 00 to 23: no SQL TIME holds 24:00 (frictionless reads it as midnight)",
    "pattern-anchored": "a pattern matches the whole value, every alternative of it: frictionless anchors ^a|b$, so it takes ax and xb",
    "json-constants": "an object or array cell holding NaN or Infinity is refused: they are not JSON, and no API "
    "client reads them back (Python's json, which frictionless uses, takes them)",
    "yearmonth-range": "a yearmonth's year is 0 to 9999, as the year type's (frictionless takes any)",
    "refused-first-copy": "a key whose first row was refused is not taken: its next row is judged on its own "
    "(frictionless counts the refused row's key as seen)",
}

# Cells per field type: valid values, edge cases and hostile ones. Each value is the cell's text as written.
CELLS = {
    "integer": st.one_of(
        st.integers(-(2**63), 2**63 - 1).map(str),
        st.sampled_from(["", "0", "-0", "+5", " 7", "7 ", "1.0", "1e3", "0x10", "0b1", "1_000", "\u0663", "9223372036854775808", "abc"]),
    ),
    "string": st.one_of(
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00\r"), max_size=12),
        st.sampled_from(["", " ", "=1+1", '"quoted"', "a,b", "line\nbreak", "ñandú"]),
    ),
    "date": st.one_of(
        st.dates().map(lambda d: d.isoformat()),
        st.sampled_from(
            ["", "2021-02-29", "2020-02-29", "2021-02-30", "2021-04-31", "0000-01-01", "2021-1-5", "20210105", "2021-01-05T00:00:00"]
        ),
    ),
    "datetime": st.one_of(
        st.datetimes().map(lambda d: d.isoformat(timespec="seconds") + "Z"),
        st.sampled_from(
            [
                "",
                "2021-02-31T00:00:00Z",
                "2021-02-28T23:59:60Z",
                "2021-07-27T16:02:08Z",
                "2021-07-27T16:02:08+02:00",
                "2021-07-27T16:02:08",
                "2021-07-27 16:02:08",
                "2021-07-27",
                "0000-01-01T00:00:00Z",
            ]
        ),
    ),
    "number": st.one_of(
        st.decimals(min_value=-(10**12), max_value=10**12, places=3, allow_nan=False).map(str),
        st.sampled_from(["", "1.5", "-0.25", "1e3", "1,5", "1.234,56", "1 234", "NaN", "INF", "0x1", ".5", "5.", "€12", "12%", "+3"]),
    ),
    "boolean": st.sampled_from(["", "true", "false", "True", "FALSE", "1", "0", "yes", "sí", "no", "t", " true"]),
    "year": st.one_of(st.integers(0, 9999).map(str), st.sampled_from(["", "2021", "+2021", "21", "02021", "-1", "2021.0", "abcd"])),
    "time": st.sampled_from(
        ["", "00:00:00", "23:59:59", "24:00:00", "12:30", "12:30:00.5", "12:30:00Z", "12:30:00+02:00", "25:00:00", "noon"]
    ),
    "yearmonth": st.one_of(
        st.tuples(st.integers(0, 9999), st.integers(1, 12)).map(lambda p: f"{p[0]:04}-{p[1]:02}"),
        st.sampled_from(["", "2021-7", " 2021-07", "2021-13", "2021-00", "2021", "10000-01", "2021-07-01", "x"]),
    ),
    "duration": st.sampled_from(["", "P1D", "PT60M", "P1Y2M", "-P1D", "PT", "P1.5D", "P1W", " P1D", "1D", "P99999999999D", "x"]),
    "string/email": st.sampled_from(["", "a@b.com", "ñ@ñ.es", "a@b", "x", "a b@c.com", "a@localhost"]),
    "string/uri": st.sampled_from(["", "http://x.org/a", "mailto:a@b.c", "x.org", "/a/b", "http://a b"]),
    "string/binary": st.sampled_from(["", "aGVsbG8=", "!!", "aGVsbG8", "a"]),
    "object": st.sampled_from(["", '{"a": 1}', "{}", '{"a": [1, 2.10]}', "[1]", "1", "x", '{"a": NaN}']),
    "array": st.sampled_from(["", "[1, 2.10]", "[]", '["a", {"b": null}]', "{}", "[1,", "[Infinity]"]),
    "geopoint": st.sampled_from(["", "1,2", "-3.70, 40.40", "180,-90", "181,0", "0,91", "1", "1,2,3", "x,y", "NaN,1"]),
    "any": st.sampled_from(["", "x", "1", " padded ", "=1+1"]),
    # format patterns (strptime) and any (dateutil): the key is type/format
    "date/%d/%m/%Y": st.one_of(
        st.dates().map(lambda d: d.strftime("%d/%m/%Y")), st.sampled_from(["", "31/02/2021", "5/1/2021", "2021-01-05", "05/01/21"])
    ),
    "datetime/%d.%m.%Y %H:%M%z": st.one_of(
        st.datetimes(timezones=st.just(UTC)).map(lambda d: d.strftime("%d.%m.%Y %H:%M%z")),
        st.sampled_from(["", "05.01.2021 10:30+0200", "05.01.2021 10:30", "05.01.2021 24:00+0000", "2021-01-05T10:30:00Z"]),
    ),
    "time/%H.%M": st.sampled_from(["", "10.30", "9.05", "23.59", "24.00", "10:30", "x"]),
    "date/any": st.sampled_from(["", "2021-01-05", "5 January 2021", "01/05/2021", "2021-02-30", "x"]),
    "datetime/any": st.sampled_from(["", "2021-01-05 10:30", "Jan 5 2021 10:30 PM", "2021-01-05T10:30:00+02:00", "2021-13-05", "x"]),
}
# Type options and constraints drawn per field type (each one rowgate reads; the descriptor is never refused).
OPTIONS = {
    "number": st.sampled_from(
        [{}, {"decimalChar": ","}, {"decimalChar": ",", "groupChar": "."}, {"bareNumber": False}, {"groupChar": " "}]
    ),
    "boolean": st.sampled_from([{}, {"trueValues": ["sí", "yes"], "falseValues": ["no"]}]),
}
BOUNDS = {
    "integer": st.integers(-5, 5),
    "number": st.integers(-5, 5),
    "year": st.integers(1990, 2030),
    "date": st.dates().map(lambda d: d.isoformat()),
}


@st.composite
def constraints_of(draw, field_type: str) -> dict:
    constraints = {"required": True} if draw(st.booleans()) else {}
    # A formatted string ("string/email") gets `required` only: plain words in an enum would not be of its format.
    if field_type == "string":
        kind = draw(st.sampled_from(["none", "maxLength", "minLength", "pattern", "enum"]))
        if kind == "maxLength":
            constraints["maxLength"] = draw(st.integers(0, 8))
        elif kind == "minLength":
            constraints["minLength"] = draw(st.integers(1, 4))
        elif kind == "pattern":
            constraints["pattern"] = draw(st.sampled_from(["[a-z]+", "a|b", "[0-9]{2,3}", ".*x"]))
        elif kind == "enum":
            constraints["enum"] = draw(st.sampled_from([["a", "b"], ["", "x"], ["ñandú", "=1+1"]]))
    elif field_type in BOUNDS and draw(st.booleans()):
        name = draw(st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]))
        constraints[name] = draw(BOUNDS[field_type])
    return constraints


@st.composite
def tables(draw):
    """A descriptor of one table (an integer key, then 1 to 4 fields of any type and constraint) and its rows."""
    fields = [{"name": "id", "type": "integer", "constraints": {"required": True}}]
    for index in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(sorted(CELLS)))
        field_type, _, form = kind.partition("/")
        options = draw(OPTIONS[field_type]) if field_type in OPTIONS else {}
        options |= {"format": form} if form else {}
        fields.append({"name": f"f{index}", "type": field_type, **options, "constraints": draw(constraints_of(kind))})
    ids = st.one_of(st.integers(1, 6).map(str), CELLS["integer"])
    rows = draw(
        st.lists(
            st.one_of(
                st.tuples(ids, *(CELLS["/".join(filter(None, (f["type"], f.get("format"))))] for f in fields[1:])).map(list),
                st.lists(st.sampled_from(["1", "x", ""]), max_size=len(fields) + 2),  # the wrong number of cells
            ),
            min_size=1,
            max_size=12,
        )
    )
    return {"fields": fields, "primaryKey": ["id"]}, rows


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


def frictionless_verdicts(path: Path, schema: dict, encoding: str = "utf-8") -> tuple[dict[int, dict], dict[int, list]]:
    """frictionless's error codes per row number and field (None for the row's own: shape, keys), and each row's
    values as it parsed them."""
    # Data Resource 2: exclusiveMinimum and exclusiveMaximum are Table Schema 2's
    descriptor = {"$schema": DATA_RESOURCE_2, "name": "t", "path": path.name, "encoding": encoding, "schema": schema}
    options = {"basepath": str(path.parent), "dialect": HEADER}
    resource = frictionless.Resource(descriptor, **options)
    report = resource.validate()
    verdicts: dict[int, dict[str | None, set[str]]] = {}
    for error in report.tasks[0].errors:
        assert getattr(error, "row_number", None), f"frictionless refused the file, not a row: {error.type}: {error.note}"
        field = error.field_name if error.type in ("type-error", "constraint-error") else None
        verdicts.setdefault(error.row_number, {}).setdefault(field, set()).add(error.type)
    with frictionless.Resource(descriptor, **options) as reading:
        parsed = {row.row_number: row.to_list() for row in reading.row_stream}
    return verdicts, parsed


def rowgate_verdicts(folder: Path, path: Path, schema: dict, encoding: str = "utf-8") -> dict[int, set[str]]:
    resource = {"name": "t", "path": "t.csv", "format": "csv", "encoding": encoding, "dialect": {"header": True}, "schema": schema}
    descriptor = {"name": "parity", "resources": [resource]}
    (folder / "datapackage.json").write_text(json.dumps(descriptor))
    database = folder / "parity.db"
    database.unlink(missing_ok=True)
    core = open_rowgate(
        Settings(database_url=f"sqlite:///{database}", storage=str(folder / "storage"), dictionary=str(folder / "datapackage.json"))
    )
    try:
        ingest_local(core, path, "t")
        with core.engine.connect() as conn:
            refused = conn.execute(sa.text("SELECT row_number, reasons FROM rowgate_rejections")).all()
    finally:
        core.engine.dispose()
    return {number: {reason["code"] for reason in json.loads(reasons)} for number, reasons in refused}


DATA_RESOURCE_2 = "https://datapackage.org/profiles/2.0/dataresource.json"
HEADER = frictionless.Dialect(header_rows=[1])  # as the descriptor says: frictionless would guess it from the widest row
SHAPE = {"extra-cell", "missing-cell", "blank-row"}
INT64 = range(-(2**63), 2**63)


def refused_by_rowgate_alone(field: dict, cell: str) -> tuple[str, str] | None:
    """(the DIFFERENCES entry, the error code) under which rowgate refuses a cell frictionless takes, if any."""
    if field["type"] == "integer" and cell.strip():
        text = cell.strip()
        if not text.lstrip("+-").isascii() or "_" in text:
            return "python-int", "type-error"
        if text.lstrip("+-").isdigit() and int(text) not in INT64:
            return "int64", "type-error"
    if field["type"] in ("object", "array") and ("NaN" in cell or "Infinity" in cell):
        return "json-constants", "type-error"
    if field["type"] == "yearmonth" and cell.startswith("10000"):
        return "yearmonth-range", "type-error"
    if not cell:
        return None
    value, notes = frictionless.Field.from_descriptor(field).read_cell(cell)
    if notes and "type" in notes:
        return None  # frictionless refuses it too
    if field["type"] == "number" and value is not None:
        digits = value.as_tuple()
        if not value.is_finite() or -digits.exponent > 9 or value.adjusted() >= 29:
            return "numeric-38-9", "type-error"
    if field["type"] == "year" and not re.fullmatch(r"[0-9]{4}", cell):
        return "four-digit-year", "type-error"
    if field["type"] == "time" and cell.startswith("24"):
        return "no-24-00", "type-error"
    pattern = field.get("constraints", {}).get("pattern")
    if pattern and not notes and not re.fullmatch(pattern, cell):
        return "pattern-anchored", "constraint-error"
    return None


def cell_codes(field: dict, cell: str, theirs: set[str]) -> set[str]:
    """A cell's codes from rowgate: frictionless's, with DIFFERENCES applied (a type refused alone is only that)."""
    refusal = refused_by_rowgate_alone(field, cell)
    if refusal is None:
        return theirs
    return {"type-error"} if refusal[1] == "type-error" else theirs | {refusal[1]}


def expected(schema: dict, rows: list[list[str]], verdicts: dict[int, dict], parsed: dict[int, list]) -> dict[int, set[str]]:
    """frictionless's report with rowgate's deliberate differences (DIFFERENCES) applied."""
    fields, result, first = schema["fields"], {}, {}  # first: key -> the values of the row that took it
    for number, cells in enumerate(rows, start=2):
        by_field = verdicts.get(number, {})
        codes = set().union(*by_field.values())
        if not cells or codes & SHAPE:
            codes = {"blank-row"} if "blank-row" in codes or not cells else codes & SHAPE  # shape-first
            if any(cells[len(fields) :]):
                codes = {"extra-cell"}  # data-past-the-fields
        else:
            codes = set(by_field.get(None, ())).union(*(cell_codes(f, c, by_field.get(f["name"], set())) for f, c in zip(fields, cells)))
            if "primary-key" in codes and codes - {"primary-key"}:
                codes.discard("primary-key")  # values-first
            if "primary-key" in codes:
                taken = first.get(parsed[number][0])
                if taken is None or taken == parsed[number]:
                    codes.discard("primary-key")  # refused-first-copy, same-row-again
            if not codes:
                first.setdefault(parsed[number][0], parsed[number])
        if codes:
            result[number] = codes
    return result


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tables())
@example(({"fields": [{"name": "id", "type": "integer"}, {"name": "f0", "type": "datetime"}], "primaryKey": ["id"]}, [["1", "2021-07-27"]]))
def test_generated_files_get_frictionless_verdicts_row_by_row(tmp_path, case):
    schema, rows = case
    header = [field["name"] for field in schema["fields"]]
    path = tmp_path / "t.csv"
    path.write_bytes(csv_bytes(header, rows))
    verdicts, parsed = frictionless_verdicts(path, schema)
    assert rowgate_verdicts(tmp_path, path, schema) == expected(schema, rows, verdicts, parsed), (json.dumps(schema), path.read_text())


def test_every_difference_is_listed_in_the_readme():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name in DIFFERENCES:
        assert f"- {name}: " in readme, name


def fields(*specs: str) -> dict:
    """A schema from "name:type" specs, the first field its primary key; a trailing ! makes a field required."""
    made = [
        {"name": n, "type": t.rstrip("!"), "constraints": {"required": True} if t.endswith("!") else {}}
        for n, t in (spec.split(":") for spec in specs)
    ]
    return {"fields": made, "primaryKey": [made[0]["name"]]}


# The kinds of frictionless-py's own test files (data/blank-rows.csv, defective-rows.csv, invalid.csv, a BOM, a
# Latin-1 file, type errors), written again here as the project's own fixtures.
FIXTURES = {
    "blank-rows": (fields("id:integer", "name:string", "age:integer"), b"id,name,age\n1101,John,30\n1102,Julie,26\n,,\n", "utf-8"),
    "defective-rows": (fields("id:integer", "name:string", "age:integer"), b"id,name,age\n1101,John\n1102,Julie,26,Potatoes\n", "utf-8"),
    "empty-line-and-repeats": (fields("id:integer", "name:string"), b"id,name\n1,english\n1,english\n\n2,german,1,2,3\n", "utf-8"),
    "bom": (fields("id:integer", "name:string!"), "\ufeffid,name\n1,english\n2,\u4e2d\u56fd\u4eba\n3,\n".encode(), "utf-8"),
    "latin-1": (
        fields("id:integer", "name:string"),
        "id,name\n1,Espa\u00f1a\nzwei,Z\u00fcrich\n2,S\u00e3o Paulo\n".encode("latin-1"),
        "latin-1",
    ),
    "type-errors": (
        fields("id:integer", "age:integer", "born:date", "seen:datetime"),
        b"id,age,born,seen\n1,thirty,2000-01-01,2021-01-01T00:00:00Z\n2,26,2000-02-30,2021-01-01\n3,27,1999-12-31,2021-13-01T00:00:00Z\nx,1,,\n",
        "utf-8",
    ),
    "repeated-key-other-values": (fields("id:integer", "name:string"), b"id,name\n1,a\n1,b\n2,c\n", "utf-8"),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_frictionless_test_data_kinds_get_frictionless_verdicts(tmp_path, name):
    schema, data, encoding = FIXTURES[name]
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    rows = list(csv.reader(io.StringIO(data.decode(encoding).removeprefix("\ufeff"), newline="")))[1:]
    verdicts, parsed = frictionless_verdicts(path, schema, encoding)
    assert verdicts, "each fixture has refused rows"
    assert rowgate_verdicts(tmp_path, path, schema, encoding) == expected(schema, rows, verdicts, parsed)
