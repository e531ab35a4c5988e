"""Shared fixtures: a rowgate on SQLite or PostgreSQL, a local or Azurite storage, the challenge's real files.

PostgreSQL and Azurite tests skip with the reason when the service cannot run here; with
ROWGATE_REQUIRE_SERVICES=1 (CI) they fail instead, so CI never passes without them.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.context import open_rowgate
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CHALLENGE = ROOT.parent / "shared" / "data" / "globant-challenge"
POSTGRES_URL = os.environ.get("ROWGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def registered_functions() -> dict:
    """function_app's functions by name, as the worker indexes them."""
    from functions.registry import registered

    return {f.get_function_name(): f for f in registered()}


def unavailable(reason: str):
    if os.environ.get("ROWGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture
def challenge() -> Path:
    if not CHALLENGE.is_dir():
        unavailable(f"the challenge files are not at {CHALLENGE}")
    return CHALLENGE


@pytest.fixture(scope="session")
def postgres_server() -> str:
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # any driver error means: no server to test against
        unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}")
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str):
    """A URL whose search_path is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    yield f"{postgres_server}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """An Azurite blob service on a free port, with an account whose key is made up for this run."""
    binary = ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not shutil.which("node"):
        unavailable("Node.js is not installed, so Azurite cannot run")
    if not binary.exists():
        unavailable("Azurite is not installed: run `npm ci` (the test command does)")
    port = _free_port()
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    env = {**os.environ, "AZURITE_ACCOUNTS": f"rowgatetest:{key}"}
    folder = tmp_path_factory.mktemp("azurite")
    process = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(folder),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        unavailable("Azurite did not start within 30 s")
    yield (f"DefaultEndpointsProtocol=http;AccountName=rowgatetest;AccountKey={key};BlobEndpoint=http://127.0.0.1:{port}/rowgatetest;")
    process.kill()
    process.wait(timeout=10)


@pytest.fixture
def azurite_storage(azurite):
    """Azurite with containers emptied after the test."""
    yield azurite
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite)
    for container in service.list_containers():
        service.delete_container(container.name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rowgate.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_rowgate(tmp_path):
    def make(database_url: str | None = None, storage: str | None = None, **settings):
        return open_rowgate(
            Settings(
                database_url=database_url or f"sqlite:///{tmp_path / 'rowgate.db'}",
                storage=storage or str(tmp_path / "storage"),
                **settings,
            )
        )

    return make


@pytest.fixture
def rowgate(make_rowgate, database_url):
    """A fresh rowgate on each SQL backend, with local storage."""
    instance = make_rowgate(database_url)
    yield instance
    instance.engine.dispose()
