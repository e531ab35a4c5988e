"""Reading CSV as the descriptor says it is written: header, quotes, dialect and encoding."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from shared import dictionary
from shared.errors import InputRefused
from shared.ingest import ingest_local


def rows_of(rowgate, table: str) -> list[tuple]:
    with rowgate.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(rowgate.metadata.tables[table]).order_by(sa.text("1")))]


def refusals(rowgate) -> list[tuple[int, list[str], dict | list]]:
    """(row number, error codes, raw) of every open rejection, by row number."""
    rejections = rowgate.metadata.tables["rowgate_rejections"]
    with rowgate.engine.connect() as conn:
        found = conn.execute(sa.select(rejections).order_by(rejections.c.row_number)).all()
    return [(r.row_number, [e["code"] for e in json.loads(r.reasons)], json.loads(r.raw)) for r in found]


def descriptor_with(tmp_path, table: str, **resource) -> str:
    """The bundled descriptor with some of one resource's properties replaced (None removes one)."""
    descriptor = json.loads(dictionary.DEFAULT_PATH.read_text())
    spec = next(r for r in descriptor["resources"] if r["name"] == table)
    for key, value in resource.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    path = tmp_path / "datapackage.json"
    path.write_text(json.dumps(descriptor))
    return str(path)


def ingest_text(rowgate, tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return ingest_local(rowgate, path)


# Header: the dialect decides; a guess only where the descriptor leaves it open, and never a refusal.


def test_a_headerless_file_whose_first_row_names_a_field_loads_that_row(rowgate, tmp_path):
    result = ingest_text(rowgate, tmp_path, "departments.csv", "5,department\n6,Sales\n")
    assert (result.status, result.inserted, result.rejected) == ("loaded", 2, 0)
    assert rows_of(rowgate, "departments") == [(5, "department"), (6, "Sales")]


def test_a_declared_headerless_file_takes_a_header_like_first_row_as_data(rowgate, tmp_path):
    result = ingest_text(rowgate, tmp_path, "departments.csv", "id,department\n6,Sales\n")
    assert (result.inserted, result.rejected) == (1, 1)
    assert [(number, codes) for number, codes, _ in refusals(rowgate)] == [(1, ["type-error"])]


def test_a_declared_header_that_is_not_one_refuses_the_file(rowgate, tmp_path):
    with pytest.raises(InputRefused, match=r"the header names unknown columns \['5'\]"):
        ingest_text(rowgate, tmp_path, "categories.csv", "5,category_name\n6,Data\n")


@pytest.mark.parametrize(
    ("content", "loaded", "refused"),
    [
        ("id,department\n5,Sales\n", [(5, "Sales")], []),
        ("department,id\nSales,5\n", [(5, "Sales")], []),
        ("5,department\n6,Sales\n", [(5, "department"), (6, "Sales")], []),
        ("id,departmnt\n6,Sales\n", [(6, "Sales")], [1]),  # not a whole header: data, refused by its row alone
        ("id,id\n6,Sales\n", [(6, "Sales")], [1]),
    ],
    ids=["header", "header-any-order", "data-naming-a-field", "misspelt-header", "field-twice"],
)
def test_an_unstated_header_is_guessed_and_a_guess_never_refuses_the_file(make_rowgate, tmp_path, content, loaded, refused):
    rowgate = make_rowgate(dictionary=descriptor_with(tmp_path, "departments", dialect=None))
    assert rowgate.dictionary.table("departments").dialect.header is None
    result = ingest_text(rowgate, tmp_path, "departments.csv", content)
    assert result.status == "loaded" and rows_of(rowgate, "departments") == loaded
    assert [number for number, _, _ in refusals(rowgate)] == refused


def test_a_header_that_is_not_true_or_false_is_refused_at_start_up(tmp_path):
    with pytest.raises(dictionary.DictionaryError, match="table 'departments': dialect.header must be true or false"):
        dictionary.load(descriptor_with(tmp_path, "departments", dialect={"header": "yes"}))


# A quote never closed: the record runs to the end of the file, and is refused with its text, never loaded.


@pytest.mark.parametrize(
    ("content", "cells"),
    [
        ('8,a\n9,"unterminated\n10,z\n', ["9", "unterminated\n10,z\n"]),
        ('8,a\n9,"unterminated\n10,z', ["9", "unterminated\n10,z"]),
        ('8,a\r\n9,"unterminated', ["9", "unterminated"]),
        ('8,a\n"9\n10,z\n', ["9\n10,z\n"]),  # opened in the first cell: too few cells, but the quote is the reason
        ('8,a\n9,x,"y\n10,z\n', ["9", "x", "y\n10,z\n"]),
    ],
    ids=["last-cell", "no-final-newline", "crlf-at-the-end", "first-cell", "extra-cell"],
)
def test_a_quote_never_closed_refuses_its_record_with_its_text(rowgate, tmp_path, content, cells):
    result = ingest_text(rowgate, tmp_path, "departments.csv", content)
    assert (result.inserted, result.rejected) == (1, 1)
    assert rows_of(rowgate, "departments") == [(8, "a")]
    [(number, codes, raw)] = refusals(rowgate)
    assert (number, codes, raw) == (2, ["source-error"], cells)


def test_a_quote_closed_on_the_last_line_is_one_good_record(rowgate, tmp_path):
    result = ingest_text(rowgate, tmp_path, "departments.csv", '8,a\n9,"two\nlines"\n')
    assert (result.inserted, result.rejected) == (2, 0)
    assert rows_of(rowgate, "departments") == [(8, "a"), (9, "two\nlines")]


def test_a_one_field_table_reads_its_last_record_once(make_rowgate, tmp_path):
    descriptor = json.loads(dictionary.DEFAULT_PATH.read_text())
    descriptor["resources"] = [
        {
            "name": "tags",
            "dialect": {"header": False},
            "schema": {"fields": [{"name": "tag", "type": "string", "constraints": {"maxLength": 9}}], "primaryKey": ["tag"]},
        }
    ]
    (tmp_path / "one.json").write_text(json.dumps(descriptor))
    rowgate = make_rowgate(dictionary=str(tmp_path / "one.json"))
    assert ingest_text(rowgate, tmp_path, "tags.csv", "a\nb").inserted == 2
    result = ingest_text(rowgate, tmp_path, "tags.csv", 'c\n"d\ne\n')
    assert (result.inserted, result.rejected) == (1, 1) and rows_of(rowgate, "tags") == [("a",), ("b",), ("c",)]


def test_a_quote_never_closed_in_the_middle_of_a_big_file_is_one_refused_record(rowgate, tmp_path):
    """The quote swallows the 100,000 lines after it (past one parse block): the rows before it load, and the
    record it opens is refused once; every record is counted once."""
    lines = [f"{i},department {i}" for i in range(1, 200_001)]
    lines[99_999] = '100000,"department 100000'
    result = ingest_text(rowgate, tmp_path, "departments.csv", "\n".join(lines) + "\n")
    assert (result.inserted, result.rejected) == (99_999, 1)
    [(number, codes, raw)] = refusals(rowgate)
    assert (number, codes, raw[0]) == (100_000, ["source-error"], "100000")
    assert raw[1].startswith("department 100000\n100001,") and raw[1].endswith("200000,department 200000\n")
