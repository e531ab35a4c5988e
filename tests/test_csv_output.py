"""Every CSV rowgate writes: columns that stay aligned, and cells safe from formula injection (OWASP)."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx
import pytest
from click.testing import CliRunner

from shared import csvout, rejections
from shared.batch import insert_rows
from shared.cli import main
from shared.errors import EXTRA_CELLS
from shared.ingest import ingest_local
from shared.settings import Settings
from tests.api_host import live_host

HOSTILE = ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","y")']
HEADER = ["row_number", "id", "department", EXTRA_CELLS, "errors"]


def rejected_csv(rowgate) -> bytes:
    [path] = [p for p in rowgate.storage.list("rejected/") if p.endswith(".rejected.csv")]
    with rowgate.storage.open_read(path) as stream:
        return stream.read()


def cells_of(data: bytes | str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode() if isinstance(data, bytes) else data, newline="")))


def every_cell_is_quoted(text: str) -> bool:
    """Each record is "cell","cell",...: every cell between quotes (quotes inside doubled)."""
    return re.fullmatch(r'(?:"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*(?:\r\n|\n))*', text) is not None


def test_text_that_a_spreadsheet_would_run_gets_a_leading_quote_and_numbers_stay():
    assert [csvout.safe_cell(cell) for cell in HOSTILE] == [f"'{cell}" for cell in HOSTILE]
    assert [csvout.safe_cell(cell) for cell in ["Sales", "a=b", "'x", "", None, -5, 2.5, 0]] == ["Sales", "a=b", "'x", "", None, -5, 2.5, 0]
    out = io.StringIO()
    csvout.Writer(out, lineterminator="\n").writerow([-5, "-5", None, 'say "hi"'])
    assert out.getvalue() == '"-5","\'-5","","say ""hi"""\n'  # a typed -5 is a number; the text -5 is shown as text


def test_rejected_csv_keeps_columns_for_rows_of_too_few_and_too_many_cells(rowgate, tmp_path):
    (tmp_path / "departments.csv").write_text("1,Sales\n2\n3,Ops,Berlin,x\n4,\nx,Bad\n")
    assert ingest_local(rowgate, tmp_path / "departments.csv").rejected == 4
    rows = cells_of(rejected_csv(rowgate))
    assert rows[0] == HEADER and all(len(row) == len(HEADER) for row in rows)
    by_number = {row[0]: row for row in rows[1:]}
    assert by_number["2"][1:4] == ["2", "", ""] and by_number["2"][4].startswith("missing-cell: the row has 1 cells")
    assert by_number["3"][1:4] == ["3", "Ops", '["Berlin", "x"]'] and by_number["3"][4].startswith("extra-cell: the row has 4 cells")
    assert by_number["4"][1:4] == ["4", "", ""] and by_number["4"][4].startswith("constraint-error")
    assert by_number["5"][1:4] == ["x", "Bad", ""] and by_number["5"][4].startswith("type-error")


def test_a_batch_row_with_a_name_the_table_lacks_shows_it_under_extra_cells(rowgate):
    insert_rows(rowgate, "departments", [{"id": 1, "department": "Sales", "budget": 3}])
    out = io.BytesIO()
    assert rejections.export(rowgate, out, "departments") == 1
    [header, row] = cells_of(out.getvalue())
    assert header == HEADER and row[:4] == ["1", "1", "Sales", '{"budget": 3}'] and row[4].startswith("extra-cell")


def test_rejected_csv_and_export_neutralise_formulas_and_quote_every_cell(rowgate, tmp_path):
    with (tmp_path / "departments.csv").open("w", newline="") as out:
        csv.writer(out).writerows([i + 1, cell, "extra"] for i, cell in enumerate(HOSTILE))  # an extra cell: every row refused
    assert ingest_local(rowgate, tmp_path / "departments.csv").rejected == len(HOSTILE)
    written = rejected_csv(rowgate)
    exported = io.BytesIO()
    rejections.export(rowgate, exported, "departments")
    assert exported.getvalue() == written
    assert every_cell_is_quoted(written.decode())
    rows = cells_of(written)[1:]
    assert [row[2] for row in rows] == [f"'{cell}" for cell in HOSTILE]
    assert not any(cell.startswith(csvout.FORMULA_STARTS) for row in rows for cell in row)


def hostile_departments(insert) -> None:
    """Departments named like formulas, each with one 2021 hire, loaded through insert(table, rows)."""
    insert("departments", [{"id": i + 1, "department": name} for i, name in enumerate(HOSTILE)])
    insert("jobs", [{"id": 1, "job": "-Clerk"}])
    rows = [
        {"id": i + 1, "name": "N", "datetime": "2021-05-01T10:00:00Z", "department_id": i + 1, "job_id": 1} for i in range(len(HOSTILE))
    ]
    insert("hired_employees", rows)


def test_csv_reports_over_http_neutralise_formulas_and_keep_numbers(monkeypatch, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings) as (url, _host), httpx.Client(base_url=f"{url}/api", timeout=30) as api:
        hostile_departments(lambda table, rows: api.post(f"/tables/{table}/rows", json=rows).raise_for_status())
        text = api.get("/reports/hires-by-quarter", params={"year": 2021, "format": "csv"}).text
    assert every_cell_is_quoted(text)
    rows = cells_of(text)
    assert rows[0] == ["department", "job", "q1", "q2", "q3", "q4"]
    assert sorted(row[0] for row in rows[1:]) == sorted(f"'{name}" for name in HOSTILE)
    assert {row[1] for row in rows[1:]} == {"'-Clerk"} and all(row[2:] == ["0", "1", "0", "0"] for row in rows[1:])


def test_csv_reports_on_the_command_line_neutralise_formulas(tmp_path, make_rowgate):
    rowgate = make_rowgate(database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    hostile_departments(lambda table, rows: insert_rows(rowgate, table, rows))
    env = {"ROWGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "ROWGATE_STORAGE": str(tmp_path / "storage")}
    result = CliRunner().invoke(main, ["report", "hires-by-quarter", "--year", "2021", "--format", "csv"], env=env)
    assert result.exit_code == 0, result.output
    assert every_cell_is_quoted(result.output)
    rows = cells_of(result.output)
    assert rows[0] == ["department", "job", "q1", "q2", "q3", "q4"]
    assert sorted(row[0] for row in rows[1:]) == sorted(f"'{name}" for name in HOSTILE) and {row[1] for row in rows[1:]} == {"'-Clerk"}
    as_json = json.loads(CliRunner().invoke(main, ["report", "hires-by-quarter", "--format", "json"], env=env).output)
    assert {row["job"] for row in as_json} == {"-Clerk"}  # JSON is not a spreadsheet format: values as they are


@pytest.mark.parametrize("cell", HOSTILE)
def test_a_hostile_cell_is_neutralised_wherever_it_stands(cell):
    out = io.StringIO()
    csvout.Writer(out).writerows([[cell, 1], [1, cell]])
    assert [row for row in cells_of(out.getvalue())] == [[f"'{cell}", "1"], ["1", f"'{cell}"]]
