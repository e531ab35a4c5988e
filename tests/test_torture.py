"""The torture test: kills, stalls and races on both SQL backends, then every row counted (see tests/torture.py).

Marked `torture`: CI runs it (scripts/test.sh deselects nothing); a developer skips it with -m "not torture".
ROWGATE_TORTURE_SEED replays a run's inputs and chaos schedule; ROWGATE_TORTURE_SECONDS sets the chaos time.
"""

from __future__ import annotations

import pytest

from tests import torture

pytestmark = pytest.mark.torture


def test_every_row_lands_exactly_once_under_kills_stalls_and_races(database_url, tmp_path):
    seed = torture.seed_from_environment()
    seconds = torture.seconds_from_environment()
    corpus = torture.make_corpus(seed, clients=6, batches_per_client=20)
    run = torture.Torture(tmp_path / "torture", database_url, corpus, seed, seconds)
    header = f"torture seed {seed} (replay with ROWGATE_TORTURE_SEED={seed}), backend {database_url.split(':')[0]}"
    try:
        run.run()
    finally:
        print(f"{header}: {run.stats.summary()}")
    reference = torture.clean_tables(tmp_path, corpus)
    findings = torture.check(run, reference)
    rows = sum(len(f.rows) for f in corpus.files) + sum(len(b.rows) for b in corpus.batches)
    summary = (
        f"{header}, {len(corpus.files)} files + {len(corpus.batches)} batches = {rows} rows, {run.elapsed:.0f} s\n{run.stats.summary()}\n"
        f"logs and end state: {run.workdir}"
    )
    print(summary)
    assert not findings.by_check, f"{summary}\nbroken invariants:\n{findings.report()}"
