"""Avro's binary encoding of whole columns at once: the data blocks of a backup, written with numpy.

fastavro encodes one Python dict per record, which cost more than reading the rows and compressing them
together. The backups' records hold only the Avro types below, so each column is encoded in a few array
operations and the records' bytes are interleaved by their offsets. The bytes are what any Avro writer writes.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The Avro types a backup's records hold, and the Arrow type of a column of each.
ARROW = {"long": pa.int64(), "int": pa.int32(), "string": pa.string(), "boolean": pa.bool_()}
_SEVEN = [np.uint64(7 * k) for k in range(10)]
_LIMITS = [np.uint64(1 << (7 * k)) for k in range(1, 10)]


def encode_records(columns: list[pa.Array], types: list) -> bytes:
    """The records whose fields are `columns`, each of the Avro type (or ["null", type]) in `types`, as Avro
    serializes them one after another. Integers and booleans come as Arrow integers and booleans, strings as strings."""
    count = len(columns[0]) if columns else 0
    parts = []  # (byte length per record, writer of those bytes at the given offsets)
    for column, avro_type in zip(columns, types):
        nullable = isinstance(avro_type, list)
        kind = avro_type[1] if nullable else avro_type
        if kind not in ARROW or (nullable and avro_type[0] != "null"):
            raise ValueError(f"no column encoding for the Avro type {avro_type}")
        present = pc.is_valid(column).to_numpy(zero_copy_only=False)
        if nullable:  # the union's branch: 0 for null, 1 for the value; as zigzag varints, the bytes 0 and 2
            parts.append((np.ones(count, np.int64), _byte_writer((present * 2).astype(np.uint8))))
        parts.extend(_value_parts(column, kind, present))
    lengths = np.stack([length for length, _ in parts], axis=1) if parts else np.zeros((count, 0), np.int64)
    ends = np.cumsum(lengths.ravel()).reshape(lengths.shape)  # the records' parts in order, end to end
    out = np.zeros(int(ends[-1, -1]) if ends.size else 0, np.uint8)
    for index, (length, write) in enumerate(parts):
        write(out, ends[:, index] - length, length)
    return out.tobytes()


def write_block(out: BinaryIO, data: bytes, count: int, sync: bytes) -> None:
    """One block of an Avro object container file with the deflate codec: `count` records serialized as `data`."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)  # raw deflate, as Avro's codec is
    compressed = compressor.compress(data) + compressor.flush()
    out.write(_long(count) + _long(len(compressed)) + compressed + sync)


def _value_parts(column: pa.Array, kind: str, present: np.ndarray) -> list:
    if kind == "boolean":
        values = pc.fill_null(column, False).to_numpy(zero_copy_only=False).astype(np.uint8)
        return [(present.astype(np.int64), _byte_writer(values))]
    if kind == "string":
        text = pc.cast(pc.fill_null(column, ""), pa.large_string())
        offsets = np.frombuffer(text.buffers()[1], np.int64, len(text) + 1, text.offset * 8)
        sizes = np.diff(offsets)
        lengths = _zigzag(sizes)
        return [(np.where(present, _varint_lengths(lengths), 0), _varint_writer(lengths)), (sizes, _bytes_writer(text, offsets, sizes))]
    values = _zigzag(pc.fill_null(column, 0).cast(pa.int64()).to_numpy(zero_copy_only=False))
    return [(np.where(present, _varint_lengths(values), 0), _varint_writer(values))]


def _zigzag(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.int64)
    return ((values << 1) ^ (values >> 63)).view(np.uint64)


def _varint_lengths(values: np.ndarray) -> np.ndarray:
    lengths = np.ones(len(values), np.int64)
    for limit in _LIMITS:
        lengths += values >= limit
    return lengths


def _varint_writer(values: np.ndarray):
    def write(out: np.ndarray, at: np.ndarray, length: np.ndarray) -> None:
        for k in range(int(length.max(initial=0))):
            rows = np.flatnonzero(length > k)
            seven = (values[rows] >> _SEVEN[k]).astype(np.uint8) & 0x7F
            out[at[rows] + k] = seven | ((length[rows] > k + 1).astype(np.uint8) << 7)

    return write


def _byte_writer(values: np.ndarray):
    def write(out: np.ndarray, at: np.ndarray, length: np.ndarray) -> None:
        rows = np.flatnonzero(length)
        out[at[rows]] = values[rows]

    return write


def _bytes_writer(text: pa.Array, offsets: np.ndarray, sizes: np.ndarray):
    def write(out: np.ndarray, at: np.ndarray, length: np.ndarray) -> None:
        data = np.frombuffer(text.buffers()[2], np.uint8)[offsets[0] : offsets[-1]] if text.buffers()[2] else np.zeros(0, np.uint8)
        out[np.repeat(at - offsets[:-1], sizes) + np.arange(offsets[0], offsets[-1])] = data

    return write


def _long(value: int) -> bytes:
    """One long as Avro writes it: zigzag, then 7 bits a byte, low first."""
    value = (value << 1) ^ (value >> 63)
    encoded = bytearray()
    while value > 0x7F:
        encoded.append(value & 0x7F | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)
