"""File uploads into landing/, in blocks: an HTTP function gets its whole body (and Azure caps a request at
100 MB), so a file is sent as blocks of at most UPLOAD_BLOCK_BYTES, staged by the storage (Put Block, or part files)
and committed at the end (Put Block List, or one atomic link). landing/ never holds half a file, so the
trigger never sees one; memory holds one block at a time.

Every request names the upload by its id, table and file name, and the target path follows from them alone:
no state lives in the Function App, so any instance may take any block.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath

from shared.context import Rowgate
from shared.errors import InputRefused
from shared.ingest import LANDING, READERS
from shared.limits import MAX_UPLOAD_BLOCKS, MAX_UPLOAD_NAME_CHARS, UPLOAD_BLOCK_BYTES

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Upload:
    id: str
    table: str
    name: str  # the file's name as sent, made safe
    path: str  # landing/<table>/<stem>.<id><suffix>: a name of its own, so two uploads never share blocks

    def as_dict(self) -> dict:
        return {"upload": self.id, "table": self.table, "name": self.name, "path": self.path, "block_bytes": UPLOAD_BLOCK_BYTES}


def start(rowgate: Rowgate, table: str | None, name: str | None) -> Upload:
    """A new upload of a file `name` (.csv or .parquet) into `table`."""
    return upload(rowgate, uuid.uuid4().hex, table, name)


def upload(rowgate: Rowgate, upload_id: str, table: str | None, name: str | None) -> Upload:
    """The upload these three name, each checked: an id this module made, a table of the dictionary, a CSV or Parquet name."""
    if not UPLOAD_ID.fullmatch(upload_id or ""):
        raise InputRefused(f"{str(upload_id)[:40]!r} is not an upload id (32 hex digits, as POST /api/uploads answers)")
    if not table:
        raise InputRefused("name the table the file is for: ?table=")
    spec = rowgate.dictionary.table(table)
    if not name:
        raise InputRefused("name the file: ?name=<file>.csv or .parquet")
    if len(name) > MAX_UPLOAD_NAME_CHARS:
        raise InputRefused(f"the file name is {len(name)} characters; the limit is {MAX_UPLOAD_NAME_CHARS}")
    file = PurePosixPath(name.replace("\\", "/")).name
    suffix = PurePosixPath(file).suffix.lower()
    if suffix not in READERS:
        raise InputRefused(f"only .csv and .parquet files are ingested, not {suffix or 'a name without one'}")
    stem = UNSAFE.sub("_", file[: -len(suffix)]).strip("._") or "upload"
    return Upload(upload_id, spec.name, f"{stem}{suffix}", f"{LANDING}/{spec.name}/{stem}.{upload_id}{suffix}")


def put_block(rowgate: Rowgate, target: Upload, index: int, data: bytes) -> None:
    """Stage block `index` (0-based); sending a block again replaces it."""
    if not 0 <= index < MAX_UPLOAD_BLOCKS:
        raise InputRefused(f"block index {index} is outside 0 to {MAX_UPLOAD_BLOCKS - 1}")
    if not data:
        raise InputRefused("the block is empty; send 1 byte to 4 MiB")
    if len(data) > UPLOAD_BLOCK_BYTES:
        raise InputRefused(f"the block is {len(data)} bytes; the limit is {UPLOAD_BLOCK_BYTES}")
    rowgate.storage.stage_block(target.path, target.id, index, data)


def commit(rowgate: Rowgate, target: Upload, blocks: int, size: int) -> dict:
    """Make the file appear in landing/ whole: blocks 0..blocks-1 joined, checked to hold `size` bytes."""
    if not 1 <= size <= MAX_UPLOAD_BLOCKS * UPLOAD_BLOCK_BYTES:
        raise InputRefused(f"size must be from 1 to {MAX_UPLOAD_BLOCKS * UPLOAD_BLOCK_BYTES} bytes, got {size}")
    if not 1 <= blocks <= min(size, MAX_UPLOAD_BLOCKS):
        raise InputRefused(f"blocks must be from 1 to {min(size, MAX_UPLOAD_BLOCKS)} for {size} bytes, got {blocks}")
    rowgate.storage.commit_blocks(target.path, target.id, blocks, size)
    return {"path": target.path, "table": target.table, "bytes": size, "blocks": blocks}
