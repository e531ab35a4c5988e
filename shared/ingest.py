"""Ingest: a file from landing (or a local path) through parse → validate → load, resumable and idempotent."""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Callable, Iterable
from contextlib import nullcontext, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from shared import csvout, parse, replay
from shared.context import Rowgate
from shared.dictionary import Table
from shared.errors import EXTRA_CELLS, SOURCE_ERROR, Error, InputRefused, Refusal, cells_by_field
from shared.load import (
    DONE,
    Lease,
    LoadBusy,
    claim,
    close_load,
    create_load,
    hold,
    open_load,
    refusals_of,
    release,
    standing,
    write_chunk,
)
from shared.parse import Unreadable, read_csv, read_parquet
from shared.plans import migration_stages
from shared.prefetch import prefetch
from shared.races import retry_key_races
from shared.retry import retry_transient
from shared.storage import ARCHIVE, LANDING, REJECTED, Changed, Storage, StorageError, content_hash, is_temporary
from shared.validate import Checked, check_keys, check_values

MAX_PART_BYTES = 200
READERS = {".csv": read_csv, ".parquet": read_parquet}
Progress = Callable[[int], None]


@dataclass
class Source:
    name: str  # how the ledger and the rejections name it
    table: Table
    suffix: str
    open: Callable[[], BinaryIO]
    in_place: bool = False  # a local file, read where it is; anything else is spooled once while it is hashed
    landed_name: str = ""  # its name under landing/, stamped for archive/ and rejected/ (processed_name); local: its file name


@dataclass
class IngestResult:
    source: str
    table: str | None
    status: str  # loaded | already-loaded | refused | busy | gone | ignored
    inserted: int = 0
    unchanged: int = 0
    rejected: int = 0
    message: str = ""
    load_started: datetime | None = None  # its load's start: the stamp of its archive and rejected names

    def as_dict(self) -> dict:
        result = asdict(self)
        del result["load_started"]
        return result


def table_for(rowgate: Rowgate, path: str, table: str | None = None) -> tuple[Table, str]:
    """The table and format of a file: its name (`<table>.csv`), else its folder's (`<table>/<anything>.parquet`)."""
    file = PurePosixPath(path)
    suffix = file.suffix.lower()
    # The callers name the file beside the message (result source, log line, reason file): not repeated here.
    if suffix not in READERS:
        raise InputRefused(f"only .csv and .parquet files are ingested, not {suffix or 'a name without one'}")
    table = table or rowgate.dictionary.table_for_path(path)
    if table is None:
        known = ", ".join(rowgate.dictionary.tables)
        folder = f", nor is its folder {file.parent.name!r}" if file.parent.name else ""
        raise InputRefused(
            f"{file.stem!r} is not a table{folder}; "
            f"name the file <table>{suffix} or put it in a folder named after the table (tables: {known})"
        )
    return rowgate.dictionary.table(table), suffix


def ingest_stored(rowgate: Rowgate, path: str) -> IngestResult:
    """A file in storage. From landing/ it is archived once loaded, or moved to rejected/ with a reason
    file when unusable, under a name of its own (`processed_name`); anywhere else (historic sources) it
    stays where it is. A temporary name (`.x.csv`, `x.csv.part`) is left alone until it is renamed."""
    storage = rowgate.storage
    landed = path.startswith(f"{LANDING}/")
    name = path.removeprefix(f"{LANDING}/")
    if any(part in ("", ".", "..") for part in name.split("/")):
        return IngestResult(path, None, "refused", message=f"{path!r}: a path with empty, '.' or '..' parts is not a landed file")
    if not _encodes(path):
        message = f"{path!r}: the name is not valid UTF-8; rename it"
        if landed:
            refuse_stored(storage, path, message)
        return IngestResult(path, None, "refused", message=message)
    if landed and is_temporary(path):
        return IngestResult(path, None, "ignored", message="a temporary name: ingested once renamed")
    version = storage.version(path)  # the version this run reads; only that version is archived
    if version is None:
        # A trigger delivered again after the file was archived (at least once): nothing left to do.
        return IngestResult(path, None, "gone", message="no longer in storage: already processed or removed")
    try:
        table, suffix = table_for(rowgate, name)
        result = ingest(rowgate, Source(path, table, suffix, lambda: storage.open_read(path, version), landed_name=name))
    except InputRefused as refused:
        if landed:
            refuse_stored(storage, path, str(refused), version)
        return IngestResult(path, None, "refused", message=str(refused))
    except StorageError as error:
        if storage.version(path) == version:
            raise
        return IngestResult(path, None, "gone", message=f"changed or removed while it was processed: {error}")
    if landed:
        try:
            storage.move(path, _archive_name(storage, name, version, result.load_started), version)
        except Changed as changed:
            result.message = f"{result.message} (not archived by this run: {changed})".strip()
    return result


def _archive_name(storage: Storage, name: str, version: str, load_started: datetime | None) -> str:
    """Stamped with the load's start, so a run after one killed between a blob's copy and its delete copies
    to the same name again (one archive copy); the same bytes landed again later get a name of their own."""
    target = f"{ARCHIVE}/{processed_name(name, load_started)}"
    if load_started is None or (storage.exists(target) and not storage.holds_copy_of(target, version)):
        return f"{ARCHIVE}/{processed_name(name)}"
    return target


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a local file name of bytes that are not UTF-8 (surrogate escapes)
        return False
    return True


def refuse_stored(storage: Storage, path: str, reason: str, version: str | None = None) -> None:
    """An unusable landed file (that version of it) to rejected/, with a `.reason.txt` beside it."""
    output = processed_name(path.removeprefix(f"{LANDING}/"))
    try:
        storage.move(path, f"{REJECTED}/{output}", version)
    except Changed:
        return  # moved by another run, or replaced by a new file that gets its own run
    with storage.open_write(f"{REJECTED}/{output}.reason.txt") as out:
        out.write(f"{path}: {reason}\n".encode(errors="backslashreplace"))


def processed_name(name: str, at: datetime | None = None) -> str:
    """The name a processed file keeps under archive/ and rejected/: its folders kept, a UTC time before its
    extension (`a/jobs/x.csv` -> `a/jobs/x.20261122T070421123456Z.csv`), so no two processed files share one:
    its load's start when it has a load (the same name whichever run moves it), else now. Control
    characters, `.`/`..` parts and over-long parts are made safe."""
    *folders, file = [_safe_part(part) for part in name.strip("/").split("/")]
    folders = [_truncated(folder, MAX_PART_BYTES) for folder in folders]
    stem, dot, suffix = file.rpartition(".")
    if not dot or not stem or len(suffix) > 16:
        stem, suffix = file, ""
    suffix = f".{suffix}" if suffix else ""
    # Room for the stamp and `.rejected.csv` within the 255 bytes a file system allows one name.
    stem = _truncated(stem, MAX_PART_BYTES - len(suffix.encode()))
    at = at or datetime.now(UTC)
    return "/".join([*folders, f"{stem}.{at:%Y%m%dT%H%M%S%fZ}{suffix}"])


def _safe_part(part: str) -> str:
    part = re.sub(r"[\x00-\x1f\x7f\\\ud800-\udfff]", "_", part)
    return "_" if part in ("", ".", "..") else part


def _truncated(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


def migrate(rowgate: Rowgate, location: str, progress: Progress | None = None) -> list[IngestResult]:
    """Every file of a local folder or a storage prefix, parents' files first (the plan Durable runs in parallel)."""
    folder = Path(location)
    if folder.is_dir():
        files = [p.as_posix() for p in sorted(folder.rglob("*")) if p.suffix.lower() in READERS]

        def run(path: str) -> IngestResult:
            return ingest_local(rowgate, Path(path), progress=progress)
    else:
        files = list(rowgate.storage.list(location))

        def run(path: str) -> IngestResult:
            return ingest_stored(rowgate, path)

    results = []
    for stage in migration_stages(rowgate.dictionary, files):
        for path in stage:
            try:
                results.append(run(path))
            except InputRefused as refused:
                results.append(IngestResult(path, None, "refused", message=str(refused)))
            except LoadBusy as busy:
                results.append(IngestResult(path, None, "busy", message=str(busy)))
    return results


def ingest_local(rowgate: Rowgate, file: Path, table: str | None = None, progress: Progress | None = None) -> IngestResult:
    """A local file, read where it is and left there."""
    if not file.is_file():
        raise InputRefused(f"{file}: no such file")
    spec, suffix = table_for(rowgate, file.as_posix(), table)
    source = Source(str(file.resolve()), spec, suffix, lambda: file.open("rb"), in_place=True)
    return ingest(rowgate, source, progress)


def ingest(rowgate: Rowgate, source: Source, progress: Progress | None = None) -> IngestResult:
    """Load one file chunk by chunk; the same content again changes nothing, a crashed run resumes.

    The content's fingerprint is a hash of the bytes read here (never what storage says about them), taken
    before the ledger decides and any row is written. A local file is hashed where it is and read again; a
    stored one is read once, into a spool in the temporary folder, so the bytes loaded are the bytes hashed."""
    with tempfile.TemporaryDirectory(prefix="rowgate-") as folder:
        spool = Path(folder) / "content"
        with source.open() as stream, nullcontext() if source.in_place else spool.open("wb") as out:
            probe = _Probe(out)
            digest = content_hash(stream, copy_to=probe)
        if source.suffix == ".csv" and probe.longest >= parse.MAX_BLOCK_BYTES:
            raise InputRefused(
                f"a line is longer than {parse.MAX_BLOCK_BYTES // 2**20} MiB, the longest record rowgate reads; nothing was loaded"
            )
        read = source.open if source.in_place else lambda: spool.open("rb")
        return _ingest(rowgate, source, read, digest, progress)


class _Probe:
    """Sees the bytes as they are hashed: copies them to the spool (when there is one) and measures the
    longest line, so a CSV whose record cannot fit a parse block is refused before anything is written."""

    def __init__(self, out: BinaryIO | None):
        self.out, self.longest, self._open_line = out, 0, 0

    def write(self, block: bytes) -> None:
        if self.out is not None:
            self.out.write(block)
        data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero((data == 10) | (data == 13))
        if not len(ends):
            self._open_line += len(block)
        else:
            inner = int(np.diff(ends).max()) - 1 if len(ends) > 1 else 0
            self.longest = max(self.longest, self._open_line + int(ends[0]), inner)
            self._open_line = len(block) - int(ends[-1]) - 1
        self.longest = max(self.longest, self._open_line)


def _ingest(rowgate: Rowgate, source: Source, read: Callable[[], BinaryIO], digest: str, progress: Progress | None) -> IngestResult:
    engine, metadata, table = rowgate.engine, rowgate.metadata, source.table
    length = timedelta(seconds=rowgate.settings.lease_seconds)

    def start() -> tuple[sa.Row, Lease | None]:
        create_load(engine, metadata, table.name, source.name, digest)
        with engine.begin() as conn:
            load = open_load(conn, metadata, table.name, source.name, digest)
            lease = claim(conn, metadata, load, length) if load.status != DONE else None
            if lease is None and load.status != DONE:  # finished by another run a moment ago
                load = open_load(conn, metadata, table.name, source.name, digest)
            return load, lease

    load, lease = retry_transient(start)
    if lease is None:
        if load.rejected:  # the run that closed the load may have been killed before it wrote the file
            _write_rejected_file(rowgate, source, load, only_if_missing=True)

        def counts() -> tuple[int, int]:
            with engine.connect() as conn:
                return standing(conn, metadata, load)

        loaded, still_open = retry_transient(counts)
        message = (
            f"the same content was loaded from {load.source} at {load.finished_at:%Y-%m-%dT%H:%M:%SZ}; "
            f"{loaded} of its rows are loaded now and {still_open} of its refused rows are open"
        )
        # What is true now, not the counts of its first arrival: its rows loaded then or since (fixed, re-driven), its open refusals.
        return IngestResult(
            source.name, table.name, "already-loaded", unchanged=loaded, rejected=still_open, message=message, load_started=load.started_at
        )
    resume = lease.rows_read
    try:
        try:
            with read() as stream:
                chunks = READERS[source.suffix](stream, table, rowgate.settings.chunk_rows, skip=resume)
                # Chunks a killed run already committed are skipped whole: they write nothing, not even progress.
                fresh = (chunk for chunk in chunks if chunk.rows_read > resume)
                # Parsing and value checks need no database, so the next chunk's run beside this one's load.
                for typed in prefetch(check_values(table, chunk) for chunk in fresh):
                    _commit(
                        rowgate, source, lease, typed.chunk.rows_read, lambda conn, typed=typed: check_keys(conn, metadata, table, typed)
                    )
                    if progress:
                        progress(len(typed.chunk.row_numbers) + len(typed.chunk.refused))
        except Unreadable as unreadable:
            if lease.rows_read == 0:
                raise  # nothing written yet: the file is refused whole
            _refuse_rest(rowgate, source, lease, unreadable)
    except BaseException:
        _let_go(rowgate, lease)
        raise

    def finish() -> sa.Row:
        with engine.begin() as conn:
            return close_load(conn, metadata, lease)

    load = retry_transient(finish)
    if load.rejected:
        _write_rejected_file(rowgate, source, load)
    if load.inserted:
        replay.redrive_children(rowgate, table.name)
    return IngestResult(source.name, table.name, "loaded", load.inserted, load.unchanged, load.rejected, load_started=load.started_at)


def _commit(rowgate: Rowgate, source: Source, lease: Lease, rows_read: int, check: Callable[[sa.Connection], Checked]) -> None:
    """One chunk in one transaction, fenced by the lease; run again on transient errors, and checked again when
    another run inserted one of its keys after our check (the database's constraint is the arbiter)."""
    metadata = rowgate.metadata

    def attempt() -> None:
        with rowgate.engine.begin() as conn:
            if hold(conn, metadata, lease, rows_read):
                write_chunk(conn, metadata, source.table.name, source.name, lease, rows_read, check(conn))

    retry_key_races(attempt)
    lease.rows_read = rows_read


def _refuse_rest(rowgate: Rowgate, source: Source, lease: Lease, unreadable: Unreadable) -> None:
    """A CSV file became unreadable after rows were loaded: those stay, and what could not be read (which
    cannot be split into records any more) is refused as one record, with the reason."""
    number = lease.rows_read + 1
    refused = [
        Refusal(number, {}, [Error(None, SOURCE_ERROR, f"record {number} and the rest of the file could not be read: {unreadable}")])
    ]
    _commit(rowgate, source, lease, number, lambda conn: Checked(pa.table({}), 0, refused))


def _let_go(rowgate: Rowgate, lease: Lease) -> None:
    """After a failed run: a load that wrote nothing leaves no ledger row (a fixed file or dictionary can take
    the content again), and the lease is released so a retry need not wait for it to run out. Both only while
    this run still holds the load."""
    loads = rowgate.metadata.tables["rowgate_loads"]
    with suppress(Exception), rowgate.engine.begin() as conn:  # best effort: the run's own error is what matters
        conn.execute(loads.delete().where(loads.c.id == lease.load_id, loads.c.rows_read == 0, loads.c.claimed_by == lease.token))
        release(conn, rowgate.metadata, lease)


def _write_rejected_file(rowgate: Rowgate, source: Source, load: sa.Row, only_if_missing: bool = False) -> None:
    """rejected/<table>/<the file's processed name>.rejected.csv (a leading <table>/ folder not repeated):
    row number, the original cells, then the reasons. Named after the load's start, so a run after one
    killed before it wrote the file writes it under the same name, once."""
    fields, table = list(source.table.field_names), source.table.name
    output = processed_name(source.landed_name or PurePosixPath(source.name).name, load.started_at).removeprefix(f"{table}/")
    target = f"{REJECTED}/{table}/{output}.rejected.csv"
    if only_if_missing and rowgate.storage.exists(target):
        return

    def write() -> None:  # a failed attempt's part is dropped, never published
        with rowgate.storage.open_write(target) as out, rowgate.engine.connect() as conn:
            # This load's, from its start to its end: other files at the same path keep theirs to their own files.
            refusals = refusals_of(conn, rowgate.metadata, load.source, since=load.started_at, until=load.finished_at)
            write_rejected_csv(out, fields, ((number, json.loads(raw), json.loads(reasons)) for number, raw, reasons in refusals))

    retry_transient(write)


def write_rejected_csv(out: BinaryIO, fields: list[str], refused: Iterable[tuple[int | None, dict | list, list[dict]]]) -> None:
    """The .rejected.csv layout, for a load's file and for `rowgate rejections export` alike: row number, the
    row's cells under its fields (empty where a row has too few), what it has past them (cells of a row with
    too many, names the table lacks) as JSON under `(extra cells)`, then the reasons; refused is (row number,
    raw, errors) per row. Written safe from formula injection (`csvout`)."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csvout.Writer(text)
    writer.writerow(["row_number", *fields, EXTRA_CELLS, "errors"])
    for row_number, raw, errors in refused:
        cells = cells_by_field(tuple(fields), raw)
        # Cells past the fields (a list), else the names a JSON row has that the table lacks (an object).
        extra = cells.get(EXTRA_CELLS) or {name: value for name, value in cells.items() if name not in fields}
        shown = [_json_if_nested(cells.get(name)) for name in fields]
        reasons = "; ".join(f"{e['code']}: {e['message']}" for e in errors)
        writer.writerow([row_number, *shown, json.dumps(extra, ensure_ascii=False) if extra else None, reasons])
    text.flush()
    text.detach()


def _json_if_nested(value):
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
