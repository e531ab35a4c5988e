"""How a resource's CSV files are written: its encoding and CSV Dialect (header, delimiter, quoting, comments).

Read from the descriptor per the Data Resource and CSV Dialect specs, with frictionless-py's defaults and
meanings; its keys may stand in `dialect` itself (CSV Dialect 1.0) or in `dialect.csv` (frictionless-py 5).
A value rowgate cannot read as the spec means it is refused when the dictionary loads, saying why.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

# Every line break ends a record whatever lineTerminator says (Python's csv, which frictionless-py reads
# with, and Arrow alike): these are the values that say so truly.
LINE_TERMINATORS = ("\r\n", "\n", "\r")
# frictionless-py's own keys that would change what is read, and that rowgate does not read that way.
UNSUPPORTED = {  # key: (the one value rowgate reads, why)
    "nullSequence": (None, "a missing value is an empty cell (frictionless-py does not read nullSequence either)"),
    "headerRows": ([1], "the header is the first record or none"),
    "commentRows": ([], "comments are told by commentChar"),
    "skipBlankRows": (False, "a blank row is refused as blank-row, never dropped"),
    "caseSensitiveHeader": (True, "header names match fields exactly, case included"),
    "headerCase": (True, "header names match fields exactly, case included"),
}
UTF8 = ("utf-8", "utf-8-sig")  # read as they are: a UTF-8 byte order mark is skipped either way


@dataclass(frozen=True)
class Dialect:
    header: bool | None = None  # None: the descriptor leaves it open, so the first record is looked at
    delimiter: str = ","
    quote_char: str = '"'  # "": no quoting
    double_quote: bool = True
    escape_char: str | None = None
    skip_initial_space: bool = False
    comment_char: str | None = None  # a record whose first cell starts with it is a comment: skipped, still numbered
    line_terminator: str = "\r\n"
    encoding: str = "utf-8"  # the resource's: how its bytes are text (a Python codec name)

    @property
    def doubled_quotes(self) -> bool:
        """Whether a quote in a quoted cell is written twice; frictionless-py keeps it on without an escapeChar."""
        return self.double_quote or self.escape_char is None

    def python_csv(self) -> dict:
        """Python's csv.reader options for this dialect, as frictionless-py sets them."""
        options = {"delimiter": self.delimiter, "doublequote": self.doubled_quotes, "skipinitialspace": self.skip_initial_space}
        options |= {"quotechar": self.quote_char} if self.quote_char else {"quoting": 3}  # csv.QUOTE_NONE
        return options | ({"escapechar": self.escape_char} if self.escape_char else {})


def dialect_of(resource: dict) -> Dialect:
    """The resource's dialect and encoding; ValueError saying why for a value rowgate cannot support."""
    spec = resource.get("dialect") or {}
    if not isinstance(spec, dict):
        raise ValueError(f"dialect must be an object, not {spec!r}")
    nested = spec.get("csv") or {}
    if not isinstance(nested, dict):
        raise ValueError(f"dialect.csv must be an object, not {nested!r}")
    spec = {key: value for key, value in spec.items() if key != "csv"} | nested
    for key, (value, why) in UNSUPPORTED.items():
        if spec.get(key, value) != value:
            raise ValueError(f"dialect.{key} {spec[key]!r} is not supported: {why}")
    dialect = Dialect(
        header=_typed(spec, "header", bool, None),
        delimiter=_character(spec, "delimiter", ","),
        quote_char=_character(spec, "quoteChar", '"', empty=True),
        double_quote=_typed(spec, "doubleQuote", bool, True),
        escape_char=_character(spec, "escapeChar", None),
        skip_initial_space=_typed(spec, "skipInitialSpace", bool, False),
        comment_char=_comment(spec),
        line_terminator=_line_terminator(spec),
        encoding=_encoding(resource),
    )
    chars = [c for c in (dialect.delimiter, dialect.quote_char, dialect.escape_char) if c]
    if len(set(chars)) < len(chars):
        raise ValueError(f"dialect: delimiter, quoteChar and escapeChar must differ, not {chars}")
    return dialect


def _typed(spec: dict, key: str, kind: type, default):
    value = spec.get(key, default)
    if value is not default and not isinstance(value, kind):
        raise ValueError(f"dialect.{key} must be true or false, not {value!r}")
    return value


def _character(spec: dict, key: str, default: str | None, empty: bool = False) -> str | None:
    value = spec.get(key, default)
    if value is None or (empty and value == ""):
        return value
    # Arrow's CSV reader splits on one byte, and the file is read as UTF-8 once transcoded: one ASCII character.
    if not isinstance(value, str) or len(value) != 1 or not value.isascii() or value in "\r\n":
        raise ValueError(f"dialect.{key} must be one ASCII character other than a line break, not {value!r}")
    return value


def _comment(spec: dict) -> str | None:
    value = spec.get("commentChar")
    if value is not None and (not isinstance(value, str) or not value or "\n" in value or "\r" in value):
        raise ValueError(f"dialect.commentChar must be a non-empty string on one line, not {value!r}")
    return value


def _line_terminator(spec: dict) -> str:
    value = spec.get("lineTerminator", "\r\n")
    if value not in LINE_TERMINATORS:
        raise ValueError(f"dialect.lineTerminator {value!r} is not supported: records end at a line break (\\r\\n, \\n or \\r)")
    return value


def _encoding(resource: dict) -> str:
    name = resource.get("encoding", "utf-8")
    try:
        "".encode(name)  # LookupError for a name Python does not know, or a codec that is not a text encoding
    except (LookupError, TypeError):
        raise ValueError(
            f"encoding {name!r} is not a text encoding Python knows (utf-8, utf-8-sig, latin-1, cp1252, utf-16, ...)"
        ) from None
    return codecs.lookup(name).name
