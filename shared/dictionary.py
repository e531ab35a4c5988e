"""The data dictionary: a Frictionless Data Package descriptor turned into the models the rest uses."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property
from pathlib import Path, PurePosixPath

from shared.dialect import Dialect, dialect_of
from shared.errors import InputRefused, NotFound

DEFAULT_PATH = Path(__file__).with_name("datapackage.json")


class DictionaryError(InputRefused, ValueError):
    """The descriptor is not one rowgate can use."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    max_length: int | None = None
    description: str = ""
    # The descriptor's own words: type options (trueValues, decimalChar, ...) and constraints, as Table Schema spells them.
    options: dict = dataclass_field(default_factory=dict, compare=False)
    constraints: dict = dataclass_field(default_factory=dict, compare=False)
    missing_values: tuple[str, ...] = ("",)  # the cells that mean "no value": the field's missingValues, else the schema's

    def option(self, name: str, default=None):
        return self.options.get(name, default)


@dataclass(frozen=True)
class ForeignKey:
    fields: tuple[str, ...]
    parent: str
    parent_fields: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...]
    dialect: Dialect
    format: str
    unique_groups: tuple[tuple[str, ...], ...] = ()  # the schema's uniqueKeys

    @cached_property
    def unique_keys(self) -> tuple[tuple[str, ...], ...]:
        """What must be unique beside the primary key: each field with constraints.unique, then each of the schema's
        uniqueKeys (a key with an empty field in it is never equal to another, as in SQL)."""
        fields = tuple((f.name,) for f in self.fields if f.constraints.get("unique"))
        keys = dict.fromkeys(key for key in fields + self.unique_groups if key != self.primary_key)
        return tuple(keys)

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


@dataclass(frozen=True)
class Dictionary:
    name: str
    version: str
    digest: str
    tables: dict[str, Table]

    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            known = ", ".join(sorted(self.tables))
            raise NotFound(f"unknown table {name!r}; the dictionary has: {known}", code="unknown-table") from None

    def dependency_order(self) -> list[Table]:
        """Tables with parents before children (foreign keys), ties in descriptor order."""
        ordered: list[Table] = []
        done: set[str] = set()
        pending = list(self.tables.values())
        while pending:
            ready = [t for t in pending if all(fk.parent in done or fk.parent == t.name for fk in t.foreign_keys)]
            if not ready:
                cycle = ", ".join(t.name for t in pending)
                raise DictionaryError(f"foreign keys form a cycle between: {cycle}")
            for table in ready:
                ordered.append(table)
                done.add(table.name)
                pending.remove(table)
        return ordered

    def table_for_path(self, path: str) -> str | None:
        """The table a file is for: its name (`<table>.csv`), else its folder's (`<table>/<anything>.parquet`)."""
        file = PurePosixPath(path)
        for candidate in (file.stem, file.parent.name):
            if candidate in self.tables:
                return candidate
        return None

    def levels(self) -> dict[str, int]:
        """Each table's depth in the foreign-key graph: 0 for tables with no parent, else 1 + the deepest parent's."""
        depth: dict[str, int] = {}
        for table in self.dependency_order():
            parents = [fk.parent for fk in table.foreign_keys if fk.parent != table.name]
            depth[table.name] = 1 + max(depth[p] for p in parents) if parents else 0
        return depth

    def children_of(self, parent: str) -> list[Table]:
        return [t for t in self.tables.values() if any(fk.parent == parent for fk in t.foreign_keys) and t.name != parent]


def load(path: str | Path | None = None) -> Dictionary:
    """Read a descriptor file (the bundled one by default) and check what rowgate relies on."""
    raw = Path(path or DEFAULT_PATH).read_bytes()
    try:
        descriptor = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DictionaryError(f"{path}: not valid JSON: {exc}") from None
    tables = {}
    for resource in descriptor.get("resources", []):
        table = _table(resource)
        tables[table.name] = table
    if not tables:
        raise DictionaryError("the descriptor declares no resources")
    for table in tables.values():
        _check_references(table, tables)
    dictionary = Dictionary(
        name=descriptor.get("name", "rowgate"),
        version=str(descriptor.get("version", "0")),
        digest=hashlib.sha256(raw).hexdigest(),
        tables=tables,
    )
    dictionary.dependency_order()
    return dictionary


def _table(resource: dict) -> Table:
    from shared.fieldtypes import TYPES  # here, not at the top: the Function App imports this module at start (Arrow)

    name = resource["name"]
    schema = resource.get("schema") or {}
    fields = []
    for spec in schema.get("fields", []):
        if spec.get("type", "string") not in TYPES:
            raise DictionaryError(f"{name}.{spec['name']}: type {spec.get('type')!r} is not one of {tuple(TYPES)}")
        constraints = spec.get("constraints", {})
        fields.append(
            Field(
                name=spec["name"],
                type=spec.get("type", "string"),
                required=bool(constraints.get("required", False)) or spec["name"] in _names(schema.get("primaryKey", [])),
                max_length=constraints.get("maxLength"),
                description=spec.get("description", ""),
                options={k: v for k, v in spec.items() if k not in ("name", "type", "constraints", "description", "title")},
                constraints=constraints,
                missing_values=_missing_values(name, spec.get("missingValues", schema.get("missingValues", [""]))),
            )
        )
    for spec in fields:
        _check_constraints(name, spec)
    if not fields:
        raise DictionaryError(f"table {name!r} declares no fields")
    primary_key = schema.get("primaryKey")
    if not primary_key:
        raise DictionaryError(f"table {name!r} needs a primaryKey: keys are how replays stay idempotent")
    primary_key = (primary_key,) if isinstance(primary_key, str) else tuple(primary_key)
    foreign_keys = tuple(
        ForeignKey(
            fields=_names(fk["fields"]),
            parent=fk["reference"].get("resource") or name,
            parent_fields=_names(fk["reference"]["fields"]),
        )
        for fk in schema.get("foreignKeys", [])
    )
    unique_groups = _unique_keys(name, schema.get("uniqueKeys", []))
    field_names = {f.name for f in fields}
    for key_field in primary_key + tuple(f for key in foreign_keys for f in key.fields) + sum(unique_groups, ()):
        if key_field not in field_names:
            raise DictionaryError(f"table {name!r}: key field {key_field!r} is not one of its fields")
    return Table(
        name=name,
        fields=tuple(fields),
        primary_key=primary_key,
        foreign_keys=foreign_keys,
        dialect=_dialect(resource),
        format=resource.get("format", "csv"),
        unique_groups=unique_groups,
    )


def _unique_keys(table: str, value) -> tuple[tuple[str, ...], ...]:
    """Table Schema 2's uniqueKeys: a list of lists of field names."""
    if not (isinstance(value, list) and all(isinstance(k, list) and k and all(isinstance(n, str) for n in k) for k in value)):
        raise DictionaryError(f"table {table!r}: uniqueKeys must be a list of lists of field names, not {value!r}")
    return tuple(tuple(key) for key in value)


def _missing_values(table: str, values) -> tuple[str, ...]:
    if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
        raise DictionaryError(f"table {table!r}: missingValues must be a list of strings, not {values!r}")
    return tuple(values)


def _check_constraints(table: str, field: Field) -> None:
    """The field's format is one rowgate reads, and every constraint one it checks for the field's type, with a
    bound the field can read: nothing is left unchecked in silence."""
    import pyarrow as pa  # here, not at the top: the Function App imports this module at start
    import pyarrow.compute as pc

    from shared.fieldtypes import TYPES, is_strptime_pattern, typed_values

    kind = TYPES[field.type]
    form = field.option("format", "default")
    if form not in kind.formats and not (kind.patterns and isinstance(form, str) and is_strptime_pattern(form)):
        reads = ", ".join(kind.formats) + (" or a pattern of strptime directives (%d/%m/%Y)" if kind.patterns else "")
        raise DictionaryError(
            f"{table}.{field.name}: format {form!r} is not one rowgate reads for a {field.type} field (it reads {reads}): "
            "its cells would all be judged in another format"
        )
    for name, value in field.constraints.items():
        where = f"{table}.{field.name}: constraint {name}"
        if name in ("required", "unique"):
            if not isinstance(value, bool):
                raise DictionaryError(f"{where} must be true or false, not {value!r}")
            continue
        if name not in kind.constraints:
            raise DictionaryError(f"{where} is not one rowgate checks on a {field.type} field (it checks {', '.join(kind.constraints)})")
        if name in ("minLength", "maxLength") and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise DictionaryError(f"{where} must be a whole number of characters, not {value!r}")
        if name == "pattern":
            try:
                pc.match_substring_regex(pa.array([""]), f"^(?:{value})$")
            except (pa.ArrowInvalid, TypeError) as exc:  # Arrow's regular expressions are RE2's: no lookarounds, no backreferences
                raise DictionaryError(f"{where} {value!r} is not a regular expression rowgate can check: {exc}") from None
        if name == "enum" and not (isinstance(value, list) and value):
            raise DictionaryError(f"{where} must be a non-empty list of values")
        if name in ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            try:
                typed_values(field, value if name == "enum" else [value])
            except ValueError as exc:
                raise DictionaryError(f"{where}: {exc}") from None


def _dialect(resource: dict) -> Dialect:
    try:
        return dialect_of(resource)
    except ValueError as exc:
        raise DictionaryError(f"table {resource['name']!r}: {exc}") from None


def _names(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _check_references(table: Table, tables: dict[str, Table]) -> None:
    for fk in table.foreign_keys:
        parent = tables.get(fk.parent)
        if parent is None:
            raise DictionaryError(f"table {table.name!r} references unknown table {fk.parent!r}")
        if fk.parent_fields != parent.primary_key:
            raise DictionaryError(f"{table.name} -> {fk.parent}: a foreign key must reference the parent's primary key")
