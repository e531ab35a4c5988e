"""What `azd deploy` ships: the zip of the project root less .funcignore, and the locked dependencies the
remote build installs from requirements.txt."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PACKAGE_TOP = {"function_app.py", "host.json", "requirements.txt", "functions", "shared", "console"}
MAX_PACKAGE_BYTES = 2_000_000  # the code and the dictionary; anything near this means something leaked in
DEV_ONLY = {
    "pytest",
    "ruff",
    "click",
    "tqdm",
    "starlette",
    "uvicorn",
    "croniter",
    "httpx",
    "hypothesis",
    "psycopg",
    "frictionless",
    "playwright",
}


def locked() -> list[Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def applies_here(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate()


def package_files(root: Path) -> list[str]:
    """The files azd zips for a function app: the project folder, less what .funcignore matches (gitignore rules)."""
    pathspec = pytest.importorskip("pathspec", reason="pathspec (requirements-dev.txt) reads .funcignore's gitignore rules")
    spec = pathspec.GitIgnoreSpec.from_lines((root / ".funcignore").read_text().splitlines())
    found = []
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root)
        dirs[:] = sorted(d for d in dirs if not spec.match_file(f"{(relative / d).as_posix()}/"))
        found += [(relative / f).as_posix() for f in sorted(files) if not spec.match_file((relative / f).as_posix())]
    return found


def build_package(root: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name in package_files(root):
            package.write(root / name, name)
    return out


def test_the_package_holds_the_app_and_nothing_else(tmp_path):
    package = build_package(ROOT, tmp_path / "rowgate.zip")
    names = zipfile.ZipFile(package).namelist()
    size = package.stat().st_size
    print(f"deployment package: {len(names)} files, {size:,} bytes zipped")
    assert {name.split("/")[0] for name in names} == PACKAGE_TOP
    assert "shared/datapackage.json" in names and "functions/registry.py" in names
    assert "console/index.html" in names and "console/vendor/chart.umd.min.js" in names, "the web console's page and assets"
    assert not [n for n in names if n.startswith("console/") and n.endswith((".map", ".ts", ".json", ".md"))], "only what the page serves"
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".db", ".sqlite"))]
    assert size < MAX_PACKAGE_BYTES


def test_funcignore_excludes_what_a_working_copy_holds(tmp_path):
    """A working copy full of what must never ship: each is left out, and the app's own files stay in."""
    project = tmp_path / "project"
    for name in [
        ".git/HEAD",
        ".venv/lib/site.py",
        ".venv-worker/bin/python",
        "node_modules/azurite/package.json",
        ".data/rowgate.db",
        ".tools/checkov/bin/checkov",
        "tests/test_x.py",
        "bench/run.py",
        "infra/main.bicep",
        "docs/deploy.md",
        "scripts/setup.sh",
        "build/lib/x.py",
        "rowgate.egg-info/PKG-INFO",
        "shared/__pycache__/db.cpython-313.pyc",
        "local.settings.json",
        "__azurite_db_blob__.json",
        "README.md",
        "test.http",
        "function_app.py",
        "host.json",
        "requirements.txt",
        "functions/api.py",
        "shared/db.py",
        "shared/datapackage.json",
    ]:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    (project / ".funcignore").write_text((ROOT / ".funcignore").read_text())
    assert package_files(project) == [
        "function_app.py",
        "host.json",
        "requirements.txt",
        "functions/api.py",
        "shared/datapackage.json",
        "shared/db.py",
    ]


def test_the_unpacked_package_indexes_with_the_deployed_code_alone(tmp_path):
    """What Azure unpacks imports on its own: no module of the app lives outside the package, and (with
    .venv-worker, Python 3.13 and the lock alone) no dependency lives outside the lock."""
    with zipfile.ZipFile(build_package(ROOT, tmp_path / "rowgate.zip")) as package:
        package.extractall(tmp_path / "wwwroot")
    probe = (
        "import function_app, functions.registry, shared.db, sys, os; "
        "root = os.getcwd(); "
        "assert all(m.__file__.startswith(root) for m in (function_app, functions.registry, shared.db)), 'imported from outside'; "
        "print(len(function_app.app.get_functions()))"
    )
    worker = ROOT / ".venv-worker" / "bin" / "python"
    python = str(worker) if worker.exists() else sys.executable
    run = subprocess.run([python, "-c", probe], cwd=tmp_path / "wwwroot", capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert int(run.stdout.split()[-1]) >= 20


def test_the_lock_pins_every_package_exactly_once():
    requirements = locked()
    assert requirements, "requirements.txt is empty"
    for requirement in requirements:
        [spec] = requirement.specifier
        assert spec.operator == "==" and not spec.version.endswith(".*"), f"{requirement} is not an exact pin"
    seen = [(canonicalize_name(r.name), str(r.marker)) for r in requirements]
    assert len(seen) == len(set(seen))
    assert not {canonicalize_name(r.name) for r in requirements} & DEV_ONLY, "dev-only tools belong in requirements-dev.txt"


def test_pyproject_installs_exactly_the_lock():
    """One list: pyproject.toml's dependencies are read from requirements.txt by the build backend itself."""
    read_configuration = pytest.importorskip("setuptools.config.pyprojecttoml", reason="setuptools reads pyproject.toml").read_configuration
    with warnings.catch_warnings(action="ignore"):  # setuptools calls [tool.setuptools] "beta"
        project = read_configuration(ROOT / "pyproject.toml")["project"]
    assert [str(Requirement(r)) for r in project["dependencies"]] == [str(r) for r in locked()]


def test_the_lock_satisfies_the_direct_dependencies():
    pins = {}
    for requirement in locked():
        pins.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    lines = (ROOT / "requirements.in").read_text().splitlines()
    for direct in (Requirement(line) for line in lines if line.strip() and not line.startswith("#")):
        here = [r for r in pins.get(canonicalize_name(direct.name), []) if applies_here(r)]
        if direct.marker is not None and not direct.marker.evaluate():
            continue
        assert len(here) == 1, f"{direct.name} is not locked for this Python"
        assert direct.specifier.contains(next(iter(here[0].specifier)).version, prereleases=True), f"lock {here[0]} breaks {direct}"


def test_this_environment_runs_exactly_the_lock_and_the_lock_is_complete():
    """Every locked package installed at its pinned version, and everything those need is locked too."""
    here = {canonicalize_name(r.name): next(iter(r.specifier)).version for r in locked() if applies_here(r)}
    environment = default_environment()
    for name, version in here.items():
        assert importlib.metadata.version(name) == version, f"{name} {importlib.metadata.version(name)} installed, {version} locked"
        for raw in importlib.metadata.requires(name) or []:
            needed = Requirement(raw)
            if needed.marker is None or needed.marker.evaluate({**environment, "extra": ""}):
                assert canonicalize_name(needed.name) in here, f"{name} needs {needed.name}, which the lock lacks"
    installed = sum(f.locate().stat().st_size for name in here for f in importlib.metadata.files(name) or [] if f.locate().is_file())
    print(f"deployed dependencies: {len(here)} packages, {installed / 2**20:,.0f} MiB installed")


def test_the_worker_runtime_is_pinned_for_the_python_azure_runs():
    runtime = [r for r in locked() if canonicalize_name(r.name) == "azure-functions-runtime"]
    assert len(runtime) == 1 and str(runtime[0].marker) == 'python_full_version >= "3.13"'
    bicep = (ROOT / "infra" / "modules" / "functionapp.bicep").read_text()
    assert re.search(r"runtime:\s*\{\s*name:\s*'python'\s*,?\s*version:\s*'3\.13'", bicep), "the Function App must run Python 3.13"


def test_the_worker_index_and_the_openapi_document_each_have_their_app():
    """The worker calls function_app.app.get_functions() once; the OpenAPI document then indexes its own app
    (azure-functions refuses a second index of one app), and nothing but the worker imports function_app."""
    probe = (
        "import importlib.util, sys, functions.openapi, functions.registry\n"
        "if importlib.util.find_spec('croniter'): import shared.devhost  # dev only: .venv-worker has the lock alone\n"
        "functions.registry.registered()\n"
        "assert 'function_app' not in sys.modules, 'the registry imported function_app'\n"
        "import function_app\n"
        "worker_index = function_app.app.get_functions()\n"
        "functions.registry.registered.cache_clear(); functions.openapi.operations.cache_clear()\n"
        "print(len(worker_index), len(functions.openapi.operations()))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    indexed, operations = map(int, run.stdout.split())
    assert indexed >= 20 and operations >= 10
