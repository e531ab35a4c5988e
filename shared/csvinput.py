"""The bytes Arrow parses for a CSV file: its text as valid UTF-8 whatever its encoding, END after its last
byte, and rewritten in the default dialect where Arrow cannot read the file's own (skipInitialSpace).
Streamed: one block at a time, never the whole file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import threading
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from shared.dialect import UTF8, Dialect

BLOCK_BYTES = 1024 * 1024
# Read after the file's last byte, as a record of its own. A quote still open at the end of the file takes it
# into its cell instead: that is how such a record is told from one that ends well (Arrow says nothing).
# Not ASCII, so no dialect character is part of it.
END = "\U0010ffff\U0010ffff"
# A byte the encoding cannot decode becomes the private-use character U+10FE00 + byte: Arrow only ever sees
# valid UTF-8 (it cannot hand a misshapen row's text to Python otherwise), parse refuses the rows holding one
# as encoding-error, and a refusal shows it as the byte it was (\\xNN). Only in a file where some byte was
# undecodable: elsewhere those characters are the file's own text. (A file with both refuses the rows holding
# its own ones too, as encoding-error: logged, not lost.)
UNDECODABLE = "rowgate-undecodable"
MARKS = "[\U0010fe00-\U0010feff]"  # a regular expression of those characters
_MARK = re.compile(MARKS)
_marks_made = threading.local()  # how many times this thread's decoding marked bytes


def _keep_undecodable(error: UnicodeDecodeError) -> tuple[str, int]:
    _marks_made.count = _marks_count() + 1
    return "".join(chr(0x10FE00 + b) for b in error.object[error.start : error.end]), error.end


def _marks_count() -> int:
    return getattr(_marks_made, "count", 0)


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
        # What Arrow reads: the file's dialect, or the default one it was rewritten in.
        self.parsed = Dialect(header=dialect.header, comment_char=dialect.comment_char) if dialect.skip_initial_space else dialect
        self._restart()

    def _restart(self) -> None:
        self.appended, self.undecodable = "", False  # undecodable: a byte of the file was marked
        blocks = self._marked(_as_utf8(iter(lambda: self._raw.read(BLOCK_BYTES), b""), self.dialect.encoding))
        blocks = self._ended(blocks)
        if self.dialect.skip_initial_space:
            blocks = _rewritten(blocks, self.dialect)
        self._start(blocks)

    def _marked(self, blocks: Iterator[bytes]) -> Iterator[bytes]:
        while True:
            before = _marks_count()  # the next block is decoded here, in this thread
            block = next(blocks, None)
            self.undecodable = self.undecodable or _marks_count() != before
            if block is None:
                return
            yield block

    def _ended(self, blocks: Iterator[bytes]) -> Iterator[bytes]:
        last = b""
        for block in blocks:
            if block:
                last = block[-1:]
                yield block
        self.appended = END if last in (b"", b"\n", b"\r") else "\n" + END
        yield self.appended.encode()

    @property
    def encoding_name(self) -> str:
        return "UTF-8" if self.dialect.encoding in UTF8 else self.dialect.encoding

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

    def shown(self, text: str) -> str:
        """A cell as a refusal shows it: bytes the encoding could not decode as \\xNN, as they were in the file."""
        return _MARK.sub(lambda mark: f"\\x{ord(mark[0]) - 0x10FE00:02x}", text) if self.undecodable else text


def _as_utf8(blocks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """The blocks decoded and written again as UTF-8; UTF-8 ones only checked, and passed on as they are."""
    if encoding in UTF8:
        yield from _checked_utf8(blocks)
        return
    decoder = codecs.getincrementaldecoder(encoding)(errors=UNDECODABLE)
    for block in blocks:
        yield decoder.decode(block).encode()
    yield decoder.decode(b"", final=True).encode()


def _checked_utf8(blocks: Iterator[bytes]) -> Iterator[bytes]:
    carry = b""  # the start of a character the next block ends
    for block in blocks:
        block = carry + block if carry else block
        done = _whole_characters(block)
        whole, carry = block[:done], block[done:]
        if not whole.isascii() and not _is_utf8(whole):
            whole = whole.decode("utf-8", UNDECODABLE).encode()
        yield whole
    yield carry.decode("utf-8", UNDECODABLE).encode()


def _whole_characters(block: bytes) -> int:
    """How much of the block holds whole characters: a UTF-8 sequence its end cuts short is left out."""
    for back in range(1, min(4, len(block)) + 1):
        byte = block[-back]
        if byte < 0x80:
            return len(block)
        if byte >= 0xC0:  # a lead byte: how many bytes its character takes
            return len(block) if (2 if byte < 0xE0 else 3 if byte < 0xF0 else 4) <= back else len(block) - back
    return len(block)


def _is_utf8(data: bytes) -> bool:
    """Arrow's UTF-8 check, in place: some 10 times faster than decoding."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _rewritten(blocks: Iterator[bytes], dialect: Dialect) -> Iterator[bytes]:
    """The records as Python's csv reads them in the dialect (frictionless-py's reader), written again in the
    default one: one record for one, so record numbers stay the file's."""
    lines = io.TextIOWrapper(_Blocks(blocks), encoding="utf-8", newline="")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(lines, **dialect.python_csv()):
        writer.writerow(row)
        if out.tell() >= BLOCK_BYTES:
            yield _drained(out)
    yield _drained(out)


def _drained(out: io.StringIO) -> bytes:
    data = out.getvalue().encode()
    out.seek(0)
    out.truncate()
    return data
