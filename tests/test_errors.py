"""One error model: every exception the core raises on purpose is a RowgateError of one kind, mapped to an HTTP
status in functions/http.py and to an exit code in the CLI, each in one place; the tree in shared/errors.py's
docstring names every class."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re

import httpx
import pytest
from click.testing import CliRunner

import shared
from functions.http import STATUSES, error_of
from shared import backup, errors
from shared.cli import exit_code, main
from shared.errors import Busy, Conflict, Damaged, InputRefused, NotFound, RowgateError
from shared.settings import Settings
from shared.storage import StorageError
from tests.api_host import live_host

KINDS = (InputRefused, NotFound, Conflict, Damaged, Busy)


def core_exceptions() -> list[type[BaseException]]:
    """Every public exception class defined in shared/ (private ones are control flow inside a module)."""
    found = []
    for module in pkgutil.iter_modules(shared.__path__):
        loaded = importlib.import_module(f"shared.{module.name}")
        for name, value in vars(loaded).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == loaded.__name__
                and not name.startswith("_")
            ):
                found.append(value)
    return found


def test_every_core_exception_is_of_exactly_one_kind_and_carries_no_http_status():
    classes = core_exceptions()
    assert len(classes) >= 15
    for cls in classes:
        if cls is RowgateError:
            continue
        kinds = [kind for kind in KINDS if issubclass(cls, kind)]
        assert len(kinds) == 1, f"{cls.__qualname__} is of kinds {kinds}"
        assert not hasattr(cls, "status"), f"{cls.__qualname__} carries an HTTP status: map its kind in functions/http.py"
        assert isinstance(cls.code, str) and re.fullmatch(r"[a-z][a-z-]+", cls.code)


def test_the_tree_in_the_docstring_names_every_class_under_its_parent():
    """The tree is read line by line: its indentation must be the classes' inheritance, and it must name them all."""
    parents: list[type] = [RowgateError]
    documented = set()
    for line in errors.__doc__.split("    RowgateError\n", 1)[1].splitlines():
        entry = re.match(r"^    ([│ ]*)[├└]── (?:(\w+)\.)?(\w+)", line)
        if not entry:
            continue
        depth, module, name = len(entry.group(1)) // 4, entry.group(2) or "errors", entry.group(3)
        cls = getattr(importlib.import_module(f"shared.{module}"), name)
        del parents[depth + 1 :]
        assert cls.__bases__[0] is parents[depth], f"{name} is drawn under {parents[depth].__name__}"
        parents.append(cls)
        documented.add(cls)
    assert documented == set(core_exceptions()) - {RowgateError}


@pytest.mark.parametrize(
    ("kind", "status", "exit"), [(InputRefused, 400, 2), (NotFound, 404, 2), (Conflict, 409, 1), (Damaged, 422, 1), (Busy, 409, 2)]
)
def test_each_kind_has_one_status_and_one_exit_code_and_keeps_its_code(kind, status, exit):
    error = kind("what is wrong", code="a-code", hint=1)
    assert error_of(error) == (status, {"code": "a-code", "message": "what is wrong", "hint": 1})
    assert exit_code(error) == exit
    assert error_of(kind("plain"))[1]["code"] == kind.code


def test_every_kind_is_in_the_status_table():
    assert {kind for kind, _ in STATUSES} >= set(KINDS)


def test_a_storage_error_is_answered_404_and_exit_2_not_a_500_or_a_traceback(monkeypatch, tmp_path):
    """StorageError was caught nowhere: a 500 in the API, exit 1 with its class name in the CLI."""

    def gone(*args, **kwargs):
        raise StorageError("backups/jobs/x.avro does not exist in the folder .data/storage")

    monkeypatch.setattr(backup, "list_backups", gone)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'e.db'}", storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings) as (url, _):
        response = httpx.get(f"{url}/api/backups")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not-found")
    env = {"ROWGATE_DATABASE_URL": settings.database_url, "ROWGATE_STORAGE": settings.storage}
    result = CliRunner().invoke(main, ["backups"], env=env)
    assert result.exit_code == 2 and result.stderr.strip() == "Error: backups/jobs/x.avro does not exist in the folder .data/storage"


def test_a_refused_restore_over_http_says_its_status_in_its_output_as_the_api_maps_it(monkeypatch, tmp_path):
    from tests.api_host import finished

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'e.db'}", storage=str(tmp_path / "storage"))
    with live_host(monkeypatch, settings) as (url, _), httpx.Client(base_url=f"{url}/api") as client:
        missing = finished(client, client.post("/tables/departments/restore", json={"backup": "nope"}))["output"]
    assert missing["error"]["status"] == 404 and missing["error"]["code"] == "not-found"
    assert json.dumps(missing)  # plain JSON, as Durable carries it
