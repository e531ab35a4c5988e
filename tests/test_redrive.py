"""Re-drive: rows refused for a missing parent are loaded when it lands, checked only when one of their keys
does, at most REDRIVE_INLINE by the request, the rest by the re-drive timer; concurrent re-drives do it once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import sqlalchemy as sa

import shared.batch
import shared.replay
from shared.batch import insert_rows
from shared.errors import parent_key
from shared.replay import redrive_children, redrive_pending, replay


def hire(i: int, department: int, job: int = 1) -> dict:
    return {"id": i, "name": f"N{i}", "datetime": "2021-05-01T10:00:00Z", "department_id": department, "job_id": job}


def ids(rowgate, table: str) -> list[int]:
    key = rowgate.metadata.tables[table].c.id
    with rowgate.engine.connect() as conn:
        return list(conn.execute(sa.select(key).order_by(key)).scalars())


def rejections(rowgate, table: str, resolved: bool = False) -> list[dict]:
    r = rowgate.metadata.tables["rowgate_rejections"]
    query = sa.select(r).where(r.c.table_name == table, r.c.resolved_at.is_not(None) if resolved else r.c.resolved_at.is_(None))
    with rowgate.engine.connect() as conn:
        return [
            dict(row._mapping) | {"raw": json.loads(row.raw), "reasons": json.loads(row.reasons)}
            for row in conn.execute(query.order_by(r.c.id))
        ]


def waiting_hires(rowgate, count: int, departments: range) -> None:
    """`count` hires refused because their department (spread over `departments`) does not exist."""
    for start in range(0, count, 1000):
        rows = [hire(i, departments[i % len(departments)]) for i in range(start, min(count, start + 1000))]
        assert insert_rows(rowgate, "hired_employees", rows).rejected == len(rows)


def add_department_behind_the_apis_back(rowgate, key: int) -> None:
    """A parent that arrives without a re-drive (SQL, a restore, a parent committed as the child was refused)."""
    with rowgate.engine.begin() as conn:
        conn.execute(rowgate.metadata.tables["departments"].insert().values(id=key, department=f"D{key}"))


def count_validated(monkeypatch) -> list[int]:
    """Rows the re-drive validates, call by call (the real validation still runs)."""
    sizes: list[int] = []
    real = shared.replay.validate

    def spy(conn, metadata, spec, chunk):
        sizes.append(len(chunk.row_numbers))
        return real(conn, metadata, spec, chunk)

    monkeypatch.setattr(shared.replay, "validate", spy)
    return sizes


def test_a_parent_insert_checks_again_only_the_children_naming_its_keys(rowgate, monkeypatch):
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}])
    waiting_hires(rowgate, 1500, range(100, 250))  # 10 hires wait for each of 150 departments
    validated = count_validated(monkeypatch)
    assert insert_rows(rowgate, "departments", [{"id": 100, "department": "Sales"}]).inserted == 1
    assert sum(validated) == 10
    assert len(ids(rowgate, "hired_employees")) == 10 and len(rejections(rowgate, "hired_employees")) == 1490
    validated.clear()
    assert insert_rows(rowgate, "departments", [{"id": 7, "department": "Nobody waits"}]).inserted == 1
    assert sum(validated) == 0


def test_a_batch_redrives_at_most_its_share_and_the_timer_takes_the_rest(rowgate, monkeypatch):
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}])
    waiting_hires(rowgate, 10, range(5, 6))
    monkeypatch.setattr(shared.replay, "REDRIVE_INLINE", 4)
    assert insert_rows(rowgate, "departments", [{"id": 5, "department": "Ops"}]).inserted == 1
    assert len(ids(rowgate, "hired_employees")) == 4 and len(rejections(rowgate, "hired_employees")) == 6
    [result] = [r for r in redrive_pending(rowgate) if r.table == "hired_employees"]
    assert (result.replayed, result.resolved) == (6, 6)
    assert ids(rowgate, "hired_employees") == list(range(10)) and rejections(rowgate, "hired_employees") == []


def test_the_timer_redrives_rows_whose_parent_arrived_without_a_redrive(rowgate, monkeypatch):
    monkeypatch.setattr(shared.replay, "KEY_PAGE", 1)  # the waited-for keys read one page at a time
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}])
    waiting_hires(rowgate, 30, range(5, 8))
    add_department_behind_the_apis_back(rowgate, 6)
    r = rowgate.metadata.tables["rowgate_rejections"]
    with rowgate.engine.begin() as conn:  # rows logged before missing_key existed: retryable, no key
        conn.execute(r.update().where(r.c.raw.like('%"department_id": "7"%')).values(missing_key=None))
    add_department_behind_the_apis_back(rowgate, 7)
    redrive_pending(rowgate)
    assert [h for h in ids(rowgate, "hired_employees")] == [i for i in range(30) if 5 + i % 3 in (6, 7)]
    assert {row["raw"]["department_id"] for row in rejections(rowgate, "hired_employees")} == {"5"}
    assert all(row["missing_key"] == parent_key("departments", ("id",), 5) for row in rejections(rowgate, "hired_employees"))


def test_two_redrives_of_the_same_rows_at_once_insert_once_and_resolve_once(rowgate):
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}])
    waiting_hires(rowgate, 600, range(5, 6))
    add_department_behind_the_apis_back(rowgate, 5)
    runs = [lambda: redrive_children(rowgate, "departments"), lambda: replay(rowgate, "hired_employees"), redrive_pending.__get__(rowgate)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda n: runs[n % 3](), range(6)))
    resolved = sum(r.resolved for batch in results for r in batch if r.table == "hired_employees")
    assert resolved == 600  # each row resolved by exactly one of the six
    assert ids(rowgate, "hired_employees") == list(range(600))
    assert rejections(rowgate, "hired_employees") == [] and len(rejections(rowgate, "hired_employees", resolved=True)) == 600


def test_a_row_missing_two_parents_is_checked_again_when_the_last_one_lands(rowgate, monkeypatch):
    assert insert_rows(rowgate, "hired_employees", [hire(1, 5, job=9)]).rejected == 1
    [waiting] = rejections(rowgate, "hired_employees")
    assert [e["field"] for e in waiting["reasons"]] == ["department_id", "job_id"]
    assert waiting["missing_key"] == parent_key("jobs", ("id",), 9)  # the last foreign key's parent
    validated = count_validated(monkeypatch)
    insert_rows(rowgate, "departments", [{"id": 5, "department": "Ops"}])  # not the key it waits for: not checked
    assert sum(validated) == 0
    insert_rows(rowgate, "departments", [{"id": 6, "department": "Legal"}])
    insert_rows(rowgate, "jobs", [{"id": 9, "job": "Clerk"}])
    assert ids(rowgate, "hired_employees") == [1] and rejections(rowgate, "hired_employees") == []

    assert insert_rows(rowgate, "hired_employees", [hire(2, 7, job=10)]).rejected == 1
    insert_rows(rowgate, "jobs", [{"id": 10, "job": "Cook"}])  # checked again: still waits, now for department 7 only
    [still] = rejections(rowgate, "hired_employees")
    assert [e["field"] for e in still["reasons"]] == ["department_id"] and still["missing_key"] == parent_key("departments", ("id",), 7)
    insert_rows(rowgate, "departments", [{"id": 7, "department": "Support"}])
    assert ids(rowgate, "hired_employees") == [1, 2]


def test_a_redriven_child_whose_key_is_now_loaded_with_other_values_is_refused_for_it(rowgate):
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}])
    insert_rows(rowgate, "departments", [{"id": 1, "department": "Sales"}])
    assert insert_rows(rowgate, "hired_employees", [hire(1, 5)]).rejected == 1
    assert insert_rows(rowgate, "hired_employees", [hire(1, 1)]).inserted == 1  # the same id, another department
    assert insert_rows(rowgate, "departments", [{"id": 5, "department": "Ops"}]).inserted == 1
    [conflict] = rejections(rowgate, "hired_employees")
    assert conflict["reasons"][0]["code"] == "primary-key" and conflict["retryable"] is False and conflict["missing_key"] is None


def test_a_row_repeated_with_the_same_values_shares_the_refusal_of_its_first(rowgate):
    """Counted unchanged, the copy of a refused row was in neither the table nor the rejections."""
    insert_rows(rowgate, "departments", [{"id": 1, "department": "Sales"}])
    body = insert_rows(rowgate, "departments", [{"id": 1, "department": "Law"}, {"id": 1, "department": "Law"}])
    assert (body.inserted, body.unchanged, body.rejected) == (0, 0, 2)
    assert len(rejections(rowgate, "departments")) == 2
    assert insert_rows(rowgate, "hired_employees", [hire(3, 9), hire(3, 9)]).rejected == 2


def test_replaying_two_copies_of_a_refused_row_leaves_both_open(rowgate):
    insert_rows(rowgate, "departments", [{"id": 1, "department": "Sales"}])
    insert_rows(rowgate, "departments", [{"id": 1, "department": "Law"}, {"id": 2, "department": "Ops"}])
    insert_rows(rowgate, "departments", [{"id": 1, "department": "Law"}, {"id": 3, "department": "HR"}])
    [result] = replay(rowgate, "departments")
    assert (result.replayed, result.resolved, result.still_refused) == (2, 0, 2)
    assert len(rejections(rowgate, "departments")) == 2


def test_parent_key_is_the_same_text_from_either_side_and_short_enough_to_index():
    assert parent_key("departments", ("id",), np.int64(5)) == parent_key("departments", ("id",), (5,)) == '["departments",["id"],["5"]]'
    long = parent_key("names", ("name",), "x" * 5000)
    assert long.startswith("#") and len(long) == 65
    assert parent_key("names", ("name",), "x" * 5000) == long != parent_key("names", ("name",), "x" * 4999)


def test_composite_string_and_date_parent_keys_long_or_hostile_are_refused_and_found_again(make_rowgate, database_url, tmp_path):
    """A composite foreign key refuses its rows (it once matched nothing and the insert failed); keys typed by
    either side give the same text; one too long to index is hashed and still matches."""
    resource = lambda name, fields, key, fks=(): {  # noqa: E731
        "name": name,
        "path": f"landing/{name}.csv",
        "format": "csv",
        "dialect": {"header": True},
        "schema": {"fields": fields, "primaryKey": key, "foreignKeys": list(fks)},
    }
    code = {
        "name": "code",
        "type": "string",
        "constraints": {"required": True, "maxLength": 200},
    }  # 800 bytes + a date: under SQL Server's 900-byte key
    day = {"name": "day", "type": "date", "constraints": {"required": True}}
    descriptor = {
        "name": "keys",
        "resources": [
            resource("codes", [code, day], ["code", "day"]),
            resource(
                "uses",
                [{"name": "id", "type": "integer", "constraints": {"required": True}}, code, day],
                ["id"],
                [{"fields": ["code", "day"], "reference": {"resource": "codes", "fields": ["code", "day"]}}],
            ),
        ],
    }
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(descriptor))
    rowgate = make_rowgate(database_url, dictionary=str(path))
    hostile = [
        "É\"'; DROP TABLE codes; --",
        '"' * 100 + "x" * 100,
        " padded",
    ]  # a trailing space is refused in keys (SQL Server ignores it)
    uses = [{"id": i, "code": c, "day": "2024-02-29"} for i, c in enumerate(hostile)]
    assert insert_rows(rowgate, "uses", uses).rejected == 3
    keys = [row["missing_key"] for row in rejections(rowgate, "uses")]
    assert keys[1].startswith("#") and all(len(k) <= 300 for k in keys)
    assert insert_rows(rowgate, "codes", [{"code": c, "day": "2024-02-29"} for c in hostile[:2]]).inserted == 2
    assert ids(rowgate, "uses") == [0, 1]
    with rowgate.engine.begin() as conn:  # the last parent arrives without a re-drive: the timer finds it
        conn.execute(rowgate.metadata.tables["codes"].insert().values(code=" padded", day=date(2024, 2, 29)))
    redrive_pending(rowgate)
    assert ids(rowgate, "uses") == [0, 1, 2] and rejections(rowgate, "uses") == []
    rowgate.engine.dispose()


def test_the_redrive_timer_runs_every_ten_minutes():
    from tests.conftest import registered_functions

    timer = next(b for b in registered_functions()["redrive_timer"].get_bindings() if b.type == "timerTrigger")
    assert timer.schedule == "0 */10 * * * *"


def ledger_of_batches(rowgate) -> list[tuple]:
    loads = rowgate.metadata.tables["rowgate_loads"]
    query = sa.select(loads.c.source, loads.c.inserted, loads.c.unchanged, loads.c.rejected).order_by(loads.c.id)
    with rowgate.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def test_a_replayed_batch_changes_nothing_and_answers_what_was_committed(rowgate):
    insert_rows(rowgate, "departments", [{"id": 1, "department": "Sales"}])
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}])
    batch = [hire(1, 1), hire(2, 9)]  # department 9 arrives later
    first = insert_rows(rowgate, "hired_employees", batch, request_id="retry-1")
    assert (first.inserted, first.unchanged, first.rejected) == (1, 0, 1)
    insert_rows(rowgate, "departments", [{"id": 9, "department": "Legal"}])  # re-drives hire 2 into the table
    assert ids(rowgate, "hired_employees") == [1, 2]
    before = (ledger_of_batches(rowgate), rejections(rowgate, "hired_employees", resolved=True))
    for request_id in ("retry-1", "retry-1", "another-client", ""):
        again = insert_rows(rowgate, "hired_employees", batch, request_id=request_id)
        assert again.as_dict() == first.as_dict()
    assert (ledger_of_batches(rowgate), rejections(rowgate, "hired_employees", resolved=True)) == before
    assert ids(rowgate, "hired_employees") == [1, 2]
    [hires] = [row for row in before[0] if row[0] == "api:retry-1"]
    assert sum(hires[1:]) == 2


def test_a_request_id_used_again_for_other_rows_is_a_new_batch_with_its_own_ledger_row(rowgate):
    insert_rows(rowgate, "jobs", [{"id": 1, "job": "Clerk"}, {"id": 1, "job": "Other"}], request_id="reused")
    second = insert_rows(rowgate, "jobs", [{"id": 2, "job": "Cook"}], request_id="reused")
    assert (second.inserted, second.rejected) == (1, 0)
    assert ledger_of_batches(rowgate) == [("api:reused", 1, 0, 1), ("api:reused", 1, 0, 0)]
    again = insert_rows(rowgate, "jobs", [{"id": 2, "job": "Cook"}], request_id="reused")
    assert again.as_dict() == second.as_dict() and again.rejections == []
