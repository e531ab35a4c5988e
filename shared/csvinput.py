"""The bytes Arrow parses for a CSV file: its text as UTF-8 whatever its encoding, END after its last byte, and
rewritten in the default dialect where Arrow cannot read the file's own (skipInitialSpace). Streamed: one
block at a time, never the whole file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import threading
from collections.abc import Iterator
from typing import BinaryIO

from shared.dialect import UTF8, Dialect

BLOCK_BYTES = 1024 * 1024
# Read after the file's last byte, as a record of its own. A quote still open at the end of the file takes it
# into its cell instead: that is how such a record is told from one that ends well (Arrow says nothing).
# Not ASCII, so no dialect character is part of it.
END = "\U0010ffff\U0010ffff"
# Bytes the encoding cannot decode stay bytes that are not UTF-8, so their row is refused as encoding-error:
# each becomes the byte 0xFF (never in UTF-8) and then itself, escaped when it is ASCII, to be shown as it was.
UNDECODABLE = "rowgate-undecodable"
_MARKED = re.compile(r"\\xff(\\x[0-9a-f]{2})")


def _keep_undecodable(error: UnicodeDecodeError) -> tuple[str, int]:
    bad = error.object[error.start : error.end]
    return "".join("\udcff" + (chr(0xDC00 + b) if b >= 0x80 else f"\\x{b:02x}") for b in bad), error.end


codecs.register_error(UNDECODABLE, _keep_undecodable)


class _Blocks(io.RawIOBase):
    """A readable stream over blocks of bytes."""

    def __init__(self, blocks: Iterator[bytes]):
        self._start(blocks)

    def _start(self, blocks: Iterator[bytes]) -> None:
        self._blocks, self._pending, self._position = blocks, memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = memoryview(block)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self._position += size
        return size


class CsvInput(_Blocks):
    """A CSV file's bytes as Arrow parses them; `appended` is what came after the file's own (END, after a line
    break unless the file ends with one), known once they are read."""

    def __init__(self, raw: BinaryIO, dialect: Dialect, lock: threading.Lock):
        self._raw, self.dialect = raw, dialect
        self._lock = lock  # one input at a time reads or moves the file: an earlier attempt's may still be reading
        self.transcoded = dialect.encoding not in UTF8
        # What Arrow reads: the file's dialect, or the default one it was rewritten in.
        self.parsed = Dialect(header=dialect.header, comment_char=dialect.comment_char) if dialect.skip_initial_space else dialect
        self._restart()

    def _restart(self) -> None:
        self.appended = ""
        blocks = iter(lambda: self._raw.read(BLOCK_BYTES), b"")
        if self.transcoded:
            blocks = _transcoded(blocks, self.dialect.encoding)
        blocks = self._ended(blocks)
        if self.dialect.skip_initial_space:
            blocks = _rewritten(blocks, self.dialect)
        self._start(blocks)

    def _ended(self, blocks: Iterator[bytes]) -> Iterator[bytes]:
        last = b""
        for block in blocks:
            if block:
                last = block[-1:]
                yield block
        self.appended = END if last in (b"", b"\n", b"\r") else "\n" + END
        yield self.appended.encode()

    def shown(self, value: bytes) -> str:
        """A cell as a refusal shows it: bytes that are not text as \\xNN, as they were in the file."""
        text = value.decode("utf-8", "backslashreplace")
        return _MARKED.sub(r"\1", text) if self.transcoded else text

    def seekable(self) -> bool:
        return self._raw.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) == (0, io.SEEK_CUR):
            return self._position
        if (offset, whence) != (0, io.SEEK_SET):
            raise io.UnsupportedOperation("a CSV input is read again only from its start")
        with self._lock:
            self._raw.seek(0)
        self._restart()
        return 0

    def readinto(self, buffer) -> int:
        with self._lock:
            return 0 if self.closed else super().readinto(buffer)

    def close(self) -> None:
        with self._lock:  # a read in flight finishes first
            super().close()


def _transcoded(blocks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(encoding)(errors=UNDECODABLE)
    for block in blocks:
        yield decoder.decode(block).encode("utf-8", "surrogateescape")
    yield decoder.decode(b"", final=True).encode("utf-8", "surrogateescape")


def _rewritten(blocks: Iterator[bytes], dialect: Dialect) -> Iterator[bytes]:
    """The records as Python's csv reads them in the dialect (frictionless-py's reader), written again in the
    default one: one record for one, so record numbers stay the file's."""
    lines = io.TextIOWrapper(_Blocks(blocks), encoding="utf-8", errors="surrogateescape", newline="")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(lines, **dialect.python_csv()):
        writer.writerow(row)
        if out.tell() >= BLOCK_BYTES:
            yield _drained(out)
    yield _drained(out)


def _drained(out: io.StringIO) -> bytes:
    data = out.getvalue().encode("utf-8", "surrogateescape")
    out.seek(0)
    out.truncate()
    return data
