"""The torture test: kills, stalls and races on both SQL backends, then every row counted (see tests/torture.py).

The torture test is marked `torture`: CI runs it (scripts/test.sh deselects nothing); a developer skips it with -m "not torture".
ROWGATE_TORTURE_SEED replays a run's inputs and chaos schedule; ROWGATE_TORTURE_SECONDS sets the chaos time;
ROWGATE_TORTURE_DEBUG=1 runs every process with --debug, so a crash's log holds its traceback.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from shared.batch import insert_rows
from shared.context import open_rowgate
from shared.ingest import ingest_stored
from shared.settings import Settings
from tests import torture


@pytest.mark.torture
def test_every_row_lands_exactly_once_under_kills_stalls_and_races(database_url, tmp_path):
    seed = torture.seed_from_environment()
    seconds = torture.seconds_from_environment()
    rounds = max(1, round(seconds / 30))  # a longer budget lands more files, not just idles
    corpus = torture.make_corpus(seed, clients=6, batches_per_client=20 * rounds, rounds=rounds)
    run = torture.Torture(tmp_path / "torture", database_url, corpus, seed, seconds)
    header = f"torture seed {seed} (replay with ROWGATE_TORTURE_SEED={seed}), backend {database_url.split(':')[0]}; {torture.lease_note()}"
    try:
        run.run()
    except BaseException:
        print(f"{header}: {run.stats.summary()}")  # the seed, whatever went wrong
        raise
    reference = torture.clean_tables(tmp_path, corpus)
    findings = torture.check(run, reference)
    rows = sum(len(f.rows) for f in corpus.files) + sum(len(b.rows) for b in corpus.batches)
    summary = (
        f"{header}, {len(corpus.files)} files + {len(corpus.batches)} batches = {rows} rows, {run.elapsed:.0f} s\n{run.stats.summary()}\n"
        f"logs and end state: {run.workdir}"
    )
    if findings.by_check:
        pytest.fail(f"{summary}\nbroken invariants:\n{findings.report()}", pytrace=False)
    print(summary)


def test_torture_checks_catch_planted_defects(tmp_path):
    """The checks are only worth their failures: run the inputs calmly in one process, then plant one
    defect of each kind and see each check report it (so a passing torture test means something)."""
    corpus = torture.make_corpus(7, clients=1, batches_per_client=4, rounds=2)
    calm = torture.Torture(tmp_path / "calm", f"sqlite:///{tmp_path / 'calm.db'}", corpus, 7, 0)
    rowgate = open_rowgate(Settings(database_url=calm.database_url, storage=str(calm.storage), chunk_rows=torture.CHUNK_ROWS))
    order = list(torture.FIELDS)
    for file in sorted(corpus.files, key=lambda f: (f.round, f.wave, order.index(f.table))):
        calm.land(file)
        ingest_stored(rowgate, file.path)
    for batch in corpus.batches:
        insert_rows(rowgate, batch.table, batch.rows, request_id=batch.request_id)
    reference = torture.clean_tables(tmp_path, corpus)
    before = torture.check(calm, reference).by_check

    tables = rowgate.metadata.tables
    with rowgate.engine.begin() as conn:
        rejection = conn.execute(sa.select(tables["rowgate_rejections"]).limit(1)).mappings().one()
        conn.execute(tables["rowgate_rejections"].insert().values({k: v for k, v in rejection.items() if k != "id"}))
        lonely = next(k for (t, k), versions in corpus.valid.items() if t == "hired_employees" and len(versions) == 1 and k in reference[t])
        conn.execute(tables["hired_employees"].delete().where(tables["hired_employees"].c.id == lonely))
        first, second = conn.execute(sa.select(tables["rowgate_loads"].c.id).order_by("id").limit(2)).scalars()
        conn.execute(tables["rowgate_loads"].update().where(tables["rowgate_loads"].c.id == first).values(status="loading"))
        conn.execute(tables["rowgate_loads"].update().where(tables["rowgate_loads"].c.id == second).values(unchanged=999))
    rowgate.engine.dispose()
    next(p for p in (calm.storage / "archive").rglob("*") if p.is_file()).unlink()
    stderr = calm.logs / "planted.err"
    with stderr.open("wb") as err:
        planted = subprocess.Popen([sys.executable, "-c", "raise ValueError('planted')"], stderr=err)
    planted.wait()
    calm.runs.append(torture.Run("migrate", planted, stderr, stderr))
    calm.stats.http_errors.append("planted 500")
    after = torture.check(calm, reference).by_check

    planted_checks = [
        "duplicate rejection (same source, row)",
        "row lost (neither in its table nor open in rejections)",
        "table differs from the clean sequential run",
        "load left not done",
        "ledger counts != rows of the input",
        "landed file not archived exactly once",
        "traceback or crash in a process",
        "HTTP answer other than 200",
    ]
    missed = [name for name in planted_checks if len(after.get(name, [])) <= len(before.get(name, []))]
    assert not missed, f"planted defects not reported: {missed}"
