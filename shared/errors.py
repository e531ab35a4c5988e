"""What can be wrong with a row (a value, never an exception) and with a whole input or operation (an exception).

A refused row is a Refusal with its Errors, in the Frictionless vocabulary below. Everything else rowgate
refuses on purpose is a RowgateError of one of five kinds; the HTTP API (functions/http.py `error_of`) and
the CLI (shared/cli.py `exit_code`) map the kind, each in one place, and every class keeps a stable `code`:

    RowgateError
    ├── InputRefused     refused input: an unusable file, argument or value      HTTP 400   exit 2
    │   ├── dictionary.DictionaryError   a descriptor rowgate cannot use
    │   ├── parse.Unreadable             a CSV that cannot be read on from some record
    │   └── BatchRefused                 an atomic batch with a refused row     HTTP 422
    ├── NotFound         what was named does not exist: a table, a rejection      HTTP 404   exit 2
    │   ├── backup.BackupNotFound        a backup, or a complete backup set
    │   └── storage.StorageError         a path not (or no longer) in storage
    │       └── storage.Changed          the file changed, or another run moved it, since it was read
    ├── Conflict         it exists, but its state refuses this now               HTTP 409   exit 1
    │   └── restore.RestoreConflict      a restore that would orphan rows or point at missing parents
    ├── Damaged          stored data that fails its own checks                    HTTP 422   exit 1
    │   └── backup.BackupError           a backup damaged, truncated, of another table or schema
    └── Busy             someone else is at it now: try again later               HTTP 409   exit 2
        ├── load.LoadBusy                another run is loading the same content
        │   └── load.LeaseLost           this run was silent past its lease and lost the load
        └── restore.RestoreBusy          a load into the table runs, or the tables changed meanwhile
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

# The Frictionless error vocabulary, the subset rowgate reports.
BLANK_ROW = "blank-row"
EXTRA_CELL = "extra-cell"
MISSING_CELL = "missing-cell"
TYPE_ERROR = "type-error"
CONSTRAINT_ERROR = "constraint-error"
PRIMARY_KEY = "primary-key"
FOREIGN_KEY = "foreign-key"
ENCODING_ERROR = "encoding-error"
SOURCE_ERROR = "source-error"  # the row could not be read at all: the file is damaged from there on
UNIQUE_ERROR = "unique-error"  # a value of a unique field another row holds
CODES = (
    BLANK_ROW,
    EXTRA_CELL,
    MISSING_CELL,
    TYPE_ERROR,
    CONSTRAINT_ERROR,
    PRIMARY_KEY,
    FOREIGN_KEY,
    UNIQUE_ERROR,
    ENCODING_ERROR,
    SOURCE_ERROR,
)


# Rows refused for their shape: their cells are not the table's fields as they stand (a cell too many or too
# few, a blank row, bytes that are not text, a record that could not be read). Checked again as they are they
# could load wrong (an extra cell dropped, a mangled character kept), so only a fix re-drives them.
SHAPE_CODES = frozenset({BLANK_ROW, EXTRA_CELL, MISSING_CELL, ENCODING_ERROR, SOURCE_ERROR})
EXTRA_CELLS = "(extra cells)"  # the key of a raw row's cells past the table's fields (not a name fields are given)


def cells_by_field(field_names: tuple[str, ...], raw: dict | list) -> dict:
    """A refused row's raw cells as an object keyed by field name: a list of cells (a row refused for its
    shape) named in field order, cells past the last field kept as a list under EXTRA_CELLS."""
    if isinstance(raw, dict):
        return raw
    named = dict(zip(field_names, raw))
    return named | ({EXTRA_CELLS: raw[len(field_names) :]} if len(raw) > len(field_names) else {})


class RowgateError(Exception):
    """The root of the exceptions rowgate raises on purpose (the tree is in this module's docstring)."""

    code = "error"  # stable, for programs: the API's error code

    def __init__(self, message: str, code: str | None = None, **details):
        super().__init__(message)
        if code:
            self.code = code
        self.details = details  # more for the caller, as JSON values: an atomic batch's counts


class InputRefused(RowgateError):
    """An input that cannot be used at all: an unreadable file, a bad argument or value."""

    code = "bad-request"


class BatchRefused(InputRefused):
    """The whole batch was refused (atomic mode) and nothing changed; its details are the batch's result
    (shared/batch.py's BatchResult: defined here so the API maps it without loading the core)."""

    code = "batch-refused"

    def __init__(self, result):
        super().__init__(f"{result.rejected} of {result.received} rows refused; nothing was inserted", **result.as_dict())
        self.result = result


class NotFound(RowgateError):
    """What the caller named does not exist: a table, a rejection id, a backup."""

    code = "not-found"


class Conflict(RowgateError):
    """What the caller named exists, but its state refuses the operation now: a rejection already resolved."""

    code = "conflict"


class Damaged(RowgateError):
    """Stored data that fails its own checks: rowgate will not use it."""

    code = "damaged"


class Busy(RowgateError):
    """Another run is doing the same thing now, or things changed under this one: the same again later can pass."""

    code = "busy"


@dataclass(frozen=True)
class Error:
    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass
class Refusal:
    """A row that was not loaded, with every reason found for it."""

    row_number: int | None
    raw: dict | list
    errors: list[Error] = field(default_factory=list)
    missing_key: str | None = None  # a parent key it waits for (parent_key), when refused for a missing one

    @property
    def retryable(self) -> bool:
        """Refused only for a parent key that may land later."""
        return all(error.code == FOREIGN_KEY for error in self.errors)


_CONTROL = re.compile("[\\x00-\\x1f\\x7f\\u2028\\u2029]")


def printable(text: str) -> str:
    """Outside text (a blob name, a URL) as one log line: control characters escaped, so none can forge a line."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text)


_DECIMAL = re.compile(r"[+-]?[0-9]{1,19}")


def decimal_int(text: str) -> int | None:
    """A number as a person or a program types it in an argument: ASCII digits, an optional sign, at most 19 digits.
    Python's int() also takes other scripts' digits, underscores and spaces ("\u0663", "1_0", " 5"): not here."""
    return int(text) if _DECIMAL.fullmatch(text) else None


PARENT_KEY_LENGTH = 300  # characters: rowgate_rejections.missing_key is indexed (SQL Server: 1,700-byte index keys)


def parent_key(parent: str, fields: tuple[str, ...], values) -> str:
    """How a rejection names the parent key it waits for, and a loaded parent names its keys: the same text
    for the same key whichever side typed it; a hash when too long to index."""
    values = values if isinstance(values, tuple) else (values,)
    plain = [str(value.item() if hasattr(value, "item") else value) for value in values]
    text = json.dumps([parent, list(fields), plain], ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= PARENT_KEY_LENGTH else "#" + hashlib.sha256(text.encode()).hexdigest()
