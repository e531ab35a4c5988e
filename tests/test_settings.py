"""Settings: one list, read in one place, and the same list in local.settings.json.example."""

from __future__ import annotations

import json

import pytest

from shared.errors import InputRefused
from shared.settings import DESCRIPTIONS, ENVIRONMENT, Settings, from_environment
from tests.conftest import ROOT


def test_defaults_are_the_embedded_backends():
    settings = from_environment({})
    assert settings == Settings()
    assert settings.database_url == "sqlite:///.data/rowgate.db" and settings.storage == ".data/storage"


def test_environment_and_overrides():
    settings = from_environment({"ROWGATE_CHUNK_ROWS": "10", "ROWGATE_STORAGE": "/x"}, storage="/y")
    assert (settings.chunk_rows, settings.storage) == (10, "/y")


@pytest.mark.parametrize("value", ["ten", "0", "-5", "\u0663", "1_0", " 5", "1e3"])
def test_a_bad_number_names_the_setting(value):
    with pytest.raises(InputRefused, match="ROWGATE_CHUNK_ROWS must be"):
        from_environment({"ROWGATE_CHUNK_ROWS": value})


def test_local_settings_example_lists_every_setting_the_code_reads():
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    functions_own = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}
    assert set(values) - functions_own == set(ENVIRONMENT.values()) == set(DESCRIPTIONS)
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"


def test_host_json_names_the_extension_bundle_4():
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0" and host["extensionBundle"]["version"].startswith("[4.")
