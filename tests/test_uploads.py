"""Uploads in blocks into landing/: on the local folder and on Azurite, a file bigger than a block appears whole at
its commit and never before, with memory bounded by a block."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import tracemalloc

import pytest

from shared import uploads
from shared.errors import Conflict, InputRefused
from shared.limits import UPLOAD_BLOCK_BYTES
from shared.storage import UPLOADS

SIZE = 2 * UPLOAD_BLOCK_BYTES + 12_345  # three blocks, the last one short


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.azurite)])
def core(request, make_rowgate):
    storage = None if request.param == "local" else request.getfixturevalue("azurite_storage")
    instance = make_rowgate(storage=storage)
    yield instance
    instance.engine.dispose()


def blocks_of(data: bytes) -> list[bytes]:
    return [data[start : start + UPLOAD_BLOCK_BYTES] for start in range(0, len(data), UPLOAD_BLOCK_BYTES)]


def payload(size: int = SIZE) -> bytes:
    line = b"1,Sales\n"
    return (line * (size // len(line) + 1))[:size]


def test_a_file_bigger_than_a_block_appears_whole_and_only_at_its_commit(core):
    data = payload()
    target = uploads.start(core, "departments", "departments.csv")
    assert target.path == f"landing/departments/departments.{target.id}.csv"
    parts = blocks_of(data)
    for index in reversed(range(len(parts))):  # any order; a block sent again replaces it
        uploads.put_block(core, target, index, parts[index])
    uploads.put_block(core, target, 1, parts[1])
    assert list(core.storage.list("landing/")) == [], "staged blocks are no file yet"
    assert uploads.commit(core, target, len(parts), len(data)) == {"path": target.path, "table": "departments", "bytes": SIZE, "blocks": 3}
    assert list(core.storage.list("landing/")) == [target.path]
    with core.storage.open_read(target.path) as stream:
        assert stream.read() == data


def test_a_commit_missing_a_block_or_a_byte_is_refused_and_lands_nothing(core):
    data = payload()
    target = uploads.start(core, "jobs", "jobs.csv")
    parts = blocks_of(data)
    uploads.put_block(core, target, 0, parts[0])
    uploads.put_block(core, target, 2, parts[2])
    with pytest.raises(InputRefused, match=r"1 of 3 blocks were never received \(block 1\)"):
        uploads.commit(core, target, 3, len(data))
    uploads.put_block(core, target, 1, parts[1])
    with pytest.raises(InputRefused, match=f"hold {SIZE} bytes, not the {SIZE + 1}"):
        uploads.commit(core, target, 3, SIZE + 1)
    assert list(core.storage.list("landing/")) == []
    uploads.commit(core, target, 3, SIZE)
    assert list(core.storage.list("landing/")) == [target.path]


def test_a_second_commit_is_refused_and_leaves_the_file_as_it_was(core):
    target = uploads.start(core, "jobs", "jobs.csv")
    uploads.put_block(core, target, 0, b"1,Engineer\n")
    uploads.commit(core, target, 1, 11)
    uploads.put_block(core, target, 0, b"2,Other\n")
    with pytest.raises(Conflict, match="exists already"):
        uploads.commit(core, target, 1, 8)
    with core.storage.open_read(target.path) as stream:
        assert stream.read() == b"1,Engineer\n"


def test_two_uploads_of_one_name_at_once_land_as_two_files(core):
    first, second = (uploads.start(core, "jobs", "jobs.csv") for _ in range(2))
    assert first.path != second.path
    errors = []

    def send(target, data):
        try:
            uploads.put_block(core, target, 0, data)
            uploads.commit(core, target, 1, len(data))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(t, d)) for t, d in ((first, b"1,A\n"), (second, b"2,B\n"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(core.storage.list("landing/")) == sorted([first.path, second.path])


def test_commits_of_one_upload_racing_land_it_once(core):
    data = payload(UPLOAD_BLOCK_BYTES + 10)
    target = uploads.start(core, "jobs", "jobs.csv")
    for index, part in enumerate(blocks_of(data)):
        uploads.put_block(core, target, index, part)
    outcomes = []

    def commit():
        try:
            outcomes.append(uploads.commit(core, target, 2, len(data)))
        except Conflict as refused:
            outcomes.append(str(refused))

    threads = [threading.Thread(target=commit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(o, dict) for o in outcomes) == 1, outcomes
    with core.storage.open_read(target.path) as stream:
        assert stream.read() == data


def race_commits_against_the_trigger(core, archive, data: bytes) -> list:
    """Four commits of one upload at once while a thread moves the file away as soon as it appears, as an ingest would."""
    target = uploads.start(core, "jobs", "jobs.csv")
    for index, part in enumerate(blocks_of(data)):
        uploads.put_block(core, target, index, part)
    landed, outcomes, committed = core.storage.root / target.path, [], threading.Event()

    def commit():
        try:
            outcomes.append(uploads.commit(core, target, 2, len(data)))
            committed.set()
        except (Conflict, InputRefused) as refused:
            outcomes.append(refused.code)

    def trigger():
        moved = 0
        while not committed.is_set() or landed.exists():
            with contextlib.suppress(FileNotFoundError):
                os.rename(landed, archive / f"{target.id}-{moved}")
                moved += 1
        outcomes.append(("moved", moved))

    threads = [threading.Thread(target=commit) for _ in range(4)] + [threading.Thread(target=trigger)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_commits_racing_while_the_trigger_moves_the_file_away_land_it_once_and_answer_4xx(make_rowgate, tmp_path):
    """A late commit must neither link the file again (a second arrival) nor fail with something other than a refusal."""
    core = make_rowgate()
    for attempt in range(20):
        outcomes = race_commits_against_the_trigger(core, tmp_path, payload(UPLOAD_BLOCK_BYTES + 10 + attempt))
        assert sum(isinstance(o, dict) for o in outcomes) == 1 and ("moved", 1) in outcomes, outcomes
        assert {o for o in outcomes if isinstance(o, str)} <= {"already-committed", "upload-incomplete"}, outcomes


def test_blocks_sent_for_one_file_are_never_committed_as_another(core):
    data = payload(UPLOAD_BLOCK_BYTES + 10)
    target = uploads.start(core, "jobs", "jobs.csv")
    for index, part in enumerate(blocks_of(data)):
        uploads.put_block(core, target, index, part)
    other = uploads.upload(core, target.id, "jobs", "other.csv")
    with pytest.raises(InputRefused, match="never received"):
        uploads.commit(core, other, 2, len(data))
    assert list(core.storage.list("landing/")) == []
    assert uploads.commit(core, target, 2, len(data))["bytes"] == len(data)


@pytest.mark.parametrize(
    ("table", "name", "message"),
    [
        ("nope", "x.csv", "nope"),
        (None, "x.csv", "name the table"),
        ("jobs", None, "name the file"),
        ("jobs", "x.exe", "only .csv and .parquet"),
        ("jobs", "x" * 200 + ".csv", "the limit is 120"),
    ],
)
def test_an_upload_names_a_table_and_a_csv_or_parquet_file(core, table, name, message):
    with pytest.raises(Exception, match=message):
        uploads.start(core, table, name)


def test_hostile_names_stay_inside_the_table_folder(core):
    for name in ("../../etc/passwd.csv", "..\\..\\x.csv", "a\x00b\nc.CSV", "....parquet", "/abs/olute.csv", "é ü.csv"):
        target = uploads.start(core, "jobs", name)
        assert target.path.startswith("landing/jobs/") and target.path.count("/") == 2, target.path
        assert ".." not in target.path and "\x00" not in target.path and "\n" not in target.path
        uploads.put_block(core, target, 0, b"1,x\n")
        uploads.commit(core, target, 1, 4)
        assert target.path in core.storage.list("landing/jobs/")


@pytest.mark.parametrize("upload_id", ["", "xyz", "../" + "0" * 29, "0" * 31, "G" * 32])
def test_an_upload_id_is_32_hex_digits(core, upload_id):
    with pytest.raises(InputRefused, match="is not an upload id"):
        uploads.upload(core, upload_id, "jobs", "jobs.csv")


def test_blocks_are_1_byte_to_a_block_and_counted_from_0(core):
    target = uploads.start(core, "jobs", "jobs.csv")
    with pytest.raises(InputRefused, match="the block is empty"):
        uploads.put_block(core, target, 0, b"")
    with pytest.raises(InputRefused, match=f"the limit is {UPLOAD_BLOCK_BYTES}"):
        uploads.put_block(core, target, 0, b"x" * (UPLOAD_BLOCK_BYTES + 1))
    with pytest.raises(InputRefused, match="outside 0 to"):
        uploads.put_block(core, target, -1, b"x")
    with pytest.raises(InputRefused, match="size must be from 1"):
        uploads.commit(core, target, 1, 0)
    with pytest.raises(InputRefused, match="blocks must be from 1 to 3"):
        uploads.commit(core, target, 4, 3)


def test_the_local_commit_holds_one_copy_buffer_not_the_file(make_rowgate):
    core = make_rowgate()
    data = payload(5 * UPLOAD_BLOCK_BYTES)
    target = uploads.start(core, "jobs", "jobs.csv")
    for index, part in enumerate(blocks_of(data)):
        uploads.put_block(core, target, index, part)
    del data, part
    tracemalloc.start()
    try:
        uploads.commit(core, target, 5, 5 * UPLOAD_BLOCK_BYTES)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < UPLOAD_BLOCK_BYTES, f"the commit of 20 MiB held {peak:,} bytes at once"
    assert core.storage.size(target.path) == 5 * UPLOAD_BLOCK_BYTES
    assert not staged_folders(core, target), "the parts are removed once committed"


def staged_folders(core, target) -> list:
    return list((core.storage.root / UPLOADS).glob(f"{target.id}.*"))


def test_a_local_upload_left_for_a_week_is_dropped_when_the_next_starts(make_rowgate):
    core = make_rowgate()
    old = uploads.start(core, "jobs", "jobs.csv")
    uploads.put_block(core, old, 0, b"1,x\n")
    [folder] = staged_folders(core, old)
    week_ago = time.time() - 7 * 24 * 3600 - 60
    os.utime(folder, (week_ago, week_ago))
    recent = uploads.start(core, "jobs", "jobs.csv")
    uploads.put_block(core, recent, 0, b"2,y\n")
    assert not folder.exists()
    assert [f.is_dir() for f in staged_folders(core, recent)] == [True]
