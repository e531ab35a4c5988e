"""Storage: the same behaviour from a local folder and from Azure Blob Storage (Azurite)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.storage import CHUNK_BYTES, UPLOAD_EXPIRY_SECONDS, UPLOADS, Changed, StorageError, is_temporary, open_storage


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.azurite)])
def storage(request, tmp_path):
    if request.param == "local":
        return open_storage(str(tmp_path / "storage"))
    return open_storage(request.getfixturevalue("azurite_storage"))


def test_written_bytes_read_back_across_block_boundaries(storage):
    payload = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)
    with storage.open_write("landing/big.bin") as out:
        for start in range(0, len(payload), 1_000_000):
            out.write(payload[start : start + 1_000_000])
    with storage.open_read("landing/big.bin") as stream:
        assert stream.read(10) == payload[:10]
        assert stream.read() == payload[10:]
    assert storage.size("landing/big.bin") == len(payload)


def test_a_failed_write_leaves_nothing(storage):
    with pytest.raises(RuntimeError), storage.open_write("landing/partial.csv") as out:
        out.write(b"1,Sales\n")
        raise RuntimeError("crash mid-write")
    assert not storage.exists("landing/partial.csv")
    assert list(storage.list("landing/")) == []


def test_list_move_and_delete(storage):
    for name in ("landing/a.csv", "landing/jobs/b.csv", "archive/c.csv"):
        with storage.open_write(name) as out:
            out.write(name.encode())
    assert sorted(storage.list("landing/")) == ["landing/a.csv", "landing/jobs/b.csv"]
    storage.move("landing/jobs/b.csv", "archive/jobs/b.csv")
    assert sorted(storage.list("archive/")) == ["archive/c.csv", "archive/jobs/b.csv"]
    with storage.open_read("archive/jobs/b.csv") as stream:
        assert stream.read() == b"landing/jobs/b.csv"
    storage.delete("archive/c.csv")
    assert not storage.exists("archive/c.csv")


def test_missing_path_names_itself(storage):
    with pytest.raises(StorageError, match="landing/nope.csv does not exist"):
        storage.open_read("landing/nope.csv")


def test_parquet_reads_by_ranges(storage, tmp_path):
    pq.write_table(pa.table({"x": list(range(100_000))}), tmp_path / "f.parquet", row_group_size=10_000)
    with storage.open_write("landing/f.parquet") as out:
        out.write((tmp_path / "f.parquet").read_bytes())
    with storage.open_read("landing/f.parquet") as stream:
        parquet = pq.ParquetFile(stream)
        assert parquet.metadata.num_rows == 100_000
        assert sum(batch.num_rows for batch in parquet.iter_batches(batch_size=7_000)) == 100_000


def test_fingerprint_names_the_content_not_the_path(storage):
    for name in ("landing/a.csv", "landing/b.csv"):
        with storage.open_write(name) as out:
            out.write(b"1,Sales\n")
    with storage.open_write("landing/c.csv") as out:
        out.write(b"2,Legal\n")
    assert storage.fingerprint("landing/a.csv") == storage.fingerprint("landing/b.csv") != storage.fingerprint("landing/c.csv")


def write(storage, path: str, content: bytes) -> None:
    with storage.open_write(path) as out:
        out.write(content)


def test_a_move_takes_only_the_version_that_was_read(storage):
    write(storage, "landing/a.csv", b"1,Sales\n")
    read_version = storage.version("landing/a.csv")
    write(storage, "landing/a.csv", b"2,Legal\n")  # a new file at the same name, before the move
    assert storage.version("landing/a.csv") != read_version
    with pytest.raises(Changed, match="landing/a.csv"):
        storage.move("landing/a.csv", "archive/a.csv", read_version)
    assert list(storage.list("archive/")) == []
    with storage.open_read("landing/a.csv") as stream:
        assert stream.read() == b"2,Legal\n"


def test_of_two_runs_moving_one_file_at_once_exactly_one_keeps_it(storage):
    write(storage, "landing/a.csv", b"1,Sales\n" * 100_000)
    version = storage.version("landing/a.csv")
    barrier = threading.Barrier(2)
    outcomes = []

    def move(target: str) -> None:
        barrier.wait()
        try:
            storage.move("landing/a.csv", target, version)
            outcomes.append("moved")
        except Changed:
            outcomes.append("lost")

    threads = [threading.Thread(target=move, args=(f"archive/a.{n}.csv",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost", "moved"]
    assert len(list(storage.list("archive/"))) == 1 and list(storage.list("landing/")) == []


@pytest.mark.azurite
def test_a_blob_replaced_while_it_is_read_fails_instead_of_mixing_two_contents(azurite_storage):
    storage = open_storage(azurite_storage)
    write(storage, "landing/big.csv", b"a" * (CHUNK_BYTES * 2))
    with storage.open_read("landing/big.csv") as stream:
        assert stream.read(10) == b"a" * 10
        write(storage, "landing/big.csv", b"b" * (CHUNK_BYTES * 2))
        with pytest.raises(Changed, match="replaced or removed while it was read"):
            stream.read()


@pytest.mark.parametrize(
    ("path", "temporary"),
    [
        ("landing/jobs.csv", False),
        ("landing/a/jobs/x.parquet", False),
        ("landing/.jobs.csv", True),
        ("landing/jobs.csv.part", True),
        ("landing/jobs.csv.TMP", True),
        ("landing/.staging/jobs.csv", True),
        ("landing/jobs.csv~", True),
        ("landing/jobs.csv.crdownload", True),
    ],
)
def test_temporary_names(path, temporary):
    assert is_temporary(path) is temporary


def test_written_files_get_the_mode_any_new_file_gets_under_the_umask(tmp_path):
    """Backups and rejected files were 0600 (mkstemp's mode) beside 0644 archives and landed files."""
    storage = open_storage(str(tmp_path / "storage"))
    with storage.open_write("backups/departments/departments-1.avro") as out:
        out.write(b"x")
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")  # what open() makes under this process's umask (0644 under the usual 022)
    written = tmp_path / "storage" / "backups" / "departments" / "departments-1.avro"
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) != 0o600


def test_a_writer_killed_midway_leaves_no_file_in_any_container_and_its_part_expires(tmp_path):
    """Torture seed 942020: a rejected-rows write SIGKILLed midway left rejected/departments/.partial-* for good."""
    root = tmp_path / "storage"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(root)], stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent)
    assert writer.stdout.readline() == b"writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    assert len(left) == 1 and left[0].startswith(f"{UPLOADS}/.partial-"), left
    week_ago = time.time() - UPLOAD_EXPIRY_SECONDS - 60
    os.utime(root / left[0], (week_ago, week_ago))
    storage = open_storage(str(root))
    with storage.open_write("rejected/jobs/b.rejected.csv") as out:
        out.write(b"row_number\n")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == ["rejected/jobs/b.rejected.csv"]


KILLED_WRITER = """
import sys, time
from shared.storage import open_storage
with open_storage(sys.argv[1]).open_write("rejected/departments/a.rejected.csv") as out:
    out.write(b"row_number,id\\n")
    out.flush()
    print("writing", flush=True)
    time.sleep(60)
"""
