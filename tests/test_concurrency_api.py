"""The HTTP API under concurrency on PostgreSQL: real clients on a live dev host, real competing transactions.

A race is made to happen for sure by holding a second transaction open at the right moment (a key inserted
but not committed, a parent deleted as a restore does), then committing it while the request waits on it.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
import sqlalchemy as sa

from functions import runtime
from shared.settings import Settings
from tests.api_host import finished, live_host
from tests.conftest import registered_functions


@contextmanager
def serving(monkeypatch, tmp_path, database_url: str):
    settings = Settings(database_url=database_url, storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings) as (base, _host), httpx.Client(base_url=f"{base}/api", timeout=120) as client:
        yield client


@pytest.fixture
def api(monkeypatch, tmp_path, postgres_url):
    """A live dev host on PostgreSQL: the races below need a server that lets writers run at once."""
    with serving(monkeypatch, tmp_path, postgres_url) as client:
        yield client


@pytest.fixture
def any_api(monkeypatch, tmp_path, database_url):
    """A live dev host on SQLite and on PostgreSQL."""
    with serving(monkeypatch, tmp_path, database_url) as client:
        yield client


def post(api, table: str, rows: list[dict], **params) -> httpx.Response:
    return api.post(f"/tables/{table}/rows", json=rows, params=params)


def hire(i: int, department: int, job: int = 1) -> dict:
    return {"id": i, "name": f"N{i}", "datetime": "2021-05-01T10:00:00Z", "department_id": department, "job_id": job}


def rows_of(table: str) -> list[tuple]:
    with runtime.rowgate().engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))]


def open_rejections(table: str) -> list[dict]:
    with runtime.rowgate().engine.connect() as conn:
        query = sa.text("SELECT raw, reasons FROM rowgate_rejections WHERE table_name = :t AND resolved_at IS NULL ORDER BY id")
        return [{"raw": json.loads(raw), "reasons": json.loads(reasons)} for raw, reasons in conn.execute(query, {"t": table})]


class Held:
    """A second PostgreSQL transaction, kept open until commit(): the competitor a request races."""

    def __init__(self, statements: list[str]):
        self.conn = runtime.rowgate().engine.connect()
        self.transaction = self.conn.begin()
        for statement in statements:
            self.conn.exec_driver_sql(statement)
        self.pid = self.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()

    def wait_until_blocking(self, timeout: float = 20) -> None:
        """Until another session waits on one of this transaction's locks."""
        query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
        deadline = time.monotonic() + timeout
        with runtime.rowgate().engine.connect() as probe:
            while probe.execute(query, {"pid": self.pid}).scalar_one() == 0:
                probe.rollback()  # pg_stat_activity is a snapshot per transaction
                assert time.monotonic() < deadline, "the request never waited on the held transaction"
                time.sleep(0.02)

    def commit(self) -> None:
        self.transaction.commit()
        self.conn.close()


def race(api, held: Held, table: str, rows: list[dict]) -> httpx.Response:
    """Post rows while `held` is open; commit it once the request waits on it; the request's answer."""
    answer: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answer.append(post(api, table, rows)))
    thread.start()
    held.wait_until_blocking()
    held.commit()
    thread.join(timeout=60)
    return answer[0]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("theirs", "status", "code"),
    [("Clerk", None, None), ("Lawyer", 1, "primary-key")],
    ids=["same-values-unchanged", "other-values-refused"],
)
def test_a_key_committed_after_our_check_is_checked_again_not_a_500(api, theirs, status, code):
    held = Held([f"INSERT INTO jobs (id, job) VALUES (7, '{theirs}')"])
    response = race(api, held, "jobs", [{"id": 7, "job": "Clerk"}, {"id": 8, "job": "Cook"}])
    assert response.status_code == 200, response.text
    body = response.json()
    if status is None:
        assert (body["inserted"], body["unchanged"], body["rejected"]) == (1, 1, 0)
    else:
        assert (body["inserted"], body["unchanged"], body["rejected"]) == (1, 0, 1)
        assert (
            body["rejections"][0]["errors"][0]["code"] == code
            and "already loaded with other values" in body["rejections"][0]["errors"][0]["message"]
        )
    assert rows_of("jobs") == [(7, theirs), (8, "Cook")]
    assert len(open_rejections("jobs")) == body["rejected"]


@pytest.mark.postgres
def test_a_batch_racing_a_parent_restore_refuses_the_row_for_its_parent_not_a_500(api):
    assert post(api, "departments", [{"id": 1, "department": "Sales"}, {"id": 5, "department": "Ops"}]).status_code == 200
    assert post(api, "jobs", [{"id": 1, "job": "Clerk"}]).status_code == 200
    # What a restore to an older backup does: department 5 goes, in a transaction still open when the batch checks.
    held = Held(["DELETE FROM departments WHERE id = 5"])
    response = race(api, held, "hired_employees", [hire(1, 1), hire(2, 5)])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["inserted"], body["rejected"]) == (1, 1)
    assert body["rejections"][0]["errors"] == [
        {"field": "department_id", "code": "foreign-key", "message": "department_id 5 is not a departments.id"}
    ]
    assert [r[0] for r in rows_of("hired_employees")] == [1]
    assert [r["raw"]["id"] for r in open_rejections("hired_employees")] == ["2"]  # a batch logs its cells as text


@pytest.mark.postgres
def test_a_parent_whose_redrive_meets_a_child_key_committed_meanwhile_answers_its_own_outcome(api):
    """The parent commits, then its re-drive of a waiting child loses a key race: still a 200 for the parent."""
    post(api, "jobs", [{"id": 1, "job": "Clerk"}])
    assert post(api, "hired_employees", [hire(1, 5), hire(2, 5)]).json()["rejected"] == 2
    # Hire 1 arrives another way with other values (department 1 exists by then), uncommitted while the re-drive runs.
    post(api, "departments", [{"id": 1, "department": "Sales"}])
    held = Held(["INSERT INTO hired_employees VALUES (1, 'Other', '2021-05-01 10:00:00', 1, 1)"])
    response = race(api, held, "departments", [{"id": 5, "department": "Ops"}])
    assert response.status_code == 200, response.text
    assert (response.json()["inserted"], response.json()["rejected"]) == (1, 0)
    assert rows_of("departments") == [(1, "Sales"), (5, "Ops")]
    hires = rows_of("hired_employees")
    assert [(h[0], h[1]) for h in hires] == [(1, "Other"), (2, "N2")]
    [conflict] = open_rejections("hired_employees")
    assert conflict["raw"]["id"] == "1" and conflict["reasons"][0]["code"] == "primary-key"


@pytest.mark.postgres
def test_a_redrive_that_fails_after_the_commit_is_logged_and_retried_by_the_timer(api, monkeypatch, caplog):
    post(api, "jobs", [{"id": 1, "job": "Clerk"}])
    assert post(api, "hired_employees", [hire(1, 5)]).json()["rejected"] == 1
    import shared.replay

    def broken(*args, **kwargs):
        raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(shared.replay, "redrive_children", broken)
    response = post(api, "departments", [{"id": 5, "department": "Ops"}])
    assert response.status_code == 200 and response.json()["inserted"] == 1
    assert "re-drive after rows of departments were committed failed" in caplog.text
    assert rows_of("hired_employees") == [] and len(open_rejections("hired_employees")) == 1
    registered_functions()["redrive_timer"].get_user_function()(None)
    assert [r[0] for r in rows_of("hired_employees")] == [1] and open_rejections("hired_employees") == []


# The run was 16 clients x 200 batches: ROWGATE_API_RACE_BATCHES=200 repeats it.
CLIENTS, BATCHES, SEED = 16, int(os.environ.get("ROWGATE_API_RACE_BATCHES", "12")), int(os.environ.get("ROWGATE_API_RACE_SEED", "8"))


def test_many_clients_with_overlapping_keys_get_no_500_and_every_row_lands_once(any_api):
    """16 clients: departments with overlapping keys (same and other values), hires waiting for them, and the
    replay route, all at once. Afterwards every row is once in its table or once among the open rejections."""
    assert post(any_api, "jobs", [{"id": 1, "job": "Clerk"}]).status_code == 200
    rng = random.Random(SEED)
    plans = []
    for client in range(CLIENTS):
        for batch in range(BATCHES):
            if client % 4 == 3 and batch % 4 == 0:
                plans.append(("replay", None))
            elif client % 2 == 0:
                ids = rng.sample(range(1, 41), 5)
                plans.append(("departments", [{"id": i, "department": f"D{i}" if rng.random() > 0.1 else f"X{i}"} for i in ids]))
            else:
                first = (client * BATCHES + batch) * 10
                plans.append(("hired_employees", [hire(i, rng.randint(1, 45)) for i in range(first, first + 10)]))
    rng.shuffle(plans)

    def send(plan):
        table, rows = plan
        return plan, any_api.post("/rejections/replay") if table == "replay" else post(any_api, table, rows)

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(send, plans))
    # The replay route starts a Durable orchestration (202); the others answer at once (200).
    failed = [(plan[0], r.status_code, r.text[:300]) for plan, r in answers if r.status_code != (202 if plan[0] == "replay" else 200)]
    assert failed == [], f"seed {SEED}: {failed}"
    replays = [finished(any_api, r, timeout=120) for plan, r in answers if plan[0] == "replay"]
    assert [status["runtimeStatus"] for status in replays] == ["Completed"] * len(replays), f"seed {SEED}"
    batches = [(plan, r.json()) for plan, r in answers if plan[0] != "replay"]
    assert all(b["inserted"] + b["unchanged"] + b["rejected"] == b["received"] for _, b in batches)

    departments = dict(rows_of("departments"))
    assert sum(b["inserted"] for plan, b in batches if plan[0] == "departments") == len(departments)
    sent = {(row["id"], row["department"]) for plan, _ in batches if plan[0] == "departments" for row in plan[1]}
    assert set(departments.items()) <= sent
    refused = open_rejections("departments")
    assert len(refused) == sum(b["rejected"] for plan, b in batches if plan[0] == "departments")
    assert all(r["reasons"][0]["code"] == "primary-key" and departments[int(r["raw"]["id"])] != r["raw"]["department"] for r in refused)

    registered_functions()["redrive_timer"].get_user_function()(None)  # what a request left waiting, the timer takes
    hires = {h["id"]: h["department_id"] for plan, _ in batches if plan[0] == "hired_employees" for h in plan[1]}
    loaded = [r[0] for r in rows_of("hired_employees")]
    waiting = [int(r["raw"]["id"]) for r in open_rejections("hired_employees")]
    assert len(loaded) == len(set(loaded)) and len(waiting) == len(set(waiting)) and not set(loaded) & set(waiting)
    assert set(loaded) == {i for i, d in hires.items() if d in departments}
    assert set(waiting) == {i for i, d in hires.items() if d not in departments}


def test_the_same_batch_from_eight_clients_at_once_loads_once_and_logs_once(any_api):
    rows = [{"id": 1, "department": "Sales"}, {"id": 2, "department": "Legal"}, {"id": "x", "department": "Bad id"}]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(any_api, "departments", rows), range(8)))
    assert [a.status_code for a in answers] == [200] * 8, [a.text[:200] for a in answers]
    bodies = [a.json() for a in answers]
    # One commit; every other request is a replay of it and answers with its outcome.
    assert all(b == bodies[0] for b in bodies) and (bodies[0]["inserted"], bodies[0]["unchanged"], bodies[0]["rejected"]) == (2, 0, 1)
    assert rows_of("departments") == [(1, "Sales"), (2, "Legal")]
    assert len(open_rejections("departments")) == 1


@pytest.mark.postgres
def test_a_redrive_racing_a_parent_restore_leaves_the_row_waiting_not_a_crash(api):
    post(api, "jobs", [{"id": 1, "job": "Clerk"}])
    assert post(api, "hired_employees", [hire(1, 5)]).json()["rejected"] == 1
    with runtime.rowgate().engine.begin() as conn:  # the parent arrives without a re-drive of its own
        conn.exec_driver_sql("INSERT INTO departments VALUES (5, 'Ops')")
    held = Held(["DELETE FROM departments WHERE id = 5"])  # a restore to a backup without it, not yet committed
    outcome: list = []
    timer = registered_functions()["redrive_timer"].get_user_function()
    thread = threading.Thread(target=lambda: outcome.append(timer(None) or "done"))
    thread.start()
    held.wait_until_blocking()
    held.commit()
    thread.join(timeout=60)
    assert outcome == ["done"]
    assert rows_of("hired_employees") == []
    [waiting] = open_rejections("hired_employees")
    assert waiting["reasons"] == [{"field": "department_id", "code": "foreign-key", "message": "department_id 5 is not a departments.id"}]
