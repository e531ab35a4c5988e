"""Field types: all rowgate knows of each Table Schema type, one record per type in TYPES.

A record holds the type's SQL column on every backend, its Arrow type (validated values), its Avro type
(backups), its JSON schema and the JSON values the batch API takes, the Parquet column types it reads as
they are (Parquet strings are parsed like CSV cells), and the vectorised converter from text or Parquet
columns. Adding a type is one record; the modules that need one of these read it here.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import mssql

if TYPE_CHECKING:
    from shared.dictionary import Field

# Key strings on SQL Server compare by code point, case- and accent-sensitive, as the validator, SQLite
# and PostgreSQL do; the database's default collation is case-insensitive ('ABC' = 'abc').
KEY_COLLATION = "Latin1_General_100_BIN2_UTF8"
NVARCHAR_UNITS = 4000  # the largest n of NVARCHAR(n); beyond it only NVARCHAR(MAX)
TEXT = sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")  # NVARCHAR(MAX), never the deprecated NTEXT
INT64 = pa.decimal128(38, 0)
INT64_MIN = pa.scalar(Decimal(-(2**63)), INT64)
INT64_MAX = pa.scalar(Decimal(2**63 - 1), INT64)


def characters(length: int, collation: str | None = None) -> sa.types.TypeEngine:
    """A string of up to `length` characters (code points, as Python and Table Schema count) in every
    backend: NVARCHAR(n) counts UTF-16 units on SQL Server, and one code point may take two."""
    units = 2 * length
    return sa.Unicode(length).with_variant(mssql.NVARCHAR(units if units <= NVARCHAR_UNITS else None, collation=collation), "mssql")


Converted = tuple[pa.Array, np.ndarray, dict[int, str]]  # typed values, cells refused, why (where not the type)

# The range Python's datetime (and so every driver) can hold: years 1 to 9999.
MIN_MICROS = (datetime(1, 1, 1) - datetime(1970, 1, 1)) // timedelta(microseconds=1)
MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999) - datetime(1970, 1, 1)) // timedelta(microseconds=1)
MICROS_PER = {"s": 1_000_000, "ms": 1_000, "us": 1}
OUT_OF_RANGE = "is outside the years 1 to 9999"


def _as_integers(field: Field, column: pa.Array, is_text: bool) -> Converted:
    if not is_text:
        if column.type == pa.uint64():
            too_big = pc.fill_null(pc.greater(column, pa.scalar(2**63 - 1, pa.uint64())), False).to_numpy(zero_copy_only=False)
            values = pc.cast(pc.if_else(pa.array(too_big), None, column), pa.int64())
            return values, too_big, dict.fromkeys(np.flatnonzero(too_big).tolist(), "is larger than a 64-bit integer holds")
        return pc.cast(column, pa.int64()), np.zeros(len(column), dtype=bool), {}
    text = _cells(column)
    # The common case, a clean column, in one cast. Beyond [+-]digits Arrow's cast reads only hexadecimal
    # (0x10 as 16, 0xFFFFFFFFFFFFFFFF as -1): a column with a 0x cell takes the exact path below.
    hexadecimal = pc.any(pc.or_(pc.starts_with(text, "0x"), pc.starts_with(text, "0X"))).as_py()
    if not hexadecimal:
        try:
            return pc.cast(text, pa.int64()), np.zeros(len(column), dtype=bool), {}
        except pa.ArrowInvalid:
            pass
    shaped = pc.fill_null(pc.and_(pc.match_substring_regex(text, r"^[+-]?[0-9]+$"), pc.less_equal(pc.utf8_length(text), 38)), False)
    numbers = pc.cast(pc.if_else(shaped, text, "0"), INT64)
    ok = pc.and_(shaped, pc.and_(pc.greater_equal(numbers, INT64_MIN), pc.less_equal(numbers, INT64_MAX)))
    values = pc.cast(pc.if_else(ok, numbers, None), pa.int64())
    return values, ~ok.to_numpy(zero_copy_only=False), {}


def _as_strings(field: Field, column: pa.Array, is_text: bool) -> Converted:
    values = pc.cast(column, pa.string())
    # PostgreSQL cannot store NUL in text, and SQL Server and SQLite drivers cut strings at it: refused everywhere.
    nul = pc.fill_null(pc.match_substring(values, "\x00"), False).to_numpy(zero_copy_only=False)
    notes = dict.fromkeys(np.flatnonzero(nul).tolist(), "holds a NUL character, which SQL text cannot")
    form = field.option("format", "default")
    if form == "uuid":
        bad = pc.fill_null(pc.invert(_is_uuid(values)), False).to_numpy(zero_copy_only=False) & ~nul
        notes |= dict.fromkeys(np.flatnonzero(bad).tolist(), "is not a UUID")
        nul = nul | bad
    elif form in STRING_FORMATS:
        _, bad, _ = _each_distinct(values, STRING_FORMATS[form])
        bad &= ~nul
        notes |= dict.fromkeys(np.flatnonzero(bad).tolist(), f"is not {FORMAT_WORDS[form]}")
        nul = nul | bad
    return values, nul, notes


TEXT_VALUES = pa.string()


class _Refused(ValueError):
    """A cell refused with its own reason (the message), not only for not being of its type."""


def _each_distinct(text: pa.Array, read: Callable[[str], object], arrow_type: pa.DataType = TEXT_VALUES) -> Converted:
    """Cells whose rule is a library's (isodate, validators, rfc3986, json, strptime, dateutil) read in Python, each
    distinct value once (`read` gives its stored value, of arrow_type, or raises; _Refused names why)."""
    encoded = pc.dictionary_encode(text)
    results, refused, reasons = [], [], {}
    for position, value in enumerate(encoded.dictionary.to_pylist()):
        try:
            results.append(read(value))
        except _Refused as exc:
            results.append(None)
            reasons[position] = str(exc)
        except Exception:  # noqa: BLE001 - the libraries raise their own errors for bad text, as frictionless-py catches them
            results.append(None)
            refused.append(position)
    indices = encoded.indices
    values = pc.take(pa.array(results, arrow_type), indices)
    positions = pc.fill_null(indices, -1).to_numpy(zero_copy_only=False)
    bad = np.isin(positions, np.array(refused + list(reasons), dtype=np.int64))
    notes = {index: reasons[positions[index]] for index in np.flatnonzero(bad).tolist() if positions[index] in reasons}
    return values, bad, notes


def _email(cell: str) -> str:
    import validators  # here: only email fields need it

    if validators.email(cell) is not True:
        raise ValueError(cell)
    return cell


def _uri(cell: str) -> str:
    import rfc3986  # here: only uri fields need it

    rfc3986.validators.Validator().require_presence_of("scheme").validate(rfc3986.uri_reference(cell))
    return cell


def _base64(cell: str) -> str:
    base64.b64decode(cell)  # as frictionless-py: characters outside the alphabet are skipped, the padding must fit
    return cell


STRING_FORMATS = {"email": _email, "uri": _uri, "binary": _base64}
FORMAT_WORDS = {"email": "an email address", "uri": "a URI with a scheme", "binary": "base64"}


def _is_uuid(text: pa.Array) -> pa.Array:
    """Python's UUID(): 32 hex digits once urn:, uuid:, the braces around and every dash are taken away (as
    Frictionless checks a uuid string, through the validators package)."""
    for prefix in ("urn:", "uuid:"):
        text = pc.replace_substring(text, prefix, "")
    digits = pc.replace_substring(pc.utf8_trim(text, "{}"), "-", "")
    return pc.match_substring_regex(digits, r"^[0-9a-fA-F]{32}$")


def _pattern_reader(field: Field) -> Callable[[str], datetime] | None:
    """How frictionless-py reads a date, time or datetime cell in a `format` other than the default: dateutil's
    parser for `any`, Python's strptime with the pattern otherwise. None: the default format."""
    form = field.option("format", "default")
    if form == "default":
        return None
    if form == "any":
        from dateutil import parser  # here: only fields of format any need it

        return parser.parse
    return lambda cell: datetime.strptime(cell, form)


def is_strptime_pattern(form: str) -> bool:
    """A `format` of strptime directives, every one of which Python reads back as it writes it (%Q cannot)."""
    sample = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
    try:
        datetime.strptime(sample.strftime(form), form)
    except ValueError:
        return False
    return "%" in form


def kind_of(field: Field) -> str:
    """What a refused cell of this field is not, in its message: the type's words, or the field's format."""
    form = field.option("format", "default")
    if not TYPES[field.type].patterns or form == "default":
        return TYPES[field.type].kind
    return f"a {field.type} {'dateutil can read' if form == 'any' else f'in the format {form}'}"


def _naive_utc(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _utc_time(value: time) -> time:
    """A time of day with an offset as its time in UTC, on the epoch's day (as the default format's times are)."""
    return value if value.tzinfo is None else _naive_utc(datetime.combine(date(1970, 1, 1), value)).time()


def _as_datetimes(field: Field, column: pa.Array, is_text: bool) -> Converted:
    if not is_text:
        return _arrow_datetimes(column)
    if read := _pattern_reader(field):
        return _in_range(*_each_distinct(_cells(column, trim=False), lambda cell: _naive_utc(read(cell)), pa.timestamp("us")))
    text = _cells(column, trim=False)  # Frictionless reads datetimes and dates as they are written
    lenient = lambda: pc.strptime(text, format="%Y-%m-%dT%H:%M:%SZ", unit="us", error_is_null=True)  # noqa: E731
    # Arrow's cast also reads 2021-07-27T16Z; Frictionless's default format wants the seconds (hh:mm:ss at 11 to 18).
    binary = text.cast(pa.binary())
    seconds = pc.all(pc.and_(pc.greater_equal(pc.binary_length(binary), 19), pc.equal(pc.binary_slice(binary, 16, 17), b":"))).as_py()
    fast = _strict(text, pa.timestamp("us", "UTC"), lenient, DATETIME_SHAPE, try_cast=seconds is not False)
    values, bad = _fill_slow(text, fast, pa.timestamp("us"), parse_datetime_cell)
    return _in_range(values, bad, {})


# Frictionless's year: four digits (it also reads +123 and 1_23, being four characters Python's int() takes).
def _as_years(field: Field, column: pa.Array, is_text: bool) -> Converted:
    if is_text:
        text = _cells(column, trim=False)
        shaped = pc.fill_null(pc.match_substring_regex(text, r"^[0-9]{4}$"), True)
        values = pc.cast(pc.if_else(shaped, text, pa.scalar(None, pa.string())), pa.int16())
        return values, pc.invert(shaped).to_numpy(zero_copy_only=False), {}
    outside = pc.fill_null(pc.or_(pc.less(column, 0), pc.greater(column, 9999)), False)
    values = pc.cast(pc.if_else(outside, pa.scalar(None, column.type), column), pa.int16())
    outside = outside.to_numpy(zero_copy_only=False)
    return values, outside, dict.fromkeys(np.flatnonzero(outside).tolist(), "is outside the years 0 to 9999")


MICROS_PER_DAY = 86_400_000_000
TIME_SHAPE = r"^1970-01-01T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"


def _as_times(field: Field, column: pa.Array, is_text: bool) -> Converted:
    """Times of day as Frictionless's default format reads them (hh:mm:ss, a fraction, a zone), kept in UTC as
    datetimes are: 16:02:08+02:00 is 14:02:08 (and 00:30:00+01:00 is 23:30:00)."""
    if not is_text:
        return _arrow_times(column)
    text = _cells(column, trim=False)
    if read := _pattern_reader(field):
        return _each_distinct(text, lambda cell: _utc_time(read(cell).timetz()), pa.time64("us"))
    binary = text.cast(pa.binary())
    seconds = pc.all(pc.and_(pc.greater_equal(pc.binary_length(binary), 8), pc.equal(pc.binary_slice(binary, 2, 3), b":"))).as_py()
    dated = pc.binary_join_element_wise("1970-01-01T", text, "")  # a time of the epoch's day, read as a datetime
    lenient = lambda: pc.strptime(dated, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)  # noqa: E731
    fast = _strict(dated, pa.timestamp("us"), lenient, TIME_SHAPE, try_cast=seconds is not False)
    stamps, bad = _fill_slow(text, fast, pa.timestamp("us"), parse_time_cell)
    micros = pc.fill_null(stamps.cast(pa.int64()), 0).to_numpy(zero_copy_only=False) % MICROS_PER_DAY
    return pa.array(micros, pa.time64("us"), mask=pc.is_null(stamps).to_numpy(zero_copy_only=False)), bad, {}


def _arrow_times(column: pa.Array) -> Converted:
    """Parquet times as microseconds; a time in nanoseconds with digits below the microsecond refused, as a timestamp's."""
    if column.type.unit != "ns":
        return pc.cast(column, pa.time64("us")), np.zeros(len(column), dtype=bool), {}
    nanos = pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    fine = nanos % 1000 != 0
    values = pa.array(nanos // 1000, pa.time64("us"), mask=pc.is_null(column).to_numpy(zero_copy_only=False) | fine)
    return values, fine, dict.fromkeys(np.flatnonzero(fine).tolist(), "has digits below the microsecond, which rowgate does not keep")


def _cells(column: pa.Array, trim: bool = True) -> pa.Array:
    """Text cells (trimmed, as Frictionless trims numbers), empty ones as nulls (Frictionless's missing value,
    reported as missing elsewhere)."""
    text = pc.utf8_trim_whitespace(column) if trim else column
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _strict(text: pa.Array, arrow_type: pa.DataType, lenient: Callable[[], pa.Array], shape: str, try_cast: bool = True) -> pa.Array:
    """The cells Arrow reads exactly, as naive UTC microseconds; nulls where Python's parser must look.
    Arrow's ISO 8601 cast is strict (no 2021-02-31, no 23:59:60) but all or nothing; its strptime reads
    cell by cell but leniently (2021-02-31 becomes 03-03): its values are kept as they are when the strict
    cast takes them all, else only where the text has the exact shape and the day read is the day written."""
    try:  # the common case, a clean column, in one cast
        if try_cast:
            return pc.cast(pc.cast(text, arrow_type), pa.timestamp("us"))
    except pa.ArrowInvalid:
        pass
    fast = lenient()
    try:
        pc.cast(pc.if_else(pc.is_valid(fast), text, pa.scalar(None, pa.string())), arrow_type)
        return fast
    except pa.ArrowInvalid:
        days = pc.cast(pc.utf8_slice_codeunits(pc.if_else(pc.match_substring_regex(text, shape), text, None), 8, 10), pa.int64())
        return pc.if_else(pc.fill_null(pc.equal(days, pc.day(fast)), False), fast, pa.scalar(None, fast.type))


# The exact shapes the strptime fallbacks read, every field in range but the day, which is compared after parsing.
DATETIME_SHAPE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"
DATE_SHAPE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _arrow_datetimes(column: pa.Array) -> Converted:
    """Parquet timestamps (any unit, any zone: stored as UTC) and dates as naive UTC microseconds. Refused:
    sub-microsecond digits (rowgate keeps microseconds and does not cut data silently) and years out of range."""
    size = len(column)
    nulls = pc.is_null(column).to_numpy(zero_copy_only=False)
    if pa.types.is_date(column.type):
        days = pc.fill_null(pc.cast(column, pa.date32()).cast(pa.int32()), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        counts, unit = days, 86_400_000_000
    else:
        counts, unit = pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), column.type.unit
    bad, notes = np.zeros(size, dtype=bool), {}
    if unit == "ns":
        fine = (counts % 1000 != 0) & ~nulls
        bad |= fine
        notes.update(dict.fromkeys(np.flatnonzero(fine).tolist(), "has digits below the microsecond, which rowgate does not keep"))
        micros = counts // 1000
    else:
        factor = unit if isinstance(unit, int) else MICROS_PER[unit]
        outside = ((counts < MIN_MICROS // factor) | (counts > MAX_MICROS // factor)) & ~nulls
        micros = np.where(outside, 0, counts) * factor
        bad |= outside
        notes.update(dict.fromkeys(np.flatnonzero(outside).tolist(), OUT_OF_RANGE))
    values = pa.array(micros, pa.timestamp("us"), mask=nulls | bad)
    return _in_range(values, bad, notes)


def _in_range(values: pa.Array, bad: np.ndarray, notes: dict[int, str]) -> Converted:
    """Timestamps out of the years 1 to 9999 (year 0 parses in Arrow; no database or driver takes it) refused."""
    micros = pc.fill_null(values.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    outside = ((micros < MIN_MICROS) | (micros > MAX_MICROS)) & pc.is_valid(values).to_numpy(zero_copy_only=False) & ~bad
    if outside.any():
        notes = notes | dict.fromkeys(np.flatnonzero(outside).tolist(), OUT_OF_RANGE)
        values = pc.if_else(pa.array(outside), pa.scalar(None, values.type), values)
    return values, bad | outside, notes


def _as_dates(field: Field, column: pa.Array, is_text: bool) -> Converted:
    if not is_text:
        stamps, bad, notes = _arrow_datetimes(column)
    elif read := _pattern_reader(field):
        return _each_distinct(_cells(column, trim=False), lambda cell: read(cell).date(), pa.date32())
    else:
        text = _cells(column, trim=False)
        lenient = lambda: pc.strptime(text, format="%Y-%m-%d", unit="us", error_is_null=True)  # noqa: E731
        stamps, bad = _fill_slow(text, _strict(text, pa.date32(), lenient, DATE_SHAPE), pa.timestamp("us"), parse_date)
        stamps, bad, notes = _in_range(stamps, bad, {})
    days = pc.cast(stamps, pa.date32(), safe=False)
    return days, bad, notes


def _fill_slow(text: pa.Array, fast: pa.Array, arrow_type: pa.DataType, parse: Callable) -> tuple[pa.Array, np.ndarray]:
    """Parse in Python only the cells the fast path could not, and merge them in as integers."""
    slow = np.flatnonzero(pc.and_(pc.is_null(fast), pc.is_valid(text)).to_numpy(zero_copy_only=False))
    bad = np.zeros(len(text), dtype=bool)
    if not len(slow):
        return fast, bad
    storage = pa.int32() if pa.types.is_date32(arrow_type) else pa.int64()
    values = pc.cast(pc.fill_null(fast, pa.scalar(0, arrow_type)), storage).to_numpy(zero_copy_only=False).copy()
    missing = pc.is_null(fast).to_numpy(zero_copy_only=False).copy()
    for index in slow:
        try:
            parsed = parse(text[index].as_py())
        except (ValueError, OverflowError):  # OverflowError: an offset that moves year 1 or 9999 out of range
            bad[index] = True
            continue
        values[index] = pa.scalar(parsed, arrow_type).cast(storage).as_py()
        missing[index] = False
    return pa.array(values, storage, mask=missing).cast(arrow_type), bad


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 datetime (or date) as naive UTC, the form rowgate stores."""
    if BELOW_MICROSECOND.search(value):  # Python's parser would cut them silently
        raise ValueError(f"{value!r} has digits below the microsecond")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise ValueError(f"{value!r} is outside years 1 to 9999 in UTC") from None
    return parsed


def parse_datetime_cell(value: str) -> datetime:
    """A datetime cell in Frictionless's default format: ISO 8601 with the seconds (then as `parse_datetime`)."""
    if len(value) < 19 or value[16] != ":":
        raise ValueError(f"{value!r} has no seconds")
    return parse_datetime(value)


def parse_time_cell(value: str) -> datetime:
    """A time cell in Frictionless's default format (hh:mm:ss, then a fraction or zone), on the epoch's day in UTC."""
    if len(value) < 8 or value[2] != ":" or value[5] != ":":
        raise ValueError(f"{value!r} is not hh:mm:ss")
    return parse_datetime(f"1970-01-01T{value}")


def parse_date(value: str) -> datetime:
    """A date as Frictionless reads it by default (strptime's %Y-%m-%d: 2021-1-5 too), at midnight."""
    return datetime.strptime(value, "%Y-%m-%d")


BELOW_MICROSECOND = re.compile(r"[.,][0-9]{7,}")


# Frictionless's defaults (frictionless/settings.py); a field's trueValues and falseValues replace them.
TRUE_VALUES = ("true", "True", "TRUE", "1")
FALSE_VALUES = ("false", "False", "FALSE", "0")


def _as_booleans(field: Field, column: pa.Array, is_text: bool) -> Converted:
    if not is_text:
        return pc.cast(column, pa.bool_()), np.zeros(len(column), dtype=bool), {}
    # Cells are compared as they are, untrimmed, as Frictionless compares them; empty ones are missing.
    column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    trues = pc.is_in(column, value_set=pa.array(field.option("trueValues", TRUE_VALUES), pa.string()))
    falses = pc.is_in(column, value_set=pa.array(field.option("falseValues", FALSE_VALUES), pa.string()))
    values = pc.if_else(trues, True, pc.if_else(falses, False, pa.scalar(None, pa.bool_())))
    return values, pc.and_(pc.is_valid(column), pc.is_null(values)).to_numpy(zero_copy_only=False), {}


# Numbers are exact decimals (Frictionless reads them as Python's Decimal): NUMERIC(38, 9) on every backend,
# 29 digits before the point and 9 after. A value with more, NaN or an infinity is refused, never rounded.
DECIMAL = pa.decimal128(38, 9)
PLAIN_DECIMAL = r"^[+-]?([0-9]{1,29}(\.[0-9]{0,9})?|\.[0-9]{1,9})$"
DECIMAL_LIMIT = Decimal(10) ** 29
SCALE = Decimal("1e-9")
CONTEXT = Context(prec=38)  # Python's default of 28 digits would round NUMERIC(38, 9) values
NOT_EXACT = "has more digits than NUMERIC(38, 9) holds (29 before the point, 9 after)"


def _as_numbers(field: Field, column: pa.Array, is_text: bool) -> Converted:
    if not is_text:
        if pa.types.is_floating(column.type):  # NaN and infinities have no SQL NUMERIC
            finite = pc.fill_null(pc.is_finite(column), True)
            column = pc.if_else(finite, column, pa.scalar(None, column.type))
        return _decimals(pc.cast(column, pa.string()), np.zeros(len(column), dtype=bool))
    text = _number_text(field, _cells(column))
    return _decimals(text, np.zeros(len(column), dtype=bool))


def _number_text(field: Field, text: pa.Array) -> pa.Array:
    """A number's text as Frictionless reads it: without the text around it when bareNumber is false, without
    groupChar, with decimalChar as the point (and a cell with a '.' refused when decimalChar is another)."""
    if not field.option("bareNumber", True):
        text = pc.replace_substring_regex(pc.replace_substring_regex(text, r"^[^-0-9]*", ""), r"[^0-9]*$", "")
    if field.option("groupChar"):
        text = pc.replace_substring(text, field.option("groupChar"), "")
    decimal = field.option("decimalChar", ".")
    if decimal != ".":
        text = pc.if_else(pc.match_substring(text, "."), "invalid", pc.replace_substring(text, decimal, "."))
    return text


def _decimals(text: pa.Array, bad: np.ndarray) -> Converted:
    """Plain decimals in one cast; the rest (exponents, NaN, too many digits, junk) by Python's Decimal."""
    plain = pc.fill_null(pc.match_substring_regex(text, PLAIN_DECIMAL), True).to_numpy(zero_copy_only=False)
    values = pc.cast(pc.if_else(pa.array(plain), text, pa.scalar(None, pa.string())), DECIMAL)
    if plain.all():
        return values, bad, {}
    python = values.to_pylist()
    bad, notes = bad.copy(), {}
    for index in np.flatnonzero(~plain).tolist():
        try:
            number = Decimal(text[index].as_py())
        except ArithmeticError:
            bad[index] = True
            continue
        if not number.is_finite() or number.copy_abs() >= DECIMAL_LIMIT or number != number.quantize(SCALE, context=CONTEXT):
            bad[index] = True
            notes[index] = NOT_EXACT if number.is_finite() else "is not a finite number, which SQL NUMERIC cannot hold"
        else:
            python[index] = number
    return pa.array(python, DECIMAL), bad, notes


def _as_yearmonths(field: Field, column: pa.Array, is_text: bool) -> Converted:
    """YYYY-MM as it is; other cells as frictionless-py reads them (year-month, each part by Python's int(): 2021-1),
    kept as YYYY-MM, so that bounds and keys compare as text. Years 0 to 9999, as the year type."""
    fast = pc.fill_null(pc.match_substring_regex(column, r"^[0-9]{4}-(0[1-9]|1[0-2])$"), True)
    if pc.all(fast).as_py() is not False:
        return column, np.zeros(len(column), dtype=bool), {}
    values, bad, notes = _each_distinct(pc.if_else(fast, pa.scalar(None, pa.string()), column), _yearmonth)
    return pc.if_else(fast, column, values), bad, notes


def _yearmonth(cell: str) -> str:
    year, month = (int(part) for part in cell.split("-"))
    if not 1 <= month <= 12:
        raise ValueError(cell)
    if not 0 <= year <= 9999:
        raise _Refused("is outside the years 0 to 9999")
    return f"{year:04}-{month:02}"


def _as_durations(field: Field, column: pa.Array, is_text: bool) -> Converted:
    """ISO 8601 durations as frictionless-py reads them (isodate), kept in isodate's own form (PT60M as PT1H), so
    that equal durations are equal text."""
    import isodate  # here: only duration fields need it

    if not is_text:  # a Parquet duration column: its microseconds, in the same normal form
        return _parquet_durations(column, isodate.duration_isoformat)
    return _each_distinct(column, lambda cell: isodate.duration_isoformat(isodate.parse_duration(cell)))


def _parquet_durations(column: pa.Array, as_text: Callable[[timedelta], str]) -> Converted:
    """Durations of any unit as text; refused: digits below the microsecond (not cut) and lengths past 64 bits of them."""
    unit = column.type.unit
    counts = pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    if unit == "ns":
        bad, why, micros = (counts % 1000 != 0) & valid, "has digits below the microsecond, which rowgate does not keep", counts // 1000
    else:
        factor = MICROS_PER[unit]
        bad, why = (np.abs(counts) > np.iinfo(np.int64).max // factor) & valid, OUT_OF_RANGE
        micros = np.where(bad, 0, counts) * factor
    texts = [as_text(timedelta(microseconds=int(m))) if ok else None for m, ok in zip(micros.tolist(), (valid & ~bad).tolist())]
    return pa.array(texts, pa.string()), bad, dict.fromkeys(np.flatnonzero(bad).tolist(), why)


def _as_json(kind: type) -> Callable[[Field, pa.Array, bool], Converted]:
    """JSON text of an object or an array, kept as it is written (its numbers exactly)."""

    def read(cell: str) -> str:
        if not isinstance(json.loads(cell, parse_constant=_no_constant), kind):
            raise ValueError(cell)
        return cell

    return lambda field, column, is_text: _each_distinct(column, read) if is_text else _parquet_json(column)


def _parquet_json(column: pa.Array) -> Converted:
    """A Parquet struct (an object) or list (an array) column: each value's JSON text; NaN or Infinity refused."""
    texts, bad = [], np.zeros(len(column), dtype=bool)
    for index, value in enumerate(column.to_pylist()):
        try:
            texts.append(None if value is None else json.dumps(value, ensure_ascii=False, allow_nan=False))
        except ValueError:
            texts.append(None)
            bad[index] = True
    return pa.array(texts, pa.string()), bad, dict.fromkeys(np.flatnonzero(bad).tolist(), "holds NaN or Infinity, which JSON has not")


def _is_list(arrow_type: pa.DataType) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)


def _json_only(arrow_type: pa.DataType) -> bool:
    """A Parquet type whose values are JSON's own: integers, floats, booleans, strings, and lists and structs of them."""
    if pa.types.is_struct(arrow_type):
        return all(_json_only(arrow_type.field(i).type) for i in range(arrow_type.num_fields))
    if _is_list(arrow_type):
        return _json_only(arrow_type.value_type)
    return any(
        is_kind(arrow_type)
        for is_kind in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_string, pa.types.is_null)
    )


def _no_constant(name: str):
    raise _Refused(f"holds {name}, which JSON has not (nor an API client that reads it)")


def _as_geopoints(field: Field, column: pa.Array, is_text: bool) -> Converted:
    """A point in the field's format (default "lon, lat", array [lon, lat], object {"lon":, "lat":}), as
    frictionless-py reads it, kept as "lon,lat" in plain decimals whatever the format."""
    form = field.option("format", "default")

    def read(cell: str) -> str:
        if form == "default":
            lon, lat = (part.strip() for part in cell.split(","))
        elif form == "array":
            lon, lat = json.loads(cell, parse_float=Decimal)
        else:
            point = json.loads(cell, parse_float=Decimal)
            if len(point) != 2:
                raise ValueError(cell)
            lon, lat = point["lon"], point["lat"]
        lon, lat = Decimal(lon), Decimal(lat)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(cell)
        return f"{_plain(lon)},{_plain(lat)}"

    return _each_distinct(column, read)


def _plain(number: Decimal) -> str:
    """A decimal's shortest exact text (1.50 as 1.5, 1E+1 as 10), whatever its number of digits."""
    return format(number.normalize(Context(prec=max(len(number.as_tuple().digits), 1))), "f")


def _as_any(field: Field, column: pa.Array, is_text: bool) -> Converted:
    """Any cell, as its text (Parquet values too); NUL refused, as for strings."""
    return _as_strings(field, column if is_text else pc.cast(column, pa.string()), True)


def json_cell(field: Field, value) -> str | None:
    """A JSON value (a batch row's, a bound's) or a typed Parquet cell (a refused row's raw) as the cell a file would
    hold: booleans as the field writes them (its first trueValue or falseValue), numbers with its decimalChar, years
    in four digits, dates and times in its format."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return (field.option("trueValues", TRUE_VALUES) if value else field.option("falseValues", FALSE_VALUES))[0]
    if isinstance(value, dict | list):  # an object, an array or a geopoint: its JSON text
        return json.dumps(value, ensure_ascii=False)
    if field.type == "year" and isinstance(value, int) and value >= 0:  # the API answers year 0001 as 1
        return f"{value:04}"
    if isinstance(value, date | time):  # a typed Parquet cell
        return _temporal_cell(field, value)
    return str(value).replace(".", field.option("decimalChar", "."))


def _temporal_cell(field: Field, value: date | time) -> str:
    """A Parquet date, time or timestamp (in UTC when naive, as rowgate reads them) as the field's format writes it:
    its pattern where that reads back the same value, else ISO 8601 (which such a pattern then refuses, visibly)."""
    if field.type == "datetime" and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    iso, form = value.isoformat(), field.option("format", "default")
    if form in ("default", "any"):
        return iso
    text = value.strftime(form)
    read, bad, _ = TYPES[field.type].convert(field, pa.array([text]), True)
    return text if not bad[0] and read[0] == key_values(field, [iso])[0][0] else iso


def key_values(field: Field, texts: list) -> Converted:
    """Keys as rowgate writes them (a page's next, a rejection's missing_key: ISO 8601, true or True, a point for
    decimals, a year as its integer) read as values of the field's type: in the type's default format, not the field's."""
    plain = replace(field, options={})
    if field.type == "year":
        texts = [json_cell(plain, int(text)) if text is not None and re.fullmatch(r"[0-9]{1,4}", text) else text for text in texts]
    return TYPES[field.type].convert(plain, pa.array(texts, pa.string()), True)


def typed_values(field: Field, values: list) -> pa.Array:
    """JSON values (a constraint's bound, its enum) read as the field reads its cells; ValueError names any it refuses."""
    converted, bad, _ = TYPES[field.type].convert(field, pa.array([json_cell(field, v) for v in values], pa.string()), True)
    refused = [values[i] for i in np.flatnonzero(bad | pc.is_null(converted).to_numpy(zero_copy_only=False))]
    if refused:
        raise ValueError(f"{refused} {'is' if len(refused) == 1 else 'are'} not {kind_of(field)}")
    return converted


def as_json_value(value):
    """Datetimes as ISO 8601 in UTC, dates and times in ISO 8601, decimals as their exact text; everything else as it is."""
    if isinstance(value, Decimal):
        return as_json_number(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds" if value.microsecond else "seconds") + "Z"
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def as_json_number(value: Decimal) -> str:
    """A stored decimal as the shortest text that is exactly it (1.500000000 as 1.5), for JSON and backups."""
    return format(value.normalize(CONTEXT), "f")


class DecimalText(sa.types.TypeDecorator):
    """An exact decimal on SQLite, kept as its text: a NUMERIC column there holds a REAL (15 digits)."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value, dialect):  # the text Arrow's cast writes in bulk inserts: 1.500000000
        return None if value is None else format(Decimal(value).quantize(SCALE, context=CONTEXT), "f")

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value).quantize(SCALE, context=CONTEXT)


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _string_column(field: Field, key: bool) -> sa.types.TypeEngine:
    if not field.max_length:
        return TEXT
    return characters(field.max_length, KEY_COLLATION if key else None)


@dataclass(frozen=True)
class FieldType:
    name: str
    arrow: pa.DataType  # validated values, as chunks and restores hold them
    sql: Callable[[Field, bool], sa.types.TypeEngine]  # (field, is it in a key) -> its column on every backend
    avro: str | dict
    json_schema: dict  # a value in the API (OpenAPI)
    json_values: tuple[type, ...]  # the JSON values the batch API takes (bool never counts as int)
    json_kind: str  # what a JSON value of the wrong type should have been
    parquet: Callable[[pa.DataType], bool]  # Parquet columns taken as typed; string columns are parsed like CSV
    convert: Callable[[Field, pa.Array, bool], Converted]  # (field, column, is it text) -> values, refused cells, why
    kind: str  # what a refused cell is not, in its message
    temporal: bool = False  # backups read it from the driver as text and store Avro's integers
    avro_value: Callable | None = None  # a driver's value as the backup stores it, where it is not the same
    constraints: tuple[str, ...] = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum")  # beside required
    formats: tuple[str, ...] = ("default",)  # the descriptor's format values rowgate reads
    patterns: bool = False  # it reads strptime patterns too (dates, times, datetimes)


TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        FieldType(
            "integer",
            pa.int64(),
            lambda field, key: sa.BigInteger(),
            "long",
            {"type": ["integer", "string"], "format": "int64"},
            (int, str),
            "an integer",
            pa.types.is_integer,
            _as_integers,
            "a 64-bit integer",
        ),
        FieldType(
            "string",
            pa.string(),
            _string_column,
            "string",
            {"type": "string"},
            (str,),
            "a string",
            _is_text,
            _as_strings,
            "a string",
            constraints=("minLength", "maxLength", "pattern", "enum"),
            formats=("default", "uuid", *STRING_FORMATS),
        ),
        FieldType(
            "datetime",
            pa.timestamp("us"),
            lambda field, key: sa.DateTime().with_variant(mssql.DATETIME2(), "mssql"),  # DATETIME keeps only 1/300 s
            {"type": "long", "logicalType": "timestamp-micros"},
            {"type": "string", "format": "date-time"},
            (str,),
            "an ISO 8601 datetime string",
            lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t),
            _as_datetimes,
            "an ISO 8601 datetime",
            temporal=True,
            formats=("default", "any"),
            patterns=True,
        ),
        FieldType(
            "date",
            pa.date32(),
            # SQLAlchemy's SQL Server dialect writes a plain Date or Time as DATETIME when it has not met the server.
            lambda field, key: sa.Date().with_variant(mssql.DATE(), "mssql"),
            {"type": "int", "logicalType": "date"},
            {"type": "string", "format": "date"},
            (str,),
            "an ISO 8601 date string",
            pa.types.is_date,
            _as_dates,
            "an ISO 8601 date",
            temporal=True,
            formats=("default", "any"),
            patterns=True,
        ),
        FieldType(
            "boolean",
            pa.bool_(),
            lambda field, key: sa.Boolean(),  # BIT on SQL Server, 0/1 on SQLite
            "boolean",
            {"type": ["boolean", "string"]},
            (bool, str),
            "a boolean (true or false) or one of its trueValues or falseValues",
            pa.types.is_boolean,
            _as_booleans,
            "a boolean",
            avro_value=lambda value: None if value is None else bool(value),  # SQLite's driver gives 0 and 1
            constraints=("enum",),
        ),
        FieldType(
            "number",
            DECIMAL,
            lambda field, key: sa.Numeric(38, 9, asdecimal=True).with_variant(DecimalText(), "sqlite"),
            "string",  # the exact decimal as text: Avro's decimal logical type would need bytes decoded one by one
            {"type": ["number", "string"]},
            (int, float, str),
            "a number or a string of one",
            lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
            _as_numbers,
            "a number",
            avro_value=lambda value: None if value is None else as_json_number(Decimal(value)),
        ),
        FieldType(
            "year",
            pa.int16(),
            lambda field, key: sa.SmallInteger(),
            "int",
            {"type": ["integer", "string"], "minimum": 0, "maximum": 9999},
            (int, str),
            "a year of four digits",
            pa.types.is_integer,
            _as_years,
            "a year of four digits",
        ),
        FieldType(
            "time",
            pa.time64("us"),
            lambda field, key: sa.Time().with_variant(mssql.TIME(precision=6), "mssql"),  # microseconds, as rowgate keeps
            {"type": "long", "logicalType": "time-micros"},
            {"type": "string", "format": "time"},
            (str,),
            "a time string (hh:mm:ss)",
            pa.types.is_time,
            _as_times,
            "a time (hh:mm:ss)",
            temporal=True,
            formats=("default", "any"),
            patterns=True,
        ),
        FieldType(
            "yearmonth",
            pa.string(),
            lambda field, key: characters(7, KEY_COLLATION if key else None),
            "string",
            {"type": "string", "example": "2021-07"},
            (str,),
            "a year and month string (YYYY-MM)",
            lambda t: False,
            _as_yearmonths,
            "a year and month (YYYY-MM)",
        ),
        FieldType(
            "duration",
            pa.string(),
            lambda field, key: TEXT,
            "string",
            {"type": "string", "example": "P1DT12H"},
            (str,),
            "an ISO 8601 duration string",
            pa.types.is_duration,
            _as_durations,
            "an ISO 8601 duration",
            constraints=("enum",),
        ),
        FieldType(
            "object",
            pa.string(),
            lambda field, key: TEXT,
            "string",
            {"type": ["object", "string"]},
            (dict, str),
            "a JSON object or its text",
            lambda t: pa.types.is_struct(t) and _json_only(t),
            _as_json(dict),
            "a JSON object",
            constraints=("enum",),
        ),
        FieldType(
            "array",
            pa.string(),
            lambda field, key: TEXT,
            "string",
            {"type": ["array", "string"]},
            (list, str),
            "a JSON array or its text",
            lambda t: _is_list(t) and _json_only(t),
            _as_json(list),
            "a JSON array",
            constraints=("enum",),
        ),
        FieldType(
            "geopoint",
            pa.string(),
            lambda field, key: TEXT,
            "string",
            {"type": ["string", "array", "object"], "example": "-3.7, 40.4"},
            (str, list, dict),
            "a point as its format writes it (lon, lat)",
            lambda t: False,
            _as_geopoints,
            "a point (longitude -180 to 180, latitude -90 to 90) in the field's format",
            constraints=("enum",),
            formats=("default", "array", "object"),
        ),
        FieldType(
            "any",
            pa.string(),
            lambda field, key: TEXT,
            "string",
            {"type": ["string", "number", "boolean"]},
            (str, int, float, bool),
            "a string, a number or a boolean",
            lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t),
            _as_any,
            "a value",
            constraints=("enum",),
        ),
    )
}
